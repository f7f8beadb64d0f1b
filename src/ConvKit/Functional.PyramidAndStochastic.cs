using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Ops;
using ConvKit.Tensors;

namespace ConvKit;

public static partial class Functional
{
    // ---------------------------------------------------------------- stochastic pooling

    /// <summary>
    /// Stochastic pooling (Zeiler and Fergus, 2013) of non-negative activations. Training: each window outputs one of
    /// its values a_i picked with probability a_i / Σa (a window of zeros outputs 0); inference: Σa_i² / Σa_i.
    /// </summary>
    /// <param name="input">Non-negative input [N, C, H, W] (or [C, H, W]).</param>
    /// <param name="kernelSize">Window size (int or (kH, kW)).</param>
    /// <param name="stride">Stride; defaults to the kernel size.</param>
    /// <param name="padding">Zero padding (at most half the kernel); padded positions are never picked.</param>
    /// <param name="training">True samples; false returns the probability-weighted average.</param>
    /// <param name="generator">Source of the draws in training mode (one per output, in output order); null uses seed 0.</param>
    /// <exception cref="ArgumentException">An input element is negative or NaN (paramName "input").</exception>
    public static Tensor<T> StochasticPool2d<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default,
        bool training = true, SeededRandom? generator = null) where T : unmanaged, IFloatingPointIeee754<T>
        => StochasticPool2dWithIndices(input, kernelSize, stride, padding, training, generator).Output;

    /// <summary>
    /// <see cref="StochasticPool2d{T}"/> that also returns, per output, the flat index h·W + w of the sampled position
    /// within its plane (-1 for an all-zero window, and -1 everywhere in inference mode), as for max_pool2d's indices.
    /// </summary>
    /// <inheritdoc cref="StochasticPool2d{T}"/>
    public static (Tensor<T> Output, Tensor<T> Indices) StochasticPool2dWithIndices<T>(Tensor<T> input, Dims kernelSize, Dims stride = default,
        Dims padding = default, bool training = true, SeededRandom? generator = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        bool unbatched = input.Rank == 3;
        var x = unbatched ? input.Reshape([1, .. input.Shape]) : input;
        var g = StochasticPoolGeometry.Create(x.Shape, kernelSize, stride, padding);
        StochasticPooling.CheckNonNegative<T>(x.AsSpan(), x.Shape, nameof(input));
        var y = new Tensor<T>(g.OutputShape);
        var idx = new int[y.Length];
        if (training) StochasticPooling.ForwardTraining(g, x.AsSpan(), y.AsSpan(), idx, generator ?? new SeededRandom(0));
        else { StochasticPooling.ForwardInference<T>(g, x.AsSpan(), y.AsSpan()); Array.Fill(idx, -1); }
        var it = new Tensor<T>(g.OutputShape);
        var its = it.AsSpan();
        for (int i = 0; i < idx.Length; i++) its[i] = T.CreateTruncating(idx[i]);
        return unbatched ? (y.Reshape(g.OutputShape[1..]), it.Reshape(g.OutputShape[1..])) : (y, it);
    }

    /// <summary>Gradient of training-mode stochastic pooling: each output's gradient goes to its sampled position only.</summary>
    /// <param name="gradOutput">∂L/∂output, shaped like the pooled output.</param>
    /// <param name="indices">Indices from <see cref="StochasticPool2dWithIndices{T}"/> (-1 = no position).</param>
    /// <param name="inputSize">Shape of the forward input.</param>
    public static Tensor<T> StochasticPool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> indices, int[] inputSize)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(inputSize);
        if (inputSize.Length is < 3 or > 4)
            throw new ArgumentException($"inputSize: expected [N, C, H, W] or [C, H, W], got {ShapeMath.Format(inputSize)}.", nameof(inputSize));
        int lead = inputSize.Length - 2;
        if (gradOutput.Rank != inputSize.Length || !gradOutput.Shape[..lead].SequenceEqual(inputSize.AsSpan(0, lead)))
            throw new ArgumentException($"gradOutput: {ShapeMath.Format(gradOutput.Shape)} does not match input size {ShapeMath.Format(inputSize)}.", nameof(gradOutput));
        if (!indices.SameShape(gradOutput))
            throw new ArgumentException($"indices: expected {ShapeMath.Format(gradOutput.Shape)}, got {ShapeMath.Format(indices.Shape)}.", nameof(indices));
        int hw = ShapeMath.Numel(inputSize.AsSpan(lead), nameof(inputSize));
        var gx = new Tensor<T>(inputSize);
        var idx = new int[indices.Length];
        var src = indices.AsSpan();
        for (int i = 0; i < idx.Length; i++)
        {
            double v = double.CreateTruncating(src[i]);
            if (!(v >= -1 && v < hw) || v != Math.Floor(v))
                throw new ArgumentException($"indices: entry {i} is {v}, not -1 or a position in a plane of {hw} elements.", nameof(indices));
            idx[i] = (int)v;
        }
        int planes = inputSize.Length == 4 ? inputSize[0] * inputSize[1] : inputSize[0];
        var g = new StochasticPoolGeometry(1, planes, 1, hw, 1, 1, 1, 1, 0, 0, 1, gradOutput.Length / Math.Max(1, planes));
        StochasticPooling.BackwardTraining<T>(g, gradOutput.AsSpan(), idx, gx.AsSpan());
        return gx;
    }

    /// <summary>Gradient of inference-mode stochastic pooling, Σa²/Σa: (2·a_j·Σa - Σa²)/(Σa)² per window.</summary>
    /// <param name="gradOutput">∂L/∂output.</param>
    /// <param name="input">Input of the forward pass.</param>
    /// <param name="kernelSize">As in the forward pass.</param>
    /// <param name="stride">As in the forward pass.</param>
    /// <param name="padding">As in the forward pass.</param>
    public static Tensor<T> StochasticPool2dInferenceBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Dims kernelSize, Dims stride = default,
        Dims padding = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(gradOutput);
        bool unbatched = input.Rank == 3;
        var x = unbatched ? input.Reshape([1, .. input.Shape]) : input;
        var g = StochasticPoolGeometry.Create(x.Shape, kernelSize, stride, padding);
        StochasticPooling.CheckNonNegative<T>(x.AsSpan(), x.Shape, nameof(input));
        if (gradOutput.Length != ShapeMath.Numel(g.OutputShape, nameof(gradOutput)) || gradOutput.Rank != input.Rank)
            throw new ArgumentException($"gradOutput: expected {ShapeMath.Format(unbatched ? g.OutputShape[1..] : g.OutputShape)}, got {ShapeMath.Format(gradOutput.Shape)}.", nameof(gradOutput));
        var gx = new Tensor<T>(input.ShapeArray());
        StochasticPooling.BackwardInference<T>(g, x.AsSpan(), gradOutput.AsSpan(), gx.AsSpan());
        return gx;
    }

    // ---------------------------------------------------------------- spatial pyramid pooling

    /// <summary>
    /// Spatial pyramid pooling: for each level l, l×l adaptive bins (bin i spans [floor(i·In/l), ceil((i+1)·In/l)))
    /// max- or average-pooled, flattened and concatenated level by level into [N, C·Σl²], whatever H and W are.
    /// </summary>
    /// <param name="input">Input [N, C, H, W].</param>
    /// <param name="levels">Bins per side of each level, e.g. [1, 2, 4].</param>
    /// <param name="mode">Max or average pooling in every bin.</param>
    public static Tensor<T> SpatialPyramidPool2d<T>(Tensor<T> input, int[] levels, PyramidPoolMode mode = PyramidPoolMode.Max)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(levels);
        int f = SpatialPyramidPooling.OutputFeatures(input.Shape, levels);
        var y = new Tensor<T>(input.Size(0), f);
        SpatialPyramidPooling.Forward<T>(input.Shape, levels, mode, input.AsSpan(), y.AsSpan());
        return y;
    }

    /// <summary>Gradient of <see cref="SpatialPyramidPool2d{T}"/> with respect to its input.</summary>
    /// <param name="gradOutput">∂L/∂output [N, C·Σl²].</param>
    /// <param name="input">Input of the forward pass.</param>
    /// <param name="levels">As in the forward pass.</param>
    /// <param name="mode">As in the forward pass.</param>
    public static Tensor<T> SpatialPyramidPool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] levels, PyramidPoolMode mode = PyramidPoolMode.Max)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(levels);
        ArgumentNullException.ThrowIfNull(gradOutput);
        int f = SpatialPyramidPooling.OutputFeatures(input.Shape, levels);
        if (gradOutput.Rank != 2 || gradOutput.Size(0) != input.Size(0) || gradOutput.Size(1) != f)
            throw new ArgumentException($"gradOutput: expected [{input.Size(0)}, {f}], got {ShapeMath.Format(gradOutput.Shape)}.", nameof(gradOutput));
        var gx = new Tensor<T>(input.ShapeArray());
        SpatialPyramidPooling.Backward<T>(input.Shape, levels, mode, input.AsSpan(), gradOutput.AsSpan(), gx.AsSpan());
        return gx;
    }
}
