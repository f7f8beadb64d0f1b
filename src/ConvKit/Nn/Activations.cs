using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Nn;

public static partial class Autograd
{
    /// <summary>F.relu on the tape (forward and backward are <see cref="Functional.Relu{T}"/> / <see cref="Functional.ReluBackward{T}"/>).</summary>
    public static Variable<T> Relu<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Functional.Relu(x.Data);
        return new Variable<T>(y, [x], g => x.Accumulate(Functional.ReluBackward(g, y)));
    }

    /// <summary>F.leaky_relu on the tape.</summary>
    public static Variable<T> LeakyRelu<T>(Variable<T> x, double negativeSlope = 0.01) where T : unmanaged, IFloatingPointIeee754<T>
        => new(Functional.LeakyRelu(x.Data, negativeSlope), [x], g => x.Accumulate(Functional.LeakyReluBackward(g, x.Data, negativeSlope)));

    /// <summary>F.relu6 on the tape.</summary>
    public static Variable<T> Relu6<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => new(Functional.Relu6(x.Data), [x], g => x.Accumulate(Functional.Relu6Backward(g, x.Data)));

    /// <summary>torch.sigmoid on the tape.</summary>
    public static Variable<T> Sigmoid<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Functional.Sigmoid(x.Data);
        return new Variable<T>(y, [x], g => x.Accumulate(Functional.SigmoidBackward(g, y)));
    }

    /// <summary>torch.tanh on the tape.</summary>
    public static Variable<T> Tanh<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Functional.Tanh(x.Data);
        return new Variable<T>(y, [x], g => x.Accumulate(Functional.TanhBackward(g, y)));
    }

    /// <summary>F.silu on the tape.</summary>
    public static Variable<T> Silu<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => new(Functional.Silu(x.Data), [x], g => x.Accumulate(Functional.SiluBackward(g, x.Data)));

    /// <summary>F.gelu on the tape.</summary>
    public static Variable<T> Gelu<T>(Variable<T> x, string approximate = "none") where T : unmanaged, IFloatingPointIeee754<T>
        => new(Functional.Gelu(x.Data, approximate), [x], g => x.Accumulate(Functional.GeluBackward(g, x.Data, approximate)));

    /// <summary>
    /// torchvision.ops.deform_conv2d on the tape; gradients for input, offset, weight, bias and mask come from
    /// <see cref="Functional.DeformConv2dBackward{T}"/>.
    /// </summary>
    public static Variable<T> DeformConv2d<T>(Variable<T> input, Variable<T> offset, Variable<T> weight, Variable<T>? bias = null,
        Dims stride = default, Dims padding = default, Dims dilation = default, Variable<T>? mask = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Functional.DeformConv2d(input.Data, offset.Data, weight.Data, bias?.Data, stride, padding, dilation, mask?.Data);
        var parents = new List<Variable<T>> { input, offset, weight };
        if (bias is not null) parents.Add(bias);
        if (mask is not null) parents.Add(mask);
        return new Variable<T>(y, [.. parents], g =>
        {
            var gr = Functional.DeformConv2dBackward(g, input.Data, offset.Data, weight.Data, bias?.Data, stride, padding, dilation, mask?.Data);
            input.Accumulate(gr.Input);
            offset.Accumulate(gr.Offset);
            weight.Accumulate(gr.Weight);
            if (bias is not null && gr.Bias is not null) bias.Accumulate(gr.Bias);
            if (mask is not null && gr.Mask is not null) mask.Accumulate(gr.Mask);
        });
    }
}

/// <summary>torch.nn.ReLU.</summary>
public sealed class ReLU<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Relu(input);
}

/// <summary>torch.nn.LeakyReLU.</summary>
public sealed class LeakyReLU<T>(double negativeSlope = 0.01) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.LeakyRelu(input, negativeSlope);
}

/// <summary>torch.nn.ReLU6.</summary>
public sealed class ReLU6<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Relu6(input);
}

/// <summary>torch.nn.Sigmoid.</summary>
public sealed class Sigmoid<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Sigmoid(input);
}

/// <summary>torch.nn.Tanh.</summary>
public sealed class Tanh<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Tanh(input);
}

/// <summary>torch.nn.SiLU.</summary>
public sealed class SiLU<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Silu(input);
}

/// <summary>torch.nn.GELU.</summary>
public sealed class GELU<T>(string approximate = "none") : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Gelu(input, approximate);
}

/// <summary>
/// Deformable convolution layer (torchvision.ops.DeformConv2d parameters <c>weight</c>, <c>bias</c>), with its own
/// offset predictor <c>offset_conv</c> (a same-geometry convolution initialized to zero, so training starts as a
/// plain convolution) for use inside <see cref="Sequential{T}"/>.
/// </summary>
public sealed class DeformConv2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dims _stride, _padding, _dilation;

    /// <summary>Filters [C_out, C_in/groups, kH, kW].</summary>
    public Variable<T> Weight { get; }
    /// <summary>Bias [C_out] or null.</summary>
    public Variable<T>? Bias { get; }
    /// <summary>Predicts the offsets [N, 2·kH·kW, H_out, W_out] from the input.</summary>
    public Conv2d<T> OffsetConv { get; }

    /// <summary>Creates the layer with PyTorch's default initialization (offset predictor zeroed).</summary>
    public DeformConv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true,
        SeededRandom? rng = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups: {groups} must divide inChannels {inChannels} and outChannels {outChannels} (all positive).", nameof(groups));
        _stride = stride; _padding = padding; _dilation = dilation;
        var w = new Tensor<T>(outChannels, inChannels / groups, kernelSize, kernelSize);
        var b = bias ? new Tensor<T>(outChannels) : null;
        Init.DefaultLayer(w, b, rng);
        Weight = RegisterParameter("weight", w);
        if (b is not null) Bias = RegisterParameter("bias", b);
        OffsetConv = RegisterModule("offset_conv", new Conv2d<T>(inChannels, 2 * kernelSize * kernelSize, kernelSize, stride, padding, dilation, rng: rng));
        foreach (var p in OffsetConv.Parameters()) p.Data.AsSpan().Clear();
    }

    /// <summary>Deformable convolution with explicit offsets (and optional v2 mask), like torchvision's forward(input, offset, mask).</summary>
    public Variable<T> Forward(Variable<T> input, Variable<T> offset, Variable<T>? mask = null)
        => Autograd.DeformConv2d(input, offset, Weight, Bias, _stride, _padding, _dilation, mask);

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Forward(input, OffsetConv.Forward(input));
}
