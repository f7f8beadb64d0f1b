using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>The cost of one convolution layer: learned weights (biases excluded) and multiplications per input sample.</summary>
/// <param name="Parameters">Number of weights.</param>
/// <param name="Multiplications">Multiply(-accumulate)s for one input sample.</param>
public readonly record struct ConvCost(long Parameters, long Multiplications)
{
    /// <summary>Sum of two layers' costs.</summary>
    public static ConvCost operator +(ConvCost a, ConvCost b) => new(a.Parameters + b.Parameters, a.Multiplications + b.Multiplications);

    /// <summary>A (grouped) standard convolution: (C_in/groups)·kH·kW weights per output channel, applied at every output pixel.</summary>
    /// <param name="inChannels">C_in.</param>
    /// <param name="outChannels">C_out.</param>
    /// <param name="kernelH">kH.</param>
    /// <param name="kernelW">kW.</param>
    /// <param name="outH">Output height.</param>
    /// <param name="outW">Output width.</param>
    /// <param name="groups">Groups (C_in and C_out must be divisible by it).</param>
    public static ConvCost Standard(int inChannels, int outChannels, int kernelH, int kernelW, int outH, int outW, int groups = 1)
    {
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups: {groups} must divide C_in = {inChannels} and C_out = {outChannels}.", nameof(groups));
        long p = (long)outChannels * (inChannels / groups) * kernelH * kernelW;
        return new ConvCost(p, p * outH * outW);
    }

    /// <summary>
    /// Spatial-separable depthwise filtering of C channels: a kH×kW filter per channel versus a kH×1 pass (stride and
    /// padding of both axes, run over the full padded width) followed by a 1×kW pass.
    /// </summary>
    /// <param name="channels">C (one filter per channel).</param>
    /// <param name="kernelH">kH.</param>
    /// <param name="kernelW">kW.</param>
    /// <param name="inH">Input height.</param>
    /// <param name="inW">Input width.</param>
    /// <param name="stride">Stride (int or (sH, sW)).</param>
    /// <param name="padding">Zero padding (int or (pH, pW)).</param>
    /// <param name="dilation">Dilation (int or (dH, dW)).</param>
    public static ConvCostComparison SpatialSeparable(int channels, int kernelH, int kernelW, int inH, int inW,
        Dims stride = default, Dims padding = default, Dims dilation = default)
    {
        var (ho, wo, _, p, _) = Geometry(inH, inW, kernelH, kernelW, stride, padding, dilation);
        int wMid = inW + 2 * p[1];
        var standard = Standard(channels, channels, kernelH, kernelW, ho, wo, channels);
        var separable = Standard(channels, channels, kernelH, 1, ho, wMid, channels) + Standard(channels, channels, 1, kernelW, ho, wo, channels);
        return new ConvCostComparison(standard, separable);
    }

    /// <summary>
    /// Depthwise-separable convolution (MobileNet): a depthwise kH×kW convolution (depth multiplier m) then a 1×1
    /// pointwise convolution to C_out, versus one standard kH×kW convolution C_in → C_out. On a 12×12×3 input with
    /// 5×5 kernels and 256 outputs (8×8): 1,228,800 versus 4,800 + 49,152 = 53,952 multiplications.
    /// </summary>
    /// <param name="inChannels">C_in.</param>
    /// <param name="outChannels">C_out.</param>
    /// <param name="kernelH">kH.</param>
    /// <param name="kernelW">kW.</param>
    /// <param name="inH">Input height.</param>
    /// <param name="inW">Input width.</param>
    /// <param name="stride">Stride of the depthwise convolution.</param>
    /// <param name="padding">Padding of the depthwise convolution.</param>
    /// <param name="dilation">Dilation of the depthwise convolution.</param>
    /// <param name="depthMultiplier">Depthwise outputs per input channel.</param>
    public static ConvCostComparison DepthwiseSeparable(int inChannels, int outChannels, int kernelH, int kernelW, int inH, int inW,
        Dims stride = default, Dims padding = default, Dims dilation = default, int depthMultiplier = 1)
    {
        var (ho, wo, _, _, _) = Geometry(inH, inW, kernelH, kernelW, stride, padding, dilation);
        int mid = checked(inChannels * depthMultiplier);
        var standard = Standard(inChannels, outChannels, kernelH, kernelW, ho, wo);
        var separable = Standard(inChannels, mid, kernelH, kernelW, ho, wo, inChannels) + Standard(mid, outChannels, 1, 1, ho, wo);
        return new ConvCostComparison(standard, separable);
    }

    /// <summary>
    /// Flattened convolution (Jin et al., 2014): a 1×1 channel convolution C_in → C_out at input resolution, then a
    /// per-channel kH×1 and a per-channel 1×kW convolution, versus one standard kH×kW convolution C_in → C_out.
    /// </summary>
    /// <inheritdoc cref="DepthwiseSeparable"/>
    public static ConvCostComparison Flattened(int inChannels, int outChannels, int kernelH, int kernelW, int inH, int inW,
        Dims stride = default, Dims padding = default, Dims dilation = default)
    {
        var (ho, wo, _, p, _) = Geometry(inH, inW, kernelH, kernelW, stride, padding, dilation);
        int wMid = inW + 2 * p[1];
        var standard = Standard(inChannels, outChannels, kernelH, kernelW, ho, wo);
        var flattened = Standard(inChannels, outChannels, 1, 1, inH, inW) + Standard(outChannels, outChannels, kernelH, 1, ho, wMid, outChannels)
            + Standard(outChannels, outChannels, 1, kernelW, ho, wo, outChannels);
        return new ConvCostComparison(standard, flattened);
    }

    /// <summary>
    /// Grouped convolution followed by a channel shuffle (ShuffleNet), versus the dense convolution it replaces; the
    /// shuffle is a permutation and costs no multiplications.
    /// </summary>
    /// <param name="inChannels">C_in.</param>
    /// <param name="outChannels">C_out.</param>
    /// <param name="kernelH">kH.</param>
    /// <param name="kernelW">kW.</param>
    /// <param name="inH">Input height.</param>
    /// <param name="inW">Input width.</param>
    /// <param name="groups">Groups of the grouped convolution.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Padding.</param>
    /// <param name="dilation">Dilation.</param>
    public static ConvCostComparison ShuffledGrouped(int inChannels, int outChannels, int kernelH, int kernelW, int inH, int inW, int groups,
        Dims stride = default, Dims padding = default, Dims dilation = default)
    {
        var (ho, wo, _, _, _) = Geometry(inH, inW, kernelH, kernelW, stride, padding, dilation);
        return new ConvCostComparison(Standard(inChannels, outChannels, kernelH, kernelW, ho, wo),
            Standard(inChannels, outChannels, kernelH, kernelW, ho, wo, groups));
    }

    private static (int Ho, int Wo, int[] S, int[] P, int[] D) Geometry(int inH, int inW, int kh, int kw, Dims stride, Dims padding, Dims dilation)
    {
        if (inH < 1 || inW < 1) throw new ArgumentException($"inH: input size ({inH}, {inW}) must be positive.", nameof(inH));
        if (kh < 1 || kw < 1) throw new ArgumentException($"kernelH: kernel size ({kh}, {kw}) must be positive.", "kernelH");
        var s = stride.Expand(2, nameof(stride), 1, 1);
        var p = padding.Expand(2, nameof(padding), 0, 0);
        var d = dilation.Expand(2, nameof(dilation), 1, 1);
        long ho = ((long)inH + 2 * p[0] - (long)d[0] * (kh - 1) - 1) / s[0] + 1, wo = ((long)inW + 2 * p[1] - (long)d[1] * (kw - 1) - 1) / s[1] + 1;
        if (inH + 2L * p[0] < (long)d[0] * (kh - 1) + 1 || inW + 2L * p[1] < (long)d[1] * (kw - 1) + 1)
            throw new ArgumentException($"inH: padded input ({inH + 2L * p[0]}, {inW + 2L * p[1]}) is smaller than the dilated kernel.", nameof(inH));
        return ((int)ho, (int)wo, s, p, d);
    }
}

