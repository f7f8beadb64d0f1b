using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Ops;
using ConvKit.Tensors;

namespace ConvKit;

public static partial class Functional
{
    // ---------------------------------------------------------------- pooling (torch.nn.functional names)
    // Inputs are [N, C, *spatial] or unbatched [C, *spatial]. Max-pooling indices are int[] of the output's shape,
    // flat within each (n, c) plane like PyTorch's (h·W + w in 2-d, d·H·W + h·W + w in 3-d). Every backward takes
    // the upstream gradient first and the forward input (for its shape), then whatever else the forward needs.
    // Registered operators: max_poolNd, avg_poolNd, adaptive_avg_poolNd, adaptive_max_poolNd, max_unpoolNd and
    // grad.<name> for the gradient with respect to the input (N = 1, 2, 3).

    private static Tensor<T> PoolBatched<T>(Tensor<T> x, int rank, out bool unbatched) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        unbatched = x.Rank == rank + 1;
        return unbatched ? x.Reshape([1, .. x.Shape]) : x;
    }

    private static Tensor<T> PoolUnbatched<T>(Tensor<T> y, bool unbatched) where T : unmanaged, IFloatingPointIeee754<T>
        => unbatched ? y.Reshape(y.Shape[1..].ToArray()) : y;

    /// <summary>Batches a gradient like its input and checks rank, batch and channels.</summary>
    private static Tensor<T> PoolGradBatched<T>(Tensor<T> gradOutput, Tensor<T> input, bool unbatched) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        int lead = unbatched ? 1 : 2;
        if (gradOutput.Rank != input.Rank || input.Rank < lead || !gradOutput.Shape[..lead].SequenceEqual(input.Shape[..lead]))
            throw new ArgumentException($"gradOutput: shape {ShapeMath.Format(gradOutput.Shape)} does not match the input {ShapeMath.Format(input.Shape)} in rank, batch and channels.", nameof(gradOutput));
        return unbatched ? gradOutput.Reshape([1, .. gradOutput.Shape]) : gradOutput;
    }

    internal static (Tensor<T> Output, int[]? Indices) MaxPool<T>(int rank, Tensor<T> input, Dims kernelSize, Dims stride, Dims padding, Dims dilation,
        bool ceilMode, bool withIndices) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        var d = PoolDescriptor.Create(rank, x.Shape, kernelSize, stride, padding, dilation, ceilMode);
        var idx = withIndices ? GC.AllocateUninitializedArray<int>(ShapeMath.Numel(d.OutputShape, "output")) : null;
        return (PoolUnbatched(Pooling.MaxPool(d, x, idx), ub), idx);
    }

    internal static Tensor<T> MaxPoolBackward<T>(int rank, Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        PoolDescriptor.CheckInput(rank, x.Shape);
        var g = PoolGradBatched(gradOutput, input, ub);
        return PoolUnbatched(Pooling.MaxBackward(g, x.ShapeArray(), indices, g.ShapeArray()), ub);
    }

    internal static Tensor<T> AvgPool<T>(int rank, Tensor<T> input, Dims kernelSize, Dims stride, Dims padding, bool ceilMode, bool countIncludePad,
        int? divisorOverride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        var d = PoolDescriptor.Create(rank, x.Shape, kernelSize, stride, padding, 1, ceilMode);
        return PoolUnbatched(Pooling.Avg(Pooling.SlidingGeometry(d, countIncludePad), x, d.OutputShape, Divisor(divisorOverride)), ub);
    }

    internal static Tensor<T> AvgPoolBackward<T>(int rank, Tensor<T> gradOutput, Tensor<T> input, Dims kernelSize, Dims stride, Dims padding, bool ceilMode,
        bool countIncludePad, int? divisorOverride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        var d = PoolDescriptor.Create(rank, x.Shape, kernelSize, stride, padding, 1, ceilMode);
        var g = PoolGradBatched(gradOutput, input, ub);
        Pooling.CheckShape(g, d.OutputShape, nameof(gradOutput));
        return PoolUnbatched(Pooling.AvgBackward(Pooling.SlidingGeometry(d, countIncludePad), g, d.InputShape, Divisor(divisorOverride)), ub);
    }

    private static int Divisor(int? divisorOverride) => divisorOverride switch
    {
        null => 0,
        0 => throw new ArgumentException("divisorOverride: must not be zero (null for the default divisor).", nameof(divisorOverride)),
        var v => v.Value,
    };

    private static Pooling.Geometry AdaptiveGeometry(int rank, ReadOnlySpan<int> inShape, ReadOnlySpan<int> outSpatial, out int[] outShape)
    {
        var sh = PoolDescriptor.CheckInput(rank, inShape);
        outShape = (int[])sh.Clone();
        int[] in3 = [1, 1, 1], out3 = [1, 1, 1];
        for (int i = 0; i < rank; i++)
        {
            in3[3 - rank + i] = sh[2 + i];
            out3[3 - rank + i] = outShape[2 + i] = outSpatial[i];
        }
        ShapeMath.Numel(outShape, "outputSize");
        return Pooling.AdaptiveGeometry(sh[0] * sh[1], in3, out3);
    }

    internal static Tensor<T> AdaptiveAvgPool<T>(int rank, Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        var g = AdaptiveGeometry(rank, x.Shape, outputSize.Expand(rank, nameof(outputSize), 1, 1), out var outShape);
        return PoolUnbatched(Pooling.Avg(g, x, outShape, 0), ub);
    }

    internal static Tensor<T> AdaptiveAvgPoolBackward<T>(int rank, Tensor<T> gradOutput, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        var gy = PoolGradBatched(gradOutput, input, ub);
        PoolDescriptor.CheckInput(rank, gy.Shape);
        var g = AdaptiveGeometry(rank, x.Shape, gy.Shape[2..], out _);
        return PoolUnbatched(Pooling.AvgBackward(g, gy, x.ShapeArray(), 0), ub);
    }

    internal static (Tensor<T> Output, int[] Indices) AdaptiveMaxPool<T>(int rank, Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        var g = AdaptiveGeometry(rank, x.Shape, outputSize.Expand(rank, nameof(outputSize), 1, 1), out var outShape);
        var idx = new int[ShapeMath.Numel(outShape, nameof(outputSize))];
        return (PoolUnbatched(Pooling.Max(g, x, outShape, idx), ub), idx);
    }

    internal static Tensor<T> MaxUnpool<T>(int rank, Tensor<T> input, int[] indices, Dims kernelSize, Dims stride, Dims padding, int[]? outputSize)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        var sh = PoolDescriptor.CheckInput(rank, x.Shape);
        var outShape = Pooling.UnpoolOutputShape(rank, sh, kernelSize, stride, padding, outputSize, out _, out _, out _);
        return PoolUnbatched(Pooling.Unpool(x, indices, outShape), ub);
    }

    internal static Tensor<T> MaxUnpoolBackward<T>(int rank, Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = PoolBatched(input, rank, out bool ub);
        PoolDescriptor.CheckInput(rank, x.Shape);
        var g = PoolGradBatched(gradOutput, input, ub);
        return PoolUnbatched(Pooling.UnpoolBackward(g, indices, x.ShapeArray()), ub);
    }

    /// <summary>1-d max pooling, like <c>F.max_pool1d</c>. input [N, C, L] or [C, L].</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="kernelSize">Window size (int or per axis).</param>
    /// <param name="stride">Step (int or per axis); default = kernelSize.</param>
    /// <param name="padding">Implicit −∞ padding on both sides, at most half the kernel.</param>
    /// <param name="dilation">Spacing between window elements.</param>
    /// <param name="ceilMode">Round output sizes up; the last window must still start inside the input or the left padding.</param>
    public static Tensor<T> MaxPool1d<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default, Dims dilation = default,
        bool ceilMode = false) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPool(1, input, kernelSize, stride, padding, dilation, ceilMode, false).Output;

    /// <summary>1-d max pooling that also returns the argmax indices (<c>F.max_pool1d(..., return_indices=True)</c>);
    /// ties pick the first element, NaN wins.</summary>
    /// <inheritdoc cref="MaxPool1d{T}"/>
    public static (Tensor<T> Output, int[] Indices) MaxPool1dWithIndices<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default,
        Dims dilation = default, bool ceilMode = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (y, i) = MaxPool(1, input, kernelSize, stride, padding, dilation, ceilMode, true);
        return (y, i!);
    }

    /// <summary>Gradient of 1-d max pooling (op <c>grad.max_pool1d</c>): gradOutput scattered (summed) to the argmax positions.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">Indices from <see cref="MaxPool1dWithIndices{T}"/>.</param>
    public static Tensor<T> MaxPool1dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPoolBackward(1, gradOutput, input, indices);

    /// <summary>1-d average pooling, like <c>F.avg_pool1d</c>. input [N, C, L] or [C, L].</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="kernelSize">Window size (int or per axis).</param>
    /// <param name="stride">Step (int or per axis); default = kernelSize.</param>
    /// <param name="padding">Implicit zero padding on both sides, at most half the kernel.</param>
    /// <param name="ceilMode">Round output sizes up; the last window must still start inside the input or the left padding.</param>
    /// <param name="countIncludePad">Divide by the window size including padding (clipped to the padded input), else by the number of input elements.</param>
    /// <param name="divisorOverride">Divide every window by this instead (non-zero).</param>
    public static Tensor<T> AvgPool1d<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default, bool ceilMode = false,
        bool countIncludePad = true, int? divisorOverride = null) where T : unmanaged, IFloatingPointIeee754<T>
        => AvgPool(1, input, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride);

    /// <summary>Gradient of 1-d average pooling (op <c>grad.avg_pool1d</c>), for the same arguments as the forward.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="kernelSize">Window size (int or per axis).</param>
    /// <param name="stride">Step (int or per axis); default = kernelSize.</param>
    /// <param name="padding">Implicit zero padding on both sides, at most half the kernel.</param>
    /// <param name="ceilMode">As in the forward.</param>
    /// <param name="countIncludePad">As in the forward.</param>
    /// <param name="divisorOverride">As in the forward.</param>
    public static Tensor<T> AvgPool1dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default,
        bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null) where T : unmanaged, IFloatingPointIeee754<T>
        => AvgPoolBackward(1, gradOutput, input, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride);

    /// <summary>1-d adaptive average pooling, like <c>F.adaptive_avg_pool1d</c>: output bin i averages
    /// [floor(i·In/Out), ceil((i+1)·In/Out)) on each axis. input [N, C, L] or [C, L].</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static Tensor<T> AdaptiveAvgPool1d<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveAvgPool(1, input, outputSize);

    /// <summary>Gradient of 1-d adaptive average pooling (op <c>grad.adaptive_avg_pool1d</c>); the output size is gradOutput's.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    public static Tensor<T> AdaptiveAvgPool1dBackward<T>(Tensor<T> gradOutput, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveAvgPoolBackward(1, gradOutput, input);

    /// <summary>1-d adaptive max pooling, like <c>F.adaptive_max_pool1d</c> (bins as in <see cref="AdaptiveAvgPool1d{T}"/>).</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static Tensor<T> AdaptiveMaxPool1d<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveMaxPool(1, input, outputSize).Output;

    /// <summary>1-d adaptive max pooling with argmax indices (<c>return_indices=True</c>).</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static (Tensor<T> Output, int[] Indices) AdaptiveMaxPool1dWithIndices<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveMaxPool(1, input, outputSize);

    /// <summary>Gradient of 1-d adaptive max pooling (op <c>grad.adaptive_max_pool1d</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">Indices from <see cref="AdaptiveMaxPool1dWithIndices{T}"/>.</param>
    public static Tensor<T> AdaptiveMaxPool1dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPoolBackward(1, gradOutput, input, indices);

    /// <summary>1-d max unpooling, like <c>F.max_unpool1d</c>: zeros with every input value written at its index
    /// (the partial inverse of max pooling). Output size (in − 1)·stride − 2·padding + kernel unless given.</summary>
    /// <param name="input">Pooled values [N, C, L] or [C, L].</param>
    /// <param name="indices">Flat in-plane indices of the input's shape (from the max pooling).</param>
    /// <param name="kernelSize">Window size of the pooling.</param>
    /// <param name="stride">Stride of the pooling; default = kernelSize.</param>
    /// <param name="padding">Padding of the pooling.</param>
    /// <param name="outputSize">Spatial (or full) output size, strictly within one stride of the default.</param>
    public static Tensor<T> MaxUnpool1d<T>(Tensor<T> input, int[] indices, Dims kernelSize, Dims stride = default, Dims padding = default,
        int[]? outputSize = null) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxUnpool(1, input, indices, kernelSize, stride, padding, outputSize);

    /// <summary>Gradient of 1-d max unpooling (op <c>grad.max_unpool1d</c>): gradOutput gathered at the indices.</summary>
    /// <param name="gradOutput">Gradient with respect to the unpooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">The indices given to the forward.</param>
    public static Tensor<T> MaxUnpool1dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxUnpoolBackward(1, gradOutput, input, indices);

    /// <summary>2-d max pooling, like <c>F.max_pool2d</c>. input [N, C, H, W] or [C, H, W].</summary>
    /// <inheritdoc cref="MaxPool1d{T}"/>
    public static Tensor<T> MaxPool2d<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default, Dims dilation = default,
        bool ceilMode = false) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPool(2, input, kernelSize, stride, padding, dilation, ceilMode, false).Output;

    /// <summary>2-d max pooling that also returns the argmax indices (<c>F.max_pool2d(..., return_indices=True)</c>);
    /// ties pick the first element, NaN wins.</summary>
    /// <inheritdoc cref="MaxPool1d{T}"/>
    public static (Tensor<T> Output, int[] Indices) MaxPool2dWithIndices<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default,
        Dims dilation = default, bool ceilMode = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (y, i) = MaxPool(2, input, kernelSize, stride, padding, dilation, ceilMode, true);
        return (y, i!);
    }

    /// <summary>Gradient of 2-d max pooling (op <c>grad.max_pool2d</c>): gradOutput scattered (summed) to the argmax positions.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">Indices from <see cref="MaxPool2dWithIndices{T}"/>.</param>
    public static Tensor<T> MaxPool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPoolBackward(2, gradOutput, input, indices);

    /// <summary>2-d average pooling, like <c>F.avg_pool2d</c>. input [N, C, H, W] or [C, H, W].</summary>
    /// <inheritdoc cref="AvgPool1d{T}"/>
    public static Tensor<T> AvgPool2d<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default, bool ceilMode = false,
        bool countIncludePad = true, int? divisorOverride = null) where T : unmanaged, IFloatingPointIeee754<T>
        => AvgPool(2, input, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride);

    /// <summary>Gradient of 2-d average pooling (op <c>grad.avg_pool2d</c>), for the same arguments as the forward.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="kernelSize">Window size (int or per axis).</param>
    /// <param name="stride">Step (int or per axis); default = kernelSize.</param>
    /// <param name="padding">Implicit zero padding on both sides, at most half the kernel.</param>
    /// <param name="ceilMode">As in the forward.</param>
    /// <param name="countIncludePad">As in the forward.</param>
    /// <param name="divisorOverride">As in the forward.</param>
    public static Tensor<T> AvgPool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default,
        bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null) where T : unmanaged, IFloatingPointIeee754<T>
        => AvgPoolBackward(2, gradOutput, input, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride);

    /// <summary>2-d adaptive average pooling, like <c>F.adaptive_avg_pool2d</c>: output bin i averages
    /// [floor(i·In/Out), ceil((i+1)·In/Out)) on each axis. input [N, C, H, W] or [C, H, W].</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static Tensor<T> AdaptiveAvgPool2d<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveAvgPool(2, input, outputSize);

    /// <summary>Gradient of 2-d adaptive average pooling (op <c>grad.adaptive_avg_pool2d</c>); the output size is gradOutput's.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    public static Tensor<T> AdaptiveAvgPool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveAvgPoolBackward(2, gradOutput, input);

    /// <summary>2-d adaptive max pooling, like <c>F.adaptive_max_pool2d</c> (bins as in <see cref="AdaptiveAvgPool2d{T}"/>).</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static Tensor<T> AdaptiveMaxPool2d<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveMaxPool(2, input, outputSize).Output;

    /// <summary>2-d adaptive max pooling with argmax indices (<c>return_indices=True</c>).</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static (Tensor<T> Output, int[] Indices) AdaptiveMaxPool2dWithIndices<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveMaxPool(2, input, outputSize);

    /// <summary>Gradient of 2-d adaptive max pooling (op <c>grad.adaptive_max_pool2d</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">Indices from <see cref="AdaptiveMaxPool2dWithIndices{T}"/>.</param>
    public static Tensor<T> AdaptiveMaxPool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPoolBackward(2, gradOutput, input, indices);

    /// <summary>2-d max unpooling, like <c>F.max_unpool2d</c>: zeros with every input value written at its index
    /// (the partial inverse of max pooling). Output size (in − 1)·stride − 2·padding + kernel unless given.</summary>
    /// <param name="input">Pooled values [N, C, H, W] or [C, H, W].</param>
    /// <param name="indices">Flat in-plane indices of the input's shape (from the max pooling).</param>
    /// <param name="kernelSize">Window size of the pooling.</param>
    /// <param name="stride">Stride of the pooling; default = kernelSize.</param>
    /// <param name="padding">Padding of the pooling.</param>
    /// <param name="outputSize">Spatial (or full) output size, strictly within one stride of the default.</param>
    public static Tensor<T> MaxUnpool2d<T>(Tensor<T> input, int[] indices, Dims kernelSize, Dims stride = default, Dims padding = default,
        int[]? outputSize = null) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxUnpool(2, input, indices, kernelSize, stride, padding, outputSize);

    /// <summary>Gradient of 2-d max unpooling (op <c>grad.max_unpool2d</c>): gradOutput gathered at the indices.</summary>
    /// <param name="gradOutput">Gradient with respect to the unpooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">The indices given to the forward.</param>
    public static Tensor<T> MaxUnpool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxUnpoolBackward(2, gradOutput, input, indices);

    /// <summary>3-d max pooling, like <c>F.max_pool3d</c>. input [N, C, D, H, W] or [C, D, H, W].</summary>
    /// <inheritdoc cref="MaxPool1d{T}"/>
    public static Tensor<T> MaxPool3d<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default, Dims dilation = default,
        bool ceilMode = false) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPool(3, input, kernelSize, stride, padding, dilation, ceilMode, false).Output;

    /// <summary>3-d max pooling that also returns the argmax indices (<c>F.max_pool3d(..., return_indices=True)</c>);
    /// ties pick the first element, NaN wins.</summary>
    /// <inheritdoc cref="MaxPool1d{T}"/>
    public static (Tensor<T> Output, int[] Indices) MaxPool3dWithIndices<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default,
        Dims dilation = default, bool ceilMode = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (y, i) = MaxPool(3, input, kernelSize, stride, padding, dilation, ceilMode, true);
        return (y, i!);
    }

    /// <summary>Gradient of 3-d max pooling (op <c>grad.max_pool3d</c>): gradOutput scattered (summed) to the argmax positions.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">Indices from <see cref="MaxPool3dWithIndices{T}"/>.</param>
    public static Tensor<T> MaxPool3dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPoolBackward(3, gradOutput, input, indices);

    /// <summary>3-d average pooling, like <c>F.avg_pool3d</c>. input [N, C, D, H, W] or [C, D, H, W].</summary>
    /// <inheritdoc cref="AvgPool1d{T}"/>
    public static Tensor<T> AvgPool3d<T>(Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default, bool ceilMode = false,
        bool countIncludePad = true, int? divisorOverride = null) where T : unmanaged, IFloatingPointIeee754<T>
        => AvgPool(3, input, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride);

    /// <summary>Gradient of 3-d average pooling (op <c>grad.avg_pool3d</c>), for the same arguments as the forward.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="kernelSize">Window size (int or per axis).</param>
    /// <param name="stride">Step (int or per axis); default = kernelSize.</param>
    /// <param name="padding">Implicit zero padding on both sides, at most half the kernel.</param>
    /// <param name="ceilMode">As in the forward.</param>
    /// <param name="countIncludePad">As in the forward.</param>
    /// <param name="divisorOverride">As in the forward.</param>
    public static Tensor<T> AvgPool3dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Dims kernelSize, Dims stride = default, Dims padding = default,
        bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null) where T : unmanaged, IFloatingPointIeee754<T>
        => AvgPoolBackward(3, gradOutput, input, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride);

    /// <summary>3-d adaptive average pooling, like <c>F.adaptive_avg_pool3d</c>: output bin i averages
    /// [floor(i·In/Out), ceil((i+1)·In/Out)) on each axis. input [N, C, D, H, W] or [C, D, H, W].</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static Tensor<T> AdaptiveAvgPool3d<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveAvgPool(3, input, outputSize);

    /// <summary>Gradient of 3-d adaptive average pooling (op <c>grad.adaptive_avg_pool3d</c>); the output size is gradOutput's.</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    public static Tensor<T> AdaptiveAvgPool3dBackward<T>(Tensor<T> gradOutput, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveAvgPoolBackward(3, gradOutput, input);

    /// <summary>3-d adaptive max pooling, like <c>F.adaptive_max_pool3d</c> (bins as in <see cref="AdaptiveAvgPool3d{T}"/>).</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static Tensor<T> AdaptiveMaxPool3d<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveMaxPool(3, input, outputSize).Output;

    /// <summary>3-d adaptive max pooling with argmax indices (<c>return_indices=True</c>).</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="outputSize">Output spatial size (int or per axis), at least 1.</param>
    public static (Tensor<T> Output, int[] Indices) AdaptiveMaxPool3dWithIndices<T>(Tensor<T> input, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => AdaptiveMaxPool(3, input, outputSize);

    /// <summary>Gradient of 3-d adaptive max pooling (op <c>grad.adaptive_max_pool3d</c>).</summary>
    /// <param name="gradOutput">Gradient with respect to the pooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">Indices from <see cref="AdaptiveMaxPool3dWithIndices{T}"/>.</param>
    public static Tensor<T> AdaptiveMaxPool3dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxPoolBackward(3, gradOutput, input, indices);

    /// <summary>3-d max unpooling, like <c>F.max_unpool3d</c>: zeros with every input value written at its index
    /// (the partial inverse of max pooling). Output size (in − 1)·stride − 2·padding + kernel unless given.</summary>
    /// <param name="input">Pooled values [N, C, D, H, W] or [C, D, H, W].</param>
    /// <param name="indices">Flat in-plane indices of the input's shape (from the max pooling).</param>
    /// <param name="kernelSize">Window size of the pooling.</param>
    /// <param name="stride">Stride of the pooling; default = kernelSize.</param>
    /// <param name="padding">Padding of the pooling.</param>
    /// <param name="outputSize">Spatial (or full) output size, strictly within one stride of the default.</param>
    public static Tensor<T> MaxUnpool3d<T>(Tensor<T> input, int[] indices, Dims kernelSize, Dims stride = default, Dims padding = default,
        int[]? outputSize = null) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxUnpool(3, input, indices, kernelSize, stride, padding, outputSize);

    /// <summary>Gradient of 3-d max unpooling (op <c>grad.max_unpool3d</c>): gradOutput gathered at the indices.</summary>
    /// <param name="gradOutput">Gradient with respect to the unpooled output.</param>
    /// <param name="input">The forward input (for its shape).</param>
    /// <param name="indices">The indices given to the forward.</param>
    public static Tensor<T> MaxUnpool3dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, int[] indices) where T : unmanaged, IFloatingPointIeee754<T>
        => MaxUnpoolBackward(3, gradOutput, input, indices);

    /// <summary>Global average pooling [N, C, H, W] → [N, C, 1, 1] (= <see cref="AdaptiveAvgPool2d{T}"/> with size 1).</summary>
    /// <param name="input">[N, C, H, W] or [C, H, W].</param>
    public static Tensor<T> GlobalAvgPool2d<T>(Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T> => AdaptiveAvgPool(2, input, 1);

    /// <summary>Gradient of <see cref="GlobalAvgPool2d{T}"/>: gradOutput / (H·W) everywhere.</summary>
    /// <param name="gradOutput">[N, C, 1, 1].</param>
    /// <param name="input">The forward input (for its shape).</param>
    public static Tensor<T> GlobalAvgPool2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T> => AdaptiveAvgPoolBackward(2, gradOutput, input);

    /// <summary>Global max pooling [N, C, H, W] → [N, C, 1, 1] with indices (= <see cref="AdaptiveMaxPool2dWithIndices{T}"/> with size 1);
    /// its gradient is <see cref="AdaptiveMaxPool2dBackward{T}"/>.</summary>
    /// <param name="input">[N, C, H, W] or [C, H, W].</param>
    public static (Tensor<T> Output, int[] Indices) GlobalMaxPool2d<T>(Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T> => AdaptiveMaxPool(2, input, 1);
}
