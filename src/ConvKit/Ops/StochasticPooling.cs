using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>Validated geometry of a 2-d pooling window sweep (kernel, stride, zero padding) over [N, C, H, W].</summary>
public sealed record StochasticPoolGeometry(int N, int C, int H, int W, int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW, int OutH, int OutW)
{
    /// <summary>Output shape [N, C, H_out, W_out].</summary>
    public int[] OutputShape => [N, C, OutH, OutW];

    /// <summary>Throws <see cref="ArgumentException"/> when a raw buffer is shorter than this geometry needs.</summary>
    internal void Check(int inputLength, int outputLength, string inputName = "x", string outputName = "y")
    {
        if (inputLength < (long)N * C * H * W)
            throw new ArgumentException($"{inputName}: {inputLength} elements, the geometry {this} needs {(long)N * C * H * W}.", inputName);
        if (outputLength < (long)N * C * OutH * OutW)
            throw new ArgumentException($"{outputName}: {outputLength} elements, the geometry {this} needs {(long)N * C * OutH * OutW}.", outputName);
    }

    /// <summary>Validates the arguments like torch.nn.functional.max_pool2d (stride defaults to the kernel size,
    /// padding at most half the kernel) and derives the output size (floor mode).</summary>
    public static StochasticPoolGeometry Create(ReadOnlySpan<int> input, Dims kernelSize, Dims stride, Dims padding)
    {
        if (input.Length != 4)
            throw new ArgumentException($"input: expected [N, C, H, W], got {ShapeMath.Format(input)}.", nameof(input));
        if (kernelSize.IsDefault) throw new ArgumentException("kernelSize: required.", nameof(kernelSize));
        var k = kernelSize.Expand(2, nameof(kernelSize), 1, 1);
        var s = stride.IsDefault || stride.Values.Length == 0 ? k : stride.Expand(2, nameof(stride), 1, 1);
        var p = padding.Expand(2, nameof(padding), 0, 0);
        if (p[0] > k[0] / 2 || p[1] > k[1] / 2)
            throw new ArgumentException($"padding: must be at most half the kernel size {ShapeMath.Format(k)}, got {ShapeMath.Format(p)}.", nameof(padding));
        long ho = ((long)input[2] + 2 * p[0] - k[0]) / s[0] + 1, wo = ((long)input[3] + 2 * p[1] - k[1]) / s[1] + 1;
        if (input[2] + 2L * p[0] < k[0] || input[3] + 2L * p[1] < k[1])
            throw new ArgumentException($"input: padded size ({input[2] + 2L * p[0]}, {input[3] + 2L * p[1]}) is smaller than the kernel {ShapeMath.Format(k)} (input {ShapeMath.Format(input)}).", nameof(input));
        ShapeMath.Numel([input[0], input[1], (int)ho, (int)wo], nameof(input));
        return new StochasticPoolGeometry(input[0], input[1], input[2], input[3], k[0], k[1], s[0], s[1], p[0], p[1], (int)ho, (int)wo);
    }
}