/// <summary>A cheaper convolution variant next to the standard convolution it replaces.</summary>
/// <param name="Standard">The standard convolution's cost.</param>
/// <param name="Replacement">The variant's cost (all of its layers).</param>
public readonly record struct ConvCostComparison(ConvCost Standard, ConvCost Replacement)
{
    /// <summary>Standard multiplications per replacement multiplication (how many times cheaper).</summary>
    public double MultiplicationRatio => (double)Standard.Multiplications / Replacement.Multiplications;
    /// <summary>Standard parameters per replacement parameter.</summary>
    public double ParameterRatio => (double)Standard.Parameters / Replacement.Parameters;
}

/// <summary>Helpers of the separable convolutions: rank-1 factorization of 2-d kernels and composed dense weights.</summary>
public static class SeparableConv
{
    /// <summary>
    /// Tries to factor a 2-d kernel K [kH, kW] as col·rowᵀ. With (p, q) the largest-magnitude element, col = K[:, q]·sign(K[p, q])
    /// and row = K[p, :] / |K[p, q]| (so Sobel gives col [1, 2, 1], row [-1, 0, 1]); succeeds when every
    /// |K[i, j] - col[i]·row[j]| ≤ tolerance·|K[p, q]|. An all-zero kernel factors as zeros.
    /// </summary>
    /// <param name="kernel">The kernel [kH, kW].</param>
    /// <param name="column">The vertical factor [kH] (null when not separable).</param>
    /// <param name="row">The horizontal factor [kW] (null when not separable).</param>
    /// <param name="tolerance">Relative tolerance of the reconstruction.</param>
    public static bool TrySeparate<T>(Tensor<T> kernel, out Tensor<T>? column, out Tensor<T>? row, double tolerance = 1e-6)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (kernel.Rank != 2) throw new ArgumentException($"kernel: expected [kH, kW], got {ShapeMath.Format(kernel.Shape)}.", nameof(kernel));
        if (!(tolerance >= 0)) throw new ArgumentException($"tolerance: must be non-negative, got {tolerance}.", nameof(tolerance));
        int kh = kernel.Size(0), kw = kernel.Size(1);
        var k = kernel.AsSpan();
        int best = 0;
        double bestAbs = -1;
        for (int i = 0; i < k.Length; i++)
        {
            double a = Math.Abs(double.CreateTruncating(k[i]));
            if (double.IsNaN(a) || double.IsInfinity(a)) { column = row = null; return false; }
            if (a > bestAbs) { bestAbs = a; best = i; }
        }
        var col = new Tensor<T>(kh);
        var rw = new Tensor<T>(kw);
        if (bestAbs == 0) { column = col; row = rw; return true; }
        int p = best / kw, q = best % kw;
        double pivot = double.CreateTruncating(k[best]), sign = Math.Sign(pivot);
        var cd = new double[kh];
        var rd = new double[kw];
        for (int i = 0; i < kh; i++) cd[i] = double.CreateTruncating(k[i * kw + q]) * sign;
        for (int j = 0; j < kw; j++) rd[j] = double.CreateTruncating(k[p * kw + j]) / bestAbs;
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++)
                if (Math.Abs(double.CreateTruncating(k[i * kw + j]) - cd[i] * rd[j]) > tolerance * bestAbs)
                {
                    column = row = null;
                    return false;
                }
        for (int i = 0; i < kh; i++) col.AsSpan()[i] = T.CreateTruncating(cd[i]);
        for (int j = 0; j < kw; j++) rw.AsSpan()[j] = T.CreateTruncating(rd[j]);
        column = col;
        row = rw;
        return true;
    }

    /// <summary>The dense weight [C_out, C_in, kH, kW] equal to a flattened convolution: W[o, c, i, j] = P[o, c]·V[o, i]·H[o, j].</summary>
    /// <param name="pointwise">[C_out, C_in, 1, 1].</param>
    /// <param name="vertical">[C_out, 1, kH, 1].</param>
    /// <param name="horizontal">[C_out, 1, 1, kW].</param>
    public static Tensor<T> ComposeFlattened<T>(Tensor<T> pointwise, Tensor<T> vertical, Tensor<T> horizontal) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (cout, cin, kh, kw) = CheckFlattened(pointwise, vertical, horizontal);
        var w = new Tensor<T>(cout, cin, kh, kw);
        var ws = w.AsSpan();
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        ws[((o * cin + c) * kh + i) * kw + j] = pointwise.AsSpan()[o * cin + c] * vertical.AsSpan()[o * kh + i] * horizontal.AsSpan()[o * kw + j];
        return w;
    }

    /// <summary>The dense weight [C_out, C_in, kH, kW] equal to depthwise (multiplier m) then pointwise:
    /// W[o, c, i, j] = Σ_t P[o, c·m + t]·D[c·m + t, 0, i, j].</summary>
    /// <param name="depthwise">[C_in·m, 1, kH, kW].</param>
    /// <param name="pointwise">[C_out, C_in·m, 1, 1].</param>
    /// <param name="inChannels">C_in.</param>
    public static Tensor<T> ComposeDepthwiseSeparable<T>(Tensor<T> depthwise, Tensor<T> pointwise, int inChannels) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(depthwise);
        ArgumentNullException.ThrowIfNull(pointwise);
        if (inChannels < 1) throw new ArgumentException($"inChannels: must be positive, got {inChannels}.", nameof(inChannels));
        if (depthwise.Rank != 4 || depthwise.Size(1) != 1 || depthwise.Size(0) == 0 || depthwise.Size(0) % inChannels != 0)
            throw new ArgumentException($"depthwise: expected [{inChannels}·m, 1, kH, kW], got {ShapeMath.Format(depthwise.Shape)}.", nameof(depthwise));
        int mid = depthwise.Size(0), kh = depthwise.Size(2), kw = depthwise.Size(3);
        if (pointwise.Rank != 4 || pointwise.Size(1) != mid || pointwise.Size(2) != 1 || pointwise.Size(3) != 1)
            throw new ArgumentException($"pointwise: expected [C_out, {mid}, 1, 1] for depthwise {ShapeMath.Format(depthwise.Shape)}, got {ShapeMath.Format(pointwise.Shape)}.", nameof(pointwise));
        int cout = pointwise.Size(0), m = mid / inChannels;
        var w = new Tensor<T>(cout, inChannels, kh, kw);
        var ws = w.AsSpan();
        var d = depthwise.AsSpan();
        var p = pointwise.AsSpan();
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < inChannels; c++)
                for (int t = 0; t < m; t++)
                {
                    T pv = p[o * mid + c * m + t];
                    for (int e = 0; e < kh * kw; e++) ws[(o * inChannels + c) * kh * kw + e] += pv * d[(c * m + t) * kh * kw + e];
                }
        return w;
    }

    internal static (int Cout, int Cin, int Kh, int Kw) CheckFlattened<T>(Tensor<T> pointwise, Tensor<T> vertical, Tensor<T> horizontal)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(pointwise);
        ArgumentNullException.ThrowIfNull(vertical);
        ArgumentNullException.ThrowIfNull(horizontal);
        if (pointwise.Rank != 4 || pointwise.Size(2) != 1 || pointwise.Size(3) != 1)
            throw new ArgumentException($"pointwise: expected [C_out, C_in, 1, 1], got {ShapeMath.Format(pointwise.Shape)}.", nameof(pointwise));
        int cout = pointwise.Size(0);
        if (vertical.Rank != 4 || vertical.Size(0) != cout || vertical.Size(1) != 1 || vertical.Size(3) != 1)
            throw new ArgumentException($"vertical: expected [{cout}, 1, kH, 1], got {ShapeMath.Format(vertical.Shape)}.", nameof(vertical));
        if (horizontal.Rank != 4 || horizontal.Size(0) != cout || horizontal.Size(1) != 1 || horizontal.Size(2) != 1)
            throw new ArgumentException($"horizontal: expected [{cout}, 1, 1, kW], got {ShapeMath.Format(horizontal.Shape)}.", nameof(horizontal));
        return (cout, pointwise.Size(1), vertical.Size(2), horizontal.Size(3));
    }

    [Op("separable_conv2d")]
    internal static Tensor<T>[] SeparableConv2dOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.SeparableConv2d(c.Input("input"), c.Input("weight"), c.OptionalInput("bias"), c.Dims("stride"), c.Dims("padding"), c.Dims("dilation"))];

    /// <summary>depthwise_separable_conv2d; evaluation-mode batch normalization between the convolutions when
    /// bn_running_mean and bn_running_var are given (bn_weight, bn_bias optional, attr bn_eps).</summary>
    [Op("depthwise_separable_conv2d")]
    internal static Tensor<T>[] DepthwiseSeparableConv2dOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var mean = c.OptionalInput("bn_running_mean");
        var bn = mean is null ? null : new BatchNormArgs<T>(mean, c.Input("bn_running_var"), c.OptionalInput("bn_weight"), c.OptionalInput("bn_bias"),
            Eps: c.Double("bn_eps", 1e-5));
        return [Functional.DepthwiseSeparableConv2d(c.Input("input"), c.Input("depthwise_weight"), c.Input("pointwise_weight"),
            c.OptionalInput("depthwise_bias"), c.OptionalInput("pointwise_bias"), c.Dims("stride"), c.Dims("padding"), c.Dims("dilation"), c.Bool("relu", false), bn)];
    }

    [Op("flattened_conv2d")]
    internal static Tensor<T>[] FlattenedConv2dOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.FlattenedConv2d(c.Input("input"), c.Input("pointwise_weight"), c.Input("vertical_weight"), c.Input("horizontal_weight"),
            c.OptionalInput("bias"), c.Dims("stride"), c.Dims("padding"), c.Dims("dilation"))];

    [Op("shuffled_grouped_conv2d")]
    internal static Tensor<T>[] ShuffledGroupedConv2dOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.ShuffledGroupedConv2d(c.Input("input"), c.Input("weight"), c.OptionalInput("bias"), c.Dims("stride"), c.Dims("padding"),
            c.Dims("dilation"), c.Int("groups", 1))];
}
