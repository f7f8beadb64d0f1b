using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Ops;
using ConvKit.Tensors;

namespace ConvKit;

/// <summary>Arguments of a batch normalization inside a composite block, as in <see cref="Functional.BatchNorm{T}"/>.</summary>
/// <param name="RunningMean">[C] running mean (updated in training mode); required in evaluation mode.</param>
/// <param name="RunningVar">[C] running variance (updated in training mode); required in evaluation mode.</param>
/// <param name="Weight">Optional [C] scale γ.</param>
/// <param name="Bias">Optional [C] shift β.</param>
/// <param name="Training">Use batch statistics (and update the running ones).</param>
/// <param name="Momentum">Weight of the batch statistics in the running update.</param>
/// <param name="Eps">Added to the variance before the square root.</param>
public sealed record BatchNormArgs<T>(Tensor<T>? RunningMean, Tensor<T>? RunningVar, Tensor<T>? Weight = null, Tensor<T>? Bias = null,
    bool Training = false, double Momentum = 0.1, double Eps = 1e-5) where T : unmanaged, IFloatingPointIeee754<T>;

public static partial class Functional
{
    /// <summary>
    /// Spatial-separable depthwise convolution: every rank-1 kH×kW filter is factored (<see cref="SeparableConv.TrySeparate{T}"/>)
    /// and run as a kH×1 pass then a 1×kW pass, giving the same result as the full 2-d depthwise convolution with
    /// kH + kW instead of kH·kW multiplications per output (Sobel = [1, 2, 1]ᵀ·[-1, 0, 1]).
    /// </summary>
    /// <param name="input">Input [N, C, H, W] (or [C, H, W]).</param>
    /// <param name="weight">One filter [kH, kW] applied to every channel, or depthwise filters [C·m, 1, kH, kW]; each must be rank 1.</param>
    /// <param name="bias">Optional bias, one per output channel.</param>
    /// <param name="stride">Stride (int or (sH, sW)).</param>
    /// <param name="padding">Zero padding (int or (pH, pW)).</param>
    /// <param name="dilation">Dilation (int or (dH, dW)).</param>
    /// <param name="tolerance">Relative tolerance of the rank-1 test.</param>
    /// <exception cref="ArgumentException">A filter is not rank 1 within <paramref name="tolerance"/> (paramName "weight").</exception>
    public static Tensor<T> SeparableConv2d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default,
        Dims padding = default, Dims dilation = default, double tolerance = 1e-6) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weight);
        if (input.Rank is < 3 or > 4) throw new ArgumentException($"input: expected [N, C, H, W], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        int c = input.Size(-3);
        Tensor<T> w4 = weight.Rank switch
        {
            2 => Broadcast(weight, c),
            4 when weight.Size(1) == 1 && weight.Size(0) % Math.Max(1, c) == 0 && weight.Size(0) > 0 => weight,
            _ => throw new ArgumentException($"weight: expected [kH, kW] or [C·m, 1, kH, kW] with C = {c}, got {ShapeMath.Format(weight.Shape)}.", nameof(weight)),
        };
        int filters = w4.Size(0), kh = w4.Size(2), kw = w4.Size(3);
        var column = new Tensor<T>(filters, kh);
        var row = new Tensor<T>(filters, kw);
        for (int f = 0; f < filters; f++)
        {
            if (!SeparableConv.TrySeparate(w4.Select(f).Reshape(kh, kw), out var col, out var rw, tolerance))
                throw new ArgumentException($"weight: filter {f} of {ShapeMath.Format(weight.Shape)} is not rank 1 (not separable within tolerance {tolerance}).", nameof(weight));
            col!.AsSpan().CopyTo(column.AsSpan().Slice(f * kh, kh));
            rw!.AsSpan().CopyTo(row.AsSpan().Slice(f * kw, kw));
        }
        return SeparableConv2dFromFactors(input, column, row, bias, stride, padding, dilation);
    }

    /// <summary>
    /// Runs a separable depthwise filter given its factors: a kH×1 pass with <paramref name="column"/> (stride, padding and
    /// dilation of the height axis; width padded) then a 1×kW pass with <paramref name="row"/> (stride and dilation of the width axis).
    /// </summary>
    /// <param name="input">Input [N, C, H, W] (or [C, H, W]).</param>
    /// <param name="column">Vertical factor: [kH] shared by every channel, or [C·m, kH] per output channel.</param>
    /// <param name="row">Horizontal factor: [kW] shared, or [C·m, kW].</param>
    /// <param name="bias">Optional bias, one per output channel.</param>
    /// <param name="stride">Stride (int or (sH, sW)).</param>
    /// <param name="padding">Zero padding (int or (pH, pW)).</param>
    /// <param name="dilation">Dilation (int or (dH, dW)).</param>
    public static Tensor<T> SeparableConv2dFromFactors<T>(Tensor<T> input, Tensor<T> column, Tensor<T> row, Tensor<T>? bias = null,
        Dims stride = default, Dims padding = default, Dims dilation = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(column);
        ArgumentNullException.ThrowIfNull(row);
        if (input.Rank is < 3 or > 4) throw new ArgumentException($"input: expected [N, C, H, W], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        int c = input.Size(-3);
        var s = stride.Expand(2, nameof(stride), 1, 1);
        var p = padding.Expand(2, nameof(padding), 0, 0);
        var d = dilation.Expand(2, nameof(dilation), 1, 1);
        var colF = FactorFilters(column, c, nameof(column));
        var rowF = FactorFilters(row, c, nameof(row));
        if (colF.Size(0) != rowF.Size(0))
            throw new ArgumentException($"row: {rowF.Size(0)} filters for {colF.Size(0)} column filters (column {ShapeMath.Format(column.Shape)}, row {ShapeMath.Format(row.Shape)}).", nameof(row));
        int filters = colF.Size(0), kh = colF.Size(1), kw = rowF.Size(1);
        var vertical = DepthwiseConv2d(input, colF.Reshape(filters, 1, kh, 1), null, (s[0], 1), (p[0], p[1]), (d[0], 1));
        return DepthwiseConv2d(vertical, rowF.Reshape(filters, 1, 1, kw), bias, (1, s[1]), 0, (1, d[1]));
    }

    /// <summary>
    /// Depthwise-separable convolution block (MobileNet): depthwise kH×kW convolution (groups = C_in, multiplier m), then
    /// optionally batch normalization and ReLU, then a 1×1 pointwise convolution. Without them it equals one standard
    /// convolution with the weight <see cref="SeparableConv.ComposeDepthwiseSeparable{T}"/>.
    /// </summary>
    /// <param name="input">Input [N, C_in, H, W] (or [C_in, H, W]).</param>
    /// <param name="depthwiseWeight">[C_in·m, 1, kH, kW].</param>
    /// <param name="pointwiseWeight">[C_out, C_in·m, 1, 1].</param>
    /// <param name="depthwiseBias">Optional bias [C_in·m] of the depthwise convolution.</param>
    /// <param name="pointwiseBias">Optional bias [C_out] of the pointwise convolution.</param>
    /// <param name="stride">Stride of the depthwise convolution.</param>
    /// <param name="padding">Padding of the depthwise convolution.</param>
    /// <param name="dilation">Dilation of the depthwise convolution.</param>
    /// <param name="relu">Apply ReLU between the depthwise and the pointwise convolution (after the batch normalization).</param>
    /// <param name="batchNorm">Optional batch normalization of the C_in·m depthwise outputs (<see cref="BatchNorm{T}"/>).</param>
    public static Tensor<T> DepthwiseSeparableConv2d<T>(Tensor<T> input, Tensor<T> depthwiseWeight, Tensor<T> pointwiseWeight,
        Tensor<T>? depthwiseBias = null, Tensor<T>? pointwiseBias = null, Dims stride = default, Dims padding = default, Dims dilation = default,
        bool relu = false, BatchNormArgs<T>? batchNorm = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(depthwiseWeight);
        ArgumentNullException.ThrowIfNull(pointwiseWeight);
        if (input.Rank is < 3 or > 4) throw new ArgumentException($"input: expected [N, C, H, W], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        int c = input.Size(-3);
        if (depthwiseWeight.Rank != 4 || depthwiseWeight.Size(1) != 1 || depthwiseWeight.Size(0) == 0 || depthwiseWeight.Size(0) % Math.Max(1, c) != 0)
            throw new ArgumentException($"depthwiseWeight: expected [{c}·m, 1, kH, kW] for input {ShapeMath.Format(input.Shape)}, got {ShapeMath.Format(depthwiseWeight.Shape)}.", nameof(depthwiseWeight));
        int mid = depthwiseWeight.Size(0);
        if (pointwiseWeight.Rank != 4 || pointwiseWeight.Size(1) != mid || pointwiseWeight.Size(2) != 1 || pointwiseWeight.Size(3) != 1)
            throw new ArgumentException($"pointwiseWeight: expected [C_out, {mid}, 1, 1], got {ShapeMath.Format(pointwiseWeight.Shape)}.", nameof(pointwiseWeight));
        var p = padding.Expand(2, nameof(padding), 0, 0);
        var h = DepthwiseConv2d(input, depthwiseWeight, depthwiseBias, stride, (p[0], p[1]), dilation);
        if (batchNorm is not null)
        {
            bool unbatched = h.Rank == 3;
            var hb = unbatched ? h.Reshape([1, .. h.Shape]) : h;
            hb = BatchNorm(hb, batchNorm.RunningMean, batchNorm.RunningVar, batchNorm.Weight, batchNorm.Bias, batchNorm.Training, batchNorm.Momentum, batchNorm.Eps);
            h = unbatched ? hb.Reshape(h.ShapeArray()) : hb;
        }
        if (relu) h = Relu(h, inplace: true);
        return Conv2d(h, pointwiseWeight, pointwiseBias);
    }

    /// <summary>
    /// Flattened convolution (Jin et al., 2014): a 1×1 convolution across channels (C_in → C_out), then a per-channel
    /// vertical kH×1 and a per-channel horizontal 1×kW convolution. Equals a standard convolution whose filters are
    /// W[o, c, i, j] = P[o, c]·V[o, i]·H[o, j] (<see cref="SeparableConv.ComposeFlattened{T}"/>); the bias is added last.
    /// </summary>
    /// <param name="input">Input [N, C_in, H, W] (or [C_in, H, W]).</param>
    /// <param name="pointwiseWeight">[C_out, C_in, 1, 1].</param>
    /// <param name="verticalWeight">[C_out, 1, kH, 1].</param>
    /// <param name="horizontalWeight">[C_out, 1, 1, kW].</param>
    /// <param name="bias">Optional bias [C_out].</param>
    /// <param name="stride">Stride (int or (sH, sW)).</param>
    /// <param name="padding">Zero padding (int or (pH, pW)).</param>
    /// <param name="dilation">Dilation (int or (dH, dW)).</param>
    public static Tensor<T> FlattenedConv2d<T>(Tensor<T> input, Tensor<T> pointwiseWeight, Tensor<T> verticalWeight, Tensor<T> horizontalWeight,
        Tensor<T>? bias = null, Dims stride = default, Dims padding = default, Dims dilation = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        var (_, cin, _, _) = SeparableConv.CheckFlattened(pointwiseWeight, verticalWeight, horizontalWeight);
        if (input.Rank is < 3 or > 4 || input.Size(-3) != cin)
            throw new ArgumentException($"input: expected [N, {cin}, H, W] for pointwiseWeight {ShapeMath.Format(pointwiseWeight.Shape)}, got {ShapeMath.Format(input.Shape)}.", nameof(input));
        var s = stride.Expand(2, nameof(stride), 1, 1);
        var p = padding.Expand(2, nameof(padding), 0, 0);
        var d = dilation.Expand(2, nameof(dilation), 1, 1);
        // No bias before the spatial passes: the zero padding must see zeros, as the equivalent dense convolution does.
        var lateral = Conv2d(input, pointwiseWeight);
        var vertical = DepthwiseConv2d(lateral, verticalWeight, null, (s[0], 1), (p[0], p[1]), (d[0], 1));
        return DepthwiseConv2d(vertical, horizontalWeight, bias, (1, s[1]), 0, (1, d[1]));
    }

    /// <summary>
    /// Grouped convolution followed by a channel shuffle with the same number of groups (ShuffleNet), so that the next
    /// grouped layer sees channels from every group.
    /// </summary>
    /// <param name="input">Input [N, C_in, H, W] (or [C_in, H, W]).</param>
    /// <param name="weight">Filters [C_out, C_in/groups, kH, kW].</param>
    /// <param name="bias">Optional bias [C_out] (added before the shuffle).</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Padding.</param>
    /// <param name="dilation">Dilation.</param>
    /// <param name="groups">Groups of the convolution and of the shuffle.</param>
    public static Tensor<T> ShuffledGroupedConv2d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default,
        Dims padding = default, Dims dilation = default, int groups = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        var p = padding.Expand(2, nameof(padding), 0, 0);
        var y = Conv2d(input, weight, bias, stride, (p[0], p[1]), dilation, groups);
        bool unbatched = y.Rank == 3;
        var shuffled = ChannelShuffle(unbatched ? y.Reshape([1, .. y.Shape]) : y, groups);
        return unbatched ? shuffled.Reshape(y.ShapeArray()) : shuffled;
    }

    private static Tensor<T> Broadcast<T>(Tensor<T> kernel, int channels) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int kh = kernel.Size(0), kw = kernel.Size(1);
        var w = new Tensor<T>(channels, 1, kh, kw);
        for (int c = 0; c < channels; c++) kernel.AsSpan().CopyTo(w.AsSpan().Slice(c * kh * kw, kh * kw));
        return w;
    }

    private static Tensor<T> FactorFilters<T>(Tensor<T> f, int channels, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (f.Rank == 1 && f.Length > 0)
        {
            var t = new Tensor<T>(channels, f.Length);
            for (int c = 0; c < channels; c++) f.AsSpan().CopyTo(t.AsSpan().Slice(c * f.Length, f.Length));
            return t;
        }
        if (f.Rank == 2 && f.Size(1) > 0 && f.Size(0) > 0 && f.Size(0) % Math.Max(1, channels) == 0) return f;
        throw new ArgumentException($"{name}: expected [k] or [C·m, k] with C = {channels}, got {ShapeMath.Format(f.Shape)}.", name);
    }
}