/// <summary>
/// Stochastic pooling (Zeiler and Fergus, 2013) over non-negative activations. Training: each window picks one
/// position i with probability a_i / Σa (one uniform draw per output, in [N, C, H_out, W_out] order, always consumed so
/// that the stream stays aligned), output a_i; a window of zeros outputs 0 and selects nothing (index -1). Inference:
/// the probability-weighted average Σa_i² / Σa_i (0 for a window of zeros). Padding positions are not part of a window.
/// </summary>
public static class StochasticPooling
{
    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="argName"/> when an element is negative or NaN.</summary>
    public static void CheckNonNegative<T>(ReadOnlySpan<T> x, ReadOnlySpan<int> shape, string argName) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++)
            if (!(x[i] >= T.Zero))
                throw new ArgumentException($"{argName}: stochastic pooling needs non-negative activations (e.g. after ReLU); element {i} of {ShapeMath.Format(shape)} is {x[i]}.", argName);
    }

    /// <summary>
    /// Training forward: samples one position per window. <paramref name="indices"/> receives the flat h·W + w index of
    /// the chosen position within its plane, or -1 for an all-zero window.
    /// </summary>
    public static void ForwardTraining<T>(StochasticPoolGeometry g, ReadOnlySpan<T> x, Span<T> y, Span<int> indices, SeededRandom rng)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        g.Check(x.Length, Math.Min(y.Length, indices.Length));
        int hw = g.H * g.W, op = g.OutH * g.OutW;
        for (int plane = 0; plane < g.N * g.C; plane++)
        {
            var xp = x.Slice(plane * hw, hw);
            for (int oh = 0; oh < g.OutH; oh++)
            {
                int h0 = Math.Max(0, oh * g.StrideH - g.PadH), h1 = Math.Min(g.H, oh * g.StrideH - g.PadH + g.KernelH);
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    int w0 = Math.Max(0, ow * g.StrideW - g.PadW), w1 = Math.Min(g.W, ow * g.StrideW - g.PadW + g.KernelW);
                    double sum = 0;
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++) sum += double.CreateTruncating(xp[h * g.W + w]);
                    double u = rng.NextDouble() * sum;
                    int o = plane * op + oh * g.OutW + ow, pick = -1;
                    if (sum > 0)
                    {
                        // Inverse CDF; the last positive entry absorbs rounding so that u ≈ sum still picks a valid position.
                        double cum = 0;
                        for (int h = h0; h < h1 && (pick < 0 || cum <= u); h++)
                            for (int w = w0; w < w1; w++)
                            {
                                double a = double.CreateTruncating(xp[h * g.W + w]);
                                if (a <= 0) continue;
                                pick = h * g.W + w;
                                cum += a;
                                if (cum > u) break;
                            }
                    }
                    indices[o] = pick;
                    y[o] = pick < 0 ? T.Zero : xp[pick];
                }
            }
        }
    }

    /// <summary>Inference forward: Σa² / Σa per window (0 when the window is all zeros).</summary>
    public static void ForwardInference<T>(StochasticPoolGeometry g, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        g.Check(x.Length, y.Length);
        int hw = g.H * g.W, op = g.OutH * g.OutW;
        for (int plane = 0; plane < g.N * g.C; plane++)
        {
            var xp = x.Slice(plane * hw, hw);
            for (int oh = 0; oh < g.OutH; oh++)
            {
                int h0 = Math.Max(0, oh * g.StrideH - g.PadH), h1 = Math.Min(g.H, oh * g.StrideH - g.PadH + g.KernelH);
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    int w0 = Math.Max(0, ow * g.StrideW - g.PadW), w1 = Math.Min(g.W, ow * g.StrideW - g.PadW + g.KernelW);
                    double s1 = 0, s2 = 0;
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++)
                        {
                            double a = double.CreateTruncating(xp[h * g.W + w]);
                            s1 += a; s2 += a * a;
                        }
                    y[plane * op + oh * g.OutW + ow] = s1 > 0 ? T.CreateTruncating(s2 / s1) : T.Zero;
                }
            }
        }
    }

    /// <summary>Training backward: each output's gradient goes to its sampled position only (none for index -1).</summary>
    public static void BackwardTraining<T>(StochasticPoolGeometry g, ReadOnlySpan<T> gradOutput, ReadOnlySpan<int> indices, Span<T> gradInput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        g.Check(gradInput.Length, Math.Min(gradOutput.Length, indices.Length), "gradInput", "gradOutput");
        int hw = g.H * g.W, op = g.OutH * g.OutW;
        gradInput.Clear();
        for (int plane = 0; plane < g.N * g.C; plane++)
            for (int q = 0; q < op; q++)
            {
                int idx = indices[plane * op + q];
                if ((uint)idx >= (uint)hw && idx != -1)
                    throw new ArgumentException($"indices: entry {plane * op + q} is {idx}, not -1 or a position in a plane of {hw}.", nameof(indices));
                if (idx >= 0) gradInput[plane * hw + idx] += gradOutput[plane * op + q];
            }
    }

    /// <summary>Inference backward: ∂(Σa²/Σa)/∂a_j = (2·a_j·Σa - Σa²) / (Σa)² (0 for an all-zero window).</summary>
    public static void BackwardInference<T>(StochasticPoolGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> gradOutput, Span<T> gradInput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        g.Check(Math.Min(x.Length, gradInput.Length), gradOutput.Length, "x", "gradOutput");
        int hw = g.H * g.W, op = g.OutH * g.OutW;
        gradInput.Clear();
        for (int plane = 0; plane < g.N * g.C; plane++)
        {
            var xp = x.Slice(plane * hw, hw);
            var gp = gradInput.Slice(plane * hw, hw);
            for (int oh = 0; oh < g.OutH; oh++)
            {
                int h0 = Math.Max(0, oh * g.StrideH - g.PadH), h1 = Math.Min(g.H, oh * g.StrideH - g.PadH + g.KernelH);
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    int w0 = Math.Max(0, ow * g.StrideW - g.PadW), w1 = Math.Min(g.W, ow * g.StrideW - g.PadW + g.KernelW);
                    double s1 = 0, s2 = 0;
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++)
                        {
                            double a = double.CreateTruncating(xp[h * g.W + w]);
                            s1 += a; s2 += a * a;
                        }
                    if (s1 <= 0) continue;
                    double go = double.CreateTruncating(gradOutput[plane * op + oh * g.OutW + ow]);
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++)
                        {
                            double a = double.CreateTruncating(xp[h * g.W + w]);
                            gp[h * g.W + w] += T.CreateTruncating(go * (2 * a * s1 - s2) / (s1 * s1));
                        }
                }
            }
        }
    }

    /// <summary>
    /// Plain reference twin of both forward modes: enumerates each window's taps over the padded grid (skipping padding),
    /// builds the explicit probability list and samples from it with the same draw order as the fast path.
    /// </summary>
    public static void ForwardReference<T>(StochasticPoolGeometry g, ReadOnlySpan<T> x, Span<T> y, Span<int> indices, SeededRandom? rng)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        g.Check(x.Length, rng is null ? y.Length : Math.Min(y.Length, indices.Length));
        var pos = new List<int>();
        var val = new List<double>();
        for (int n = 0; n < g.N; n++)
            for (int c = 0; c < g.C; c++)
                for (int oh = 0; oh < g.OutH; oh++)
                    for (int ow = 0; ow < g.OutW; ow++)
                    {
                        pos.Clear(); val.Clear();
                        for (int i = 0; i < g.KernelH; i++)
                            for (int j = 0; j < g.KernelW; j++)
                            {
                                int h = oh * g.StrideH - g.PadH + i, w = ow * g.StrideW - g.PadW + j;
                                if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
                                pos.Add(h * g.W + w);
                                val.Add(double.CreateTruncating(x[((n * g.C + c) * g.H + h) * g.W + w]));
                            }
                        double sum = val.Sum();
                        int o = ((n * g.C + c) * g.OutH + oh) * g.OutW + ow;
                        if (rng is null)
                        {
                            y[o] = sum > 0 ? T.CreateTruncating(val.Sum(a => a * a) / sum) : T.Zero;
                            continue;
                        }
                        double u = rng.NextDouble() * sum;
                        int pick = -1;
                        double cum = 0;
                        for (int t = 0; t < val.Count && sum > 0; t++)
                        {
                            if (val[t] <= 0) continue;
                            pick = t;
                            cum += val[t];
                            if (cum > u) break;
                        }
                        indices[o] = pick < 0 ? -1 : pos[pick];
                        y[o] = pick < 0 ? T.Zero : T.CreateTruncating(val[pick]);
                    }
    }

    [Op("stochastic_pool2d")]
    internal static Tensor<T>[] StochasticPool2dOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool training = c.Bool("training", true);
        var gen = new SeededRandom((ulong)c.Int("seed", 0));
        var (y, idx) = Functional.StochasticPool2dWithIndices(c.Input("input"), c.Dims("kernel_size"), c.Dims("stride"), c.Dims("padding"), training, gen);
        c.IntegerOutputs.Add(1);
        return [y, idx];
    }
}
