using System.Numerics;
using ConvKit.Ops;
using ConvKit.Tensors;

namespace ConvKit;

public static partial class Functional
{
    // ---------------------------------------------------------------- activations (torch.nn.functional names)
    // Backward functions take the upstream gradient first, then the tensor the derivative is cheapest from:
    // the forward output for relu, sigmoid and tanh, the forward input for the others. Registered operators:
    // relu, leaky_relu, relu6, hardtanh, sigmoid, tanh, gelu, silu and grad.<name> for their gradients.

    /// <summary>max(x, 0) element-wise (NaN stays NaN), like <c>F.relu</c>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="inplace">Overwrite <paramref name="input"/> and return it.</param>
    public static Tensor<T> Relu<T>(Tensor<T> input, bool inplace = false) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.Relu(input, inplace);

    /// <summary>x for x &gt; 0, else negativeSlope·x, like <c>F.leaky_relu</c>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="negativeSlope">Slope for negative inputs.</param>
    /// <param name="inplace">Overwrite <paramref name="input"/> and return it.</param>
    public static Tensor<T> LeakyRelu<T>(Tensor<T> input, double negativeSlope = 0.01, bool inplace = false) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.LeakyRelu(input, negativeSlope, inplace);

    /// <summary>min(max(x, 0), 6), like <c>F.relu6</c> (= hardtanh(x, 0, 6)).</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="inplace">Overwrite <paramref name="input"/> and return it.</param>
    public static Tensor<T> Relu6<T>(Tensor<T> input, bool inplace = false) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.Hardtanh(input, 0, 6, inplace);

    /// <summary>Clamps to [minVal, maxVal] (NaN stays NaN), like <c>F.hardtanh</c>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="minVal">Lower bound.</param>
    /// <param name="maxVal">Upper bound (at least <paramref name="minVal"/>).</param>
    /// <param name="inplace">Overwrite <paramref name="input"/> and return it.</param>
    public static Tensor<T> Hardtanh<T>(Tensor<T> input, double minVal = -1, double maxVal = 1, bool inplace = false) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.Hardtanh(input, minVal, maxVal, inplace);

    /// <summary>1 / (1 + exp(-x)), like <c>torch.sigmoid</c>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="inplace">Overwrite <paramref name="input"/> and return it.</param>
    public static Tensor<T> Sigmoid<T>(Tensor<T> input, bool inplace = false) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.Sigmoid(input, inplace);

    /// <summary>Hyperbolic tangent, like <c>torch.tanh</c>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="inplace">Overwrite <paramref name="input"/> and return it.</param>
    public static Tensor<T> Tanh<T>(Tensor<T> input, bool inplace = false) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.Tanh(input, inplace);

    /// <summary>x·sigmoid(x) (swish), like <c>F.silu</c>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="inplace">Overwrite <paramref name="input"/> and return it.</param>
    public static Tensor<T> Silu<T>(Tensor<T> input, bool inplace = false) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.Silu(input, inplace);

    /// <summary>Gaussian error linear unit, like <c>F.gelu</c>: x·Φ(x) = 0.5·x·(1 + erf(x/√2)) with
    /// <paramref name="approximate"/> "none", or 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) with "tanh".</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="approximate">"none" (exact) or "tanh".</param>
    public static Tensor<T> Gelu<T>(Tensor<T> input, string approximate = "none") where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.Gelu(input, approximate);

    /// <summary>Gradient of <see cref="Relu{T}"/>: gradOutput where output &gt; 0, else 0 (op <c>grad.relu</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="output">The forward result (or the input: the mask is the same).</param>
    public static Tensor<T> ReluBackward<T>(Tensor<T> gradOutput, Tensor<T> output) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.ReluBackward(gradOutput, output);

    /// <summary>Gradient of <see cref="LeakyRelu{T}"/>: gradOutput where input &gt; 0, else negativeSlope·gradOutput (op <c>grad.leaky_relu</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="input">The forward input.</param>
    /// <param name="negativeSlope">The slope used in the forward.</param>
    public static Tensor<T> LeakyReluBackward<T>(Tensor<T> gradOutput, Tensor<T> input, double negativeSlope = 0.01) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.LeakyReluBackward(gradOutput, input, negativeSlope);

    /// <summary>Gradient of <see cref="Relu6{T}"/>: gradOutput where 0 &lt; input &lt; 6, else 0 (op <c>grad.relu6</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="input">The forward input.</param>
    public static Tensor<T> Relu6Backward<T>(Tensor<T> gradOutput, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.HardtanhBackward(gradOutput, input, 0, 6);

    /// <summary>Gradient of <see cref="Hardtanh{T}"/>: gradOutput where minVal &lt; input &lt; maxVal, else 0 (op <c>grad.hardtanh</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="input">The forward input.</param>
    /// <param name="minVal">Lower bound used in the forward.</param>
    /// <param name="maxVal">Upper bound used in the forward.</param>
    public static Tensor<T> HardtanhBackward<T>(Tensor<T> gradOutput, Tensor<T> input, double minVal = -1, double maxVal = 1) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.HardtanhBackward(gradOutput, input, minVal, maxVal);

    /// <summary>Gradient of <see cref="Sigmoid{T}"/>: gradOutput·y·(1 − y) (op <c>grad.sigmoid</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="output">The forward result y.</param>
    public static Tensor<T> SigmoidBackward<T>(Tensor<T> gradOutput, Tensor<T> output) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.SigmoidBackward(gradOutput, output);

    /// <summary>Gradient of <see cref="Tanh{T}"/>: gradOutput·(1 − y²) (op <c>grad.tanh</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="output">The forward result y.</param>
    public static Tensor<T> TanhBackward<T>(Tensor<T> gradOutput, Tensor<T> output) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.TanhBackward(gradOutput, output);

    /// <summary>Gradient of <see cref="Silu{T}"/>: gradOutput·s·(1 + x·(1 − s)), s = sigmoid(x) (op <c>grad.silu</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="input">The forward input x.</param>
    public static Tensor<T> SiluBackward<T>(Tensor<T> gradOutput, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.SiluBackward(gradOutput, input);

    /// <summary>Gradient of <see cref="Gelu{T}"/> for the same <paramref name="approximate"/> mode (op <c>grad.gelu</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the output.</param>
    /// <param name="input">The forward input.</param>
    /// <param name="approximate">"none" or "tanh", as in the forward.</param>
    public static Tensor<T> GeluBackward<T>(Tensor<T> gradOutput, Tensor<T> input, string approximate = "none") where T : unmanaged, IFloatingPointIeee754<T>
        => Activations.GeluBackward(gradOutput, input, approximate);
}
