using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using ConvKit.Descriptors;
using ConvKit.Kernels;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>
/// Validated geometry of a deformable convolution (torchvision.ops.deform_conv2d): input [N, C_in, H, W],
/// offset [N, 2·offsetGroups·kH·kW, H_out, W_out] with (dy, dx) interleaved per kernel tap, optional mask
/// [N, offsetGroups·kH·kW, H_out, W_out], weight [C_out, C_in/groups, kH, kW]. Weight groups and offset groups
/// are inferred from the shapes exactly as torchvision does.
/// </summary>
public sealed record DeformConvGeometry(int N, int InChannels, int H, int W, int OutChannels, int KernelH, int KernelW,
    int StrideH, int StrideW, int PadH, int PadW, int DilationH, int DilationW, int OutH, int OutW, int Groups, int OffsetGroups, bool HasMask)
{
    /// <summary>Taps per kernel (kH·kW).</summary>
    public int Taps => KernelH * KernelW;
    /// <summary>Output positions per sample (H_out·W_out).</summary>
    public int OutPlane => OutH * OutW;
    /// <summary>Output shape [N, C_out, H_out, W_out].</summary>
    public int[] OutputShape => [N, OutChannels, OutH, OutW];

    /// <summary>Validates every shape and derives the output size; throws <see cref="ArgumentException"/> naming the
    /// offending argument and the shapes involved.</summary>
    public static DeformConvGeometry Create(ReadOnlySpan<int> input, ReadOnlySpan<int> offset, ReadOnlySpan<int> weight,
        ReadOnlySpan<int> bias, bool hasBias, ReadOnlySpan<int> mask, bool hasMask, Dims stride, Dims padding, Dims dilation)
    {
        if (input.Length != 4)
            throw new ArgumentException($"input: expected [N, C_in, H, W], got {ShapeMath.Format(input)}.", nameof(input));
        if (weight.Length != 4)
            throw new ArgumentException($"weight: expected [C_out, C_in/groups, kH, kW], got {ShapeMath.Format(weight)}.", nameof(weight));
        var s = stride.Expand(2, nameof(stride), 1, 1);
        var p = padding.Expand(2, nameof(padding), 0, 0);
        var d = dilation.Expand(2, nameof(dilation), 1, 1);
        int n = input[0], cin = input[1], h = input[2], w = input[3];
        int cout = weight[0], cg = weight[1], kh = weight[2], kw = weight[3];
        if (kh < 1 || kw < 1 || cg < 1 || cout < 1)
            throw new ArgumentException($"weight: sizes must be positive, got {ShapeMath.Format(weight)}.", nameof(weight));
        if (cin % cg != 0)
            throw new ArgumentException($"weight: C_in/groups = {cg} does not divide the {cin} input channels (input {ShapeMath.Format(input)}, weight {ShapeMath.Format(weight)}).", nameof(weight));
        int groups = cin / cg;
        if (cout % groups != 0)
            throw new ArgumentException($"weight: {cout} output channels are not divisible by groups = {groups} (input {ShapeMath.Format(input)}, weight {ShapeMath.Format(weight)}).", nameof(weight));
        long effH = (long)d[0] * (kh - 1) + 1, effW = (long)d[1] * (kw - 1) + 1;
        long ho = (h + 2L * p[0] - effH) / s[0] + 1, wo = (w + 2L * p[1] - effW) / s[1] + 1;
        if (h + 2L * p[0] < effH || w + 2L * p[1] < effW || ho < 1 || wo < 1)
            throw new ArgumentException($"input: padded size ({h + 2L * p[0]}, {w + 2L * p[1]}) is smaller than the dilated kernel ({effH}, {effW}) (input {ShapeMath.Format(input)}, weight {ShapeMath.Format(weight)}).", nameof(input));
        int taps = kh * kw;
        if (offset.Length != 4 || offset[0] != n || offset[1] == 0 || offset[1] % (2 * taps) != 0 || offset[2] != ho || offset[3] != wo)
            throw new ArgumentException($"offset: expected [{n}, 2·offset_groups·{kh}·{kw}, {ho}, {wo}] for input {ShapeMath.Format(input)} and weight {ShapeMath.Format(weight)}, got {ShapeMath.Format(offset)}.", nameof(offset));
        int og = offset[1] / (2 * taps);
        if (cin % og != 0)
            throw new ArgumentException($"offset: {og} offset groups (offset {ShapeMath.Format(offset)}) do not divide the {cin} input channels.", nameof(offset));
        if (hasMask && (mask.Length != 4 || mask[0] != n || mask[1] != og * taps || mask[2] != ho || mask[3] != wo))
            throw new ArgumentException($"mask: expected [{n}, {og * taps}, {ho}, {wo}] (offset_groups·kH·kW from offset {ShapeMath.Format(offset)}), got {ShapeMath.Format(mask)}.", nameof(mask));
        if (hasBias && (bias.Length != 1 || bias[0] != cout))
            throw new ArgumentException($"bias: expected [{cout}], got {ShapeMath.Format(bias)}.", nameof(bias));
        ShapeMath.Numel([cin * taps, (int)ho, (int)wo], "input");
        return new DeformConvGeometry(n, cin, h, w, cout, kh, kw, s[0], s[1], p[0], p[1], d[0], d[1], (int)ho, (int)wo, groups, og, hasMask);
    }
}

/// <summary>
/// Deformable convolution v1 (no mask) and v2 (modulated by a mask), torchvision's semantics: each kernel tap samples
/// the input at its regular position plus a learned (dy, dx) offset by bilinear interpolation, where a point with
/// y ≤ -1, y ≥ H, x ≤ -1 or x ≥ W reads 0 and otherwise every in-range corner contributes its bilinear weight.
/// Forward is deformable im2col + GEMM; <see cref="ForwardReference{T}"/> is the plain-loop twin.
/// Sample coordinates and interpolation weights are computed in double for both element types, so that float and
/// double agree on which cell a point falls in.
/// </summary>
public static class DeformConv
{
    private static ReadOnlySpan<T> Plane<T>(ReadOnlySpan<T> s, int index, int size) => s.Slice(index * size, size);

    /// <summary>Bilinear sample of one H×W plane at (y, x); 0 outside (-1, H)×(-1, W), missing corners read 0.</summary>
    public static double Sample<T>(ReadOnlySpan<T> plane, int h, int w, double y, double x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (y <= -1 || y >= h || x <= -1 || x >= w) return 0;
        int y0 = (int)Math.Floor(y), x0 = (int)Math.Floor(x), y1 = y0 + 1, x1 = x0 + 1;
        double ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx;
        double v = 0;
        if (y0 >= 0 && x0 >= 0) v += hy * hx * double.CreateTruncating(plane[y0 * w + x0]);
        if (y0 >= 0 && x1 < w) v += hy * lx * double.CreateTruncating(plane[y0 * w + x1]);
        if (y1 < h && x0 >= 0) v += ly * hx * double.CreateTruncating(plane[y1 * w + x0]);
        if (y1 < h && x1 < w) v += ly * lx * double.CreateTruncating(plane[y1 * w + x1]);
        return v;
    }

    /// <summary>Throws <see cref="ArgumentException"/> when a buffer is shorter than the geometry needs (the raw-span
    /// entry points are public, so their lengths are never trusted).</summary>
    private static void Need<T>(ReadOnlySpan<T> s, long needed, string name, DeformConvGeometry g)
    {
        if (s.Length < needed)
            throw new ArgumentException($"{name}: {s.Length} elements, the geometry {g} needs {needed}.", name);
    }

    private static void CheckBuffers<T>(DeformConvGeometry g, int samples, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask)
    {
        long op = g.OutPlane;
        Need(x, (long)samples * g.InChannels * g.H * g.W, "input", g);
        Need(offset, samples * 2L * g.OffsetGroups * g.Taps * op, "offset", g);
        if (g.HasMask) Need(mask, samples * (long)g.OffsetGroups * g.Taps * op, "mask", g);
    }

    /// <summary>Deformable im2col of one sample: columns [C_in·kH·kW, H_out·W_out], row c·kH·kW + i·kW + j holds
    /// mask·sample for channel c and tap (i, j). The sampling table (corner indices and mask-scaled bilinear weights) of
    /// each (offset group, tap) is built once and shared by the group's channels; large calls split the output
    /// positions in two halves run in parallel.</summary>
    public static unsafe void Im2Col<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask, Span<T> columns)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int op = g.OutPlane;
        CheckBuffers(g, 1, x, offset, mask);
        Need<T>(columns, (long)g.InChannels * g.Taps * op, "columns", g);
        int parts = (long)g.InChannels * g.Taps * op >= ParallelThreshold ? Math.Clamp(Gemm.MaxThreads, 1, 2) : 1;
        if (parts == 1 || op < 2) { Im2ColRange(g, x, offset, mask, columns, 0, op); return; }
        fixed (T* px = x, po = offset, pm = mask, pc = columns)
        {
            nint ax = (nint)px, ao = (nint)po, am = (nint)pm, ac = (nint)pc;
            int lx = x.Length, lo = offset.Length, lm = mask.Length, lc = columns.Length;
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
                Im2ColRange(g, new ReadOnlySpan<T>((void*)ax, lx), new ReadOnlySpan<T>((void*)ao, lo), new ReadOnlySpan<T>((void*)am, lm),
                    new Span<T>((void*)ac, lc), (int)((long)op * part / parts), (int)((long)op * (part + 1) / parts)));
        }
    }

    /// <summary>Work above which im2col and the backward scatter use two threads.</summary>
    internal const long ParallelThreshold = 1L << 16;

    private static void Im2ColRange<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask, Span<T> columns, int q0, int q1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = g.Taps, op = g.OutPlane, hw = g.H * g.W, cPerOg = g.InChannels / g.OffsetGroups, len = q1 - q0;
        var idx = new int[4 * len];
        var wts = new T[4 * len];
        for (int og = 0; og < g.OffsetGroups; og++)
            for (int tap = 0; tap < taps; tap++)
            {
                int i = tap / g.KernelW, j = tap % g.KernelW;
                var offY = offset.Slice((og * 2 * taps + 2 * tap) * op, op);
                var offX = offset.Slice((og * 2 * taps + 2 * tap + 1) * op, op);
                var m = g.HasMask ? mask.Slice((og * taps + tap) * op, op) : default;
                for (int q = q0; q < q1; q++)
                {
                    int oh = q / g.OutW, ow = q - oh * g.OutW, t = 4 * (q - q0);
                    double yy = oh * g.StrideH - g.PadH + i * g.DilationH + double.CreateTruncating(offY[q]);
                    double xx = ow * g.StrideW - g.PadW + j * g.DilationW + double.CreateTruncating(offX[q]);
                    if (yy <= -1 || yy >= g.H || xx <= -1 || xx >= g.W)
                    {
                        idx[t] = idx[t + 1] = idx[t + 2] = idx[t + 3] = -1;
                        continue;
                    }
                    int y0 = (int)Math.Floor(yy), x0 = (int)Math.Floor(xx), y1 = y0 + 1, x1 = x0 + 1;
                    double ly = yy - y0, lx = xx - x0, hy = 1 - ly, hx = 1 - lx;
                    double mv = g.HasMask ? double.CreateTruncating(m[q]) : 1;
                    bool vy0 = y0 >= 0, vy1 = y1 < g.H, vx0 = x0 >= 0, vx1 = x1 < g.W;
                    idx[t] = vy0 && vx0 ? y0 * g.W + x0 : -1;
                    idx[t + 1] = vy0 && vx1 ? y0 * g.W + x1 : -1;
                    idx[t + 2] = vy1 && vx0 ? y1 * g.W + x0 : -1;
                    idx[t + 3] = vy1 && vx1 ? y1 * g.W + x1 : -1;
                    wts[t] = T.CreateTruncating(hy * hx * mv);
                    wts[t + 1] = T.CreateTruncating(hy * lx * mv);
                    wts[t + 2] = T.CreateTruncating(ly * hx * mv);
                    wts[t + 3] = T.CreateTruncating(ly * lx * mv);
                }
                for (int c = og * cPerOg; c < (og + 1) * cPerOg; c++)
                {
                    var plane = x.Slice(c * hw, hw);
                    var col = columns.Slice((c * taps + tap) * op, op);
                    for (int q = q0, t = 0; q < q1; q++, t += 4)
                    {
                        // Missing corners are skipped rather than weighted by 0, so Inf/NaN there cannot leak in.
                        T v = T.Zero;
                        if (idx[t] >= 0) v += wts[t] * plane[idx[t]];
                        if (idx[t + 1] >= 0) v += wts[t + 1] * plane[idx[t + 1]];
                        if (idx[t + 2] >= 0) v += wts[t + 2] * plane[idx[t + 2]];
                        if (idx[t + 3] >= 0) v += wts[t + 3] * plane[idx[t + 3]];
                        col[q] = v;
                    }
                }
            }
    }

    /// <summary>Forward pass: per sample, deformable im2col then one GEMM per weight group, plus bias.</summary>
    public static void Forward<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = g.Taps, op = g.OutPlane, cg = g.InChannels / g.Groups, og = g.OutChannels / g.Groups, kdim = cg * taps;
        int xs = g.InChannels * g.H * g.W, offs = 2 * g.OffsetGroups * taps * op, ms = g.OffsetGroups * taps * op, ys = g.OutChannels * op;
        CheckBuffers(g, g.N, x, offset, mask);
        Need(weight, (long)g.OutChannels * kdim, "weight", g);
        Need<T>(y, (long)g.N * ys, "output", g);
        if (!bias.IsEmpty) Need(bias, g.OutChannels, "bias", g);
        // Column buffers come from the shared pool: Im2Col overwrites every element it owns.
        var cols = ArrayPool<T>.Shared.Rent(g.InChannels * taps * op);
        try
        {
            for (int n = 0; n < g.N; n++)
            {
                Im2Col(g, x.Slice(n * xs, xs), offset.Slice(n * offs, offs), g.HasMask ? mask.Slice(n * ms, ms) : default, cols);
                var yn = y.Slice(n * ys, ys);
                for (int grp = 0; grp < g.Groups; grp++)
                    MatMul(false, false, og, op, kdim, weight.Slice(grp * og * kdim), kdim, cols.AsSpan(grp * kdim * op), op,
                        false, yn.Slice(grp * og * op), op);
                if (!bias.IsEmpty)
                    for (int o = 0; o < g.OutChannels; o++)
                    {
                        var row = yn.Slice(o * op, op);
                        for (int q = 0; q < op; q++) row[q] += bias[o];
                    }
            }
        }
        finally { ArrayPool<T>.Shared.Return(cols); }
    }

    /// <summary>Plain-loop reference forward (direct sum, double accumulation): the twin of <see cref="Forward{T}"/>.</summary>
    public static void ForwardReference<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = g.Taps, op = g.OutPlane, hw = g.H * g.W, cg = g.InChannels / g.Groups, ocg = g.OutChannels / g.Groups;
        int cPerOg = g.InChannels / g.OffsetGroups;
        CheckBuffers(g, g.N, x, offset, mask);
        Need(weight, (long)g.OutChannels * cg * taps, "weight", g);
        Need<T>(y, (long)g.N * g.OutChannels * op, "output", g);
        if (!bias.IsEmpty) Need(bias, g.OutChannels, "bias", g);
        for (int n = 0; n < g.N; n++)
            for (int o = 0; o < g.OutChannels; o++)
            {
                int grp = o / ocg;
                for (int oh = 0; oh < g.OutH; oh++)
                    for (int ow = 0; ow < g.OutW; ow++)
                    {
                        int q = oh * g.OutW + ow;
                        double acc = bias.IsEmpty ? 0 : double.CreateTruncating(bias[o]);
                        for (int cc = 0; cc < cg; cc++)
                        {
                            int c = grp * cg + cc, ogi = c / cPerOg;
                            var plane = x.Slice((n * g.InChannels + c) * hw, hw);
                            for (int i = 0; i < g.KernelH; i++)
                                for (int j = 0; j < g.KernelW; j++)
                                {
                                    int tap = i * g.KernelW + j;
                                    double dy = double.CreateTruncating(offset[((n * g.OffsetGroups + ogi) * 2 * taps + 2 * tap) * op + q]);
                                    double dx = double.CreateTruncating(offset[((n * g.OffsetGroups + ogi) * 2 * taps + 2 * tap + 1) * op + q]);
                                    double v = Sample(plane, g.H, g.W, oh * g.StrideH - g.PadH + i * g.DilationH + dy, ow * g.StrideW - g.PadW + j * g.DilationW + dx);
                                    if (g.HasMask) v *= double.CreateTruncating(mask[((n * g.OffsetGroups + ogi) * taps + tap) * op + q]);
                                    acc += double.CreateTruncating(weight[((o * cg + cc) * g.KernelH + i) * g.KernelW + j]) * v;
                                }
                        }
                        y[(n * g.OutChannels + o) * op + q] = T.CreateTruncating(acc);
                    }
            }
    }

    /// <summary>
    /// Backward pass: gradients for input, offset, weight, bias (when <paramref name="gradBias"/> is not empty) and
    /// mask (when the geometry has one). Weight and column gradients are GEMMs; the column gradient is scattered to
    /// the input's bilinear corners, and the offset gradient is the derivative of the bilinear sample along y and x
    /// (from the corners in range, so a point exactly on y = -1 or x = -1 still gets the derivative towards the
    /// inside), matching torchvision's kernels. The scatter shares one sampling table per (offset group, tap) among
    /// the group's channels and splits the channels over two threads for large calls.
    /// </summary>
    public static void Backward<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> gradOutput, Span<T> gradInput, Span<T> gradOffset, Span<T> gradWeight,
        Span<T> gradBias, Span<T> gradMask) where T : unmanaged, IFloatingPointIeee754<T>
        => BackwardCore(g, x, offset, mask, weight, gradOutput, gradInput, gradOffset, gradWeight, gradBias, gradMask, reference: false);

    /// <summary>Plain-loop twin of <see cref="Backward{T}"/>: double-accumulating matrix products and a direct per-sample
    /// scatter that recomputes every coordinate.</summary>
    public static void BackwardReference<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> gradOutput, Span<T> gradInput, Span<T> gradOffset, Span<T> gradWeight,
        Span<T> gradBias, Span<T> gradMask) where T : unmanaged, IFloatingPointIeee754<T>
        => BackwardCore(g, x, offset, mask, weight, gradOutput, gradInput, gradOffset, gradWeight, gradBias, gradMask, reference: true);

    private static unsafe void BackwardCore<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> gradOutput, Span<T> gradInput, Span<T> gradOffset, Span<T> gradWeight,
        Span<T> gradBias, Span<T> gradMask, bool reference) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = g.Taps, op = g.OutPlane, hw = g.H * g.W, cg = g.InChannels / g.Groups, ocg = g.OutChannels / g.Groups, kdim = cg * taps;
        int xs = g.InChannels * hw, offs = 2 * g.OffsetGroups * taps * op, ms = g.OffsetGroups * taps * op, ys = g.OutChannels * op;
        CheckBuffers(g, g.N, x, offset, mask);
        Need(weight, (long)g.OutChannels * kdim, "weight", g);
        Need(gradOutput, (long)g.N * ys, "gradOutput", g);
        Need<T>(gradInput, (long)g.N * xs, "gradInput", g);
        Need<T>(gradOffset, (long)g.N * offs, "gradOffset", g);
        Need<T>(gradWeight, (long)g.OutChannels * kdim, "gradWeight", g);
        if (!gradBias.IsEmpty) Need<T>(gradBias, g.OutChannels, "gradBias", g);
        if (g.HasMask) Need<T>(gradMask, (long)g.N * ms, "gradMask", g);
        int parts = !reference && (long)g.InChannels * taps * op >= ParallelThreshold && g.InChannels > 1 ? Math.Clamp(Gemm.MaxThreads, 1, 2) : 1;
        int colLen = g.InChannels * taps * op;
        var cols = ArrayPool<T>.Shared.Rent(colLen);
        var gcols = ArrayPool<T>.Shared.Rent(colLen);
        Array.Clear(gcols, 0, colLen); // every row is written by a GEMM with beta = 0; cleared so stale data can never matter
        try
        {
        var goffAcc = new double[parts][];
        var gmaskAcc = new double[parts][];
        for (int t = 0; t < parts; t++) { goffAcc[t] = new double[offs]; gmaskAcc[t] = new double[ms]; }
            gradInput.Clear(); gradWeight.Clear(); gradBias.Clear();
            for (int n = 0; n < g.N; n++)
            {
                var xn = x.Slice(n * xs, xs);
                var offn = offset.Slice(n * offs, offs);
                var mn = g.HasMask ? mask.Slice(n * ms, ms) : default;
                var gyn = gradOutput.Slice(n * ys, ys);
                if (reference) Im2ColReference(g, xn, offn, mn, cols);
                else Im2Col(g, xn, offn, mn, cols);
                for (int grp = 0; grp < g.Groups; grp++)
                {
                    // dW_g += dY_g · cols_gᵀ ; dcols_g = W_gᵀ · dY_g
                    MatMul(false, true, ocg, kdim, op, gyn.Slice(grp * ocg * op), op, cols.AsSpan(grp * kdim * op), op, true,
                        gradWeight.Slice(grp * ocg * kdim), kdim, plain: reference);
                    MatMul(true, false, kdim, op, ocg, weight.Slice(grp * ocg * kdim), kdim, gyn.Slice(grp * ocg * op), op, false,
                        gcols.AsSpan(grp * kdim * op), op, plain: reference);
                }
                if (!gradBias.IsEmpty)
                    for (int o = 0; o < g.OutChannels; o++)
                    {
                        double acc = 0;
                        foreach (var v in gyn.Slice(o * op, op)) acc += double.CreateTruncating(v);
                        gradBias[o] += T.CreateTruncating(acc);
                    }
                for (int t = 0; t < parts; t++) { Array.Clear(goffAcc[t]); Array.Clear(gmaskAcc[t]); }
                var gxn = gradInput.Slice(n * xs, xs);
                if (reference) ScatterReference(g, xn, offn, mn, gcols, gxn, goffAcc[0], gmaskAcc[0]);
                else if (parts == 1) ScatterTable(g, xn, offn, mn, gcols, gxn, goffAcc[0], gmaskAcc[0], 0, g.InChannels);
                else
                    fixed (T* px = xn, po = offn, pm = mn, pg = gxn)
                    {
                        nint ax = (nint)px, ao = (nint)po, am = (nint)pm, ag = (nint)pg;
                        int lx = xn.Length, lo = offn.Length, lm = mn.Length, lg = gxn.Length, cin = g.InChannels;
                        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
                            ScatterTable(g, new ReadOnlySpan<T>((void*)ax, lx), new ReadOnlySpan<T>((void*)ao, lo), new ReadOnlySpan<T>((void*)am, lm),
                                gcols, new Span<T>((void*)ag, lg), goffAcc[part], gmaskAcc[part], cin * part / parts, cin * (part + 1) / parts));
                    }
                var goffn = gradOffset.Slice(n * offs, offs);
                for (int k = 0; k < offs; k++)
                {
                    double acc = 0;
                    for (int t = 0; t < parts; t++) acc += goffAcc[t][k];
                    goffn[k] = T.CreateTruncating(acc);
                }
                if (g.HasMask)
                {
                    var gmn = gradMask.Slice(n * ms, ms);
                    for (int k = 0; k < ms; k++)
                    {
                        double acc = 0;
                        for (int t = 0; t < parts; t++) acc += gmaskAcc[t][k];
                        gmn[k] = T.CreateTruncating(acc);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(cols);
            ArrayPool<T>.Shared.Return(gcols);
        }
    }

    /// <summary>Direct im2col (every sample computed from scratch by <see cref="Sample{T}"/>), the reference twin of <see cref="Im2Col{T}"/>.</summary>
    public static void Im2ColReference<T>(DeformConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> offset, ReadOnlySpan<T> mask, Span<T> columns)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = g.Taps, op = g.OutPlane, hw = g.H * g.W, cPerOg = g.InChannels / g.OffsetGroups;
        CheckBuffers(g, 1, x, offset, mask);
        Need<T>(columns, (long)g.InChannels * taps * op, "columns", g);
        for (int c = 0; c < g.InChannels; c++)
            for (int tap = 0; tap < taps; tap++)
            {
                int og = c / cPerOg, i = tap / g.KernelW, j = tap % g.KernelW;
                for (int q = 0; q < op; q++)
                {
                    int oh = q / g.OutW, ow = q % g.OutW;
                    double yy = oh * g.StrideH - g.PadH + i * g.DilationH + double.CreateTruncating(offset[(og * 2 * taps + 2 * tap) * op + q]);
                    double xx = ow * g.StrideW - g.PadW + j * g.DilationW + double.CreateTruncating(offset[(og * 2 * taps + 2 * tap + 1) * op + q]);
                    double v = Sample(x.Slice(c * hw, hw), g.H, g.W, yy, xx);
                    if (g.HasMask) v *= double.CreateTruncating(mask[(og * taps + tap) * op + q]);
                    columns[(c * taps + tap) * op + q] = T.CreateTruncating(v);
                }
            }
    }

    /// <summary>Scatter of channels [c0, c1): input gradient into <paramref name="gx"/> (disjoint planes per channel), offset
    /// and mask gradients into the caller's private accumulators.</summary>
    private static void ScatterTable<T>(DeformConvGeometry g, ReadOnlySpan<T> xn, ReadOnlySpan<T> offn, ReadOnlySpan<T> mn, T[] gcols,
        Span<T> gx, double[] goffAcc, double[] gmaskAcc, int c0, int c1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = g.Taps, op = g.OutPlane, hw = g.H * g.W, cPerOg = g.InChannels / g.OffsetGroups;
        var idx = new int[4 * op];
        var f = new double[5 * op]; // hy, ly, hx, lx, mask per position
        var live = new bool[op];
        for (int og = c0 / cPerOg; og <= (c1 - 1) / cPerOg; og++)
        {
            int cs = Math.Max(c0, og * cPerOg), ce = Math.Min(c1, (og + 1) * cPerOg);
            for (int tap = 0; tap < taps; tap++)
            {
                int i = tap / g.KernelW, j = tap % g.KernelW;
                int offRowY = (og * 2 * taps + 2 * tap) * op, offRowX = offRowY + op, mRow = (og * taps + tap) * op;
                for (int q = 0; q < op; q++)
                {
                    int oh = q / g.OutW, ow = q - oh * g.OutW;
                    double yy = oh * g.StrideH - g.PadH + i * g.DilationH + double.CreateTruncating(offn[offRowY + q]);
                    double xx = ow * g.StrideW - g.PadW + j * g.DilationW + double.CreateTruncating(offn[offRowX + q]);
                    // Beyond these bounds no corner is in range. Exactly y = -1 (or x = -1) is kept: the value is
                    // 0 there, but torchvision's offset gradient is the one-sided derivative from inside.
                    live[q] = !(yy < -1 || yy >= g.H || xx < -1 || xx >= g.W);
                    if (!live[q]) continue;
                    int y0 = (int)Math.Floor(yy), x0 = (int)Math.Floor(xx), y1 = y0 + 1, x1 = x0 + 1;
                    bool vy0 = y0 >= 0, vy1 = y1 < g.H, vx0 = x0 >= 0, vx1 = x1 < g.W;
                    idx[4 * q] = vy0 && vx0 ? y0 * g.W + x0 : -1;
                    idx[4 * q + 1] = vy0 && vx1 ? y0 * g.W + x1 : -1;
                    idx[4 * q + 2] = vy1 && vx0 ? y1 * g.W + x0 : -1;
                    idx[4 * q + 3] = vy1 && vx1 ? y1 * g.W + x1 : -1;
                    double ly = yy - y0, lx = xx - x0;
                    f[5 * q] = 1 - ly; f[5 * q + 1] = ly; f[5 * q + 2] = 1 - lx; f[5 * q + 3] = lx;
                    f[5 * q + 4] = g.HasMask ? double.CreateTruncating(mn[mRow + q]) : 1;
                }
                for (int c = cs; c < ce; c++)
                {
                    var plane = xn.Slice(c * hw, hw);
                    var gplane = gx.Slice(c * hw, hw);
                    var gc = gcols.AsSpan((c * taps + tap) * op, op);
                    for (int q = 0; q < op; q++)
                    {
                        if (!live[q]) continue;
                        double gv = double.CreateTruncating(gc[q]);
                        if (gv == 0) continue;
                        int t = 4 * q;
                        double hy = f[5 * q], ly = f[5 * q + 1], hx = f[5 * q + 2], lx = f[5 * q + 3], s = f[5 * q + 4] * gv;
                        int i00 = idx[t], i01 = idx[t + 1], i10 = idx[t + 2], i11 = idx[t + 3];
                        double v00 = 0, v01 = 0, v10 = 0, v11 = 0;
                        if (i00 >= 0) { v00 = double.CreateTruncating(plane[i00]); gplane[i00] += T.CreateTruncating(s * hy * hx); }
                        if (i01 >= 0) { v01 = double.CreateTruncating(plane[i01]); gplane[i01] += T.CreateTruncating(s * hy * lx); }
                        if (i10 >= 0) { v10 = double.CreateTruncating(plane[i10]); gplane[i10] += T.CreateTruncating(s * ly * hx); }
                        if (i11 >= 0) { v11 = double.CreateTruncating(plane[i11]); gplane[i11] += T.CreateTruncating(s * ly * lx); }
                        goffAcc[offRowY + q] += s * (hx * (v10 - v00) + lx * (v11 - v01));
                        goffAcc[offRowX + q] += s * (hy * (v01 - v00) + ly * (v11 - v10));
                        if (g.HasMask) gmaskAcc[mRow + q] += gv * (hy * hx * v00 + hy * lx * v01 + ly * hx * v10 + ly * lx * v11);
                    }
                }
            }
        }
    }

    private static void ScatterReference<T>(DeformConvGeometry g, ReadOnlySpan<T> xn, ReadOnlySpan<T> offn, ReadOnlySpan<T> mn, T[] gcols,
        Span<T> gxn, double[] goffAcc, double[] gmaskAcc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = g.Taps, op = g.OutPlane, hw = g.H * g.W, cPerOg = g.InChannels / g.OffsetGroups;
        for (int c = 0; c < g.InChannels; c++)
        {
            var plane = xn.Slice(c * hw, hw);
            var gplane = gxn.Slice(c * hw, hw);
            int ogi = c / cPerOg;
            for (int i = 0; i < g.KernelH; i++)
                for (int j = 0; j < g.KernelW; j++)
                {
                    int tap = i * g.KernelW + j;
                    int offRowY = (ogi * 2 * taps + 2 * tap) * op, offRowX = offRowY + op, mRow = (ogi * taps + tap) * op;
                    var gc = gcols.AsSpan((c * taps + tap) * op, op);
                    for (int oh = 0; oh < g.OutH; oh++)
                        for (int ow = 0; ow < g.OutW; ow++)
                        {
                            int q = oh * g.OutW + ow;
                            double gv = double.CreateTruncating(gc[q]);
                            if (gv == 0) continue;
                            double yy = oh * g.StrideH - g.PadH + i * g.DilationH + double.CreateTruncating(offn[offRowY + q]);
                            double xx = ow * g.StrideW - g.PadW + j * g.DilationW + double.CreateTruncating(offn[offRowX + q]);
                            // Beyond these bounds no corner is in range. Exactly y = -1 (or x = -1) is kept: the value is
                            // 0 there, but torchvision's offset gradient is the one-sided derivative from inside.
                            if (yy < -1 || yy >= g.H || xx < -1 || xx >= g.W) continue;
                            double m = g.HasMask ? double.CreateTruncating(mn[mRow + q]) : 1;
                            int y0 = (int)Math.Floor(yy), x0 = (int)Math.Floor(xx), y1 = y0 + 1, x1 = x0 + 1;
                            double ly = yy - y0, lx = xx - x0, hy = 1 - ly, hx = 1 - lx;
                            bool vy0 = y0 >= 0, vy1 = y1 < g.H, vx0 = x0 >= 0, vx1 = x1 < g.W;
                            double v00 = vy0 && vx0 ? double.CreateTruncating(plane[y0 * g.W + x0]) : 0;
                            double v01 = vy0 && vx1 ? double.CreateTruncating(plane[y0 * g.W + x1]) : 0;
                            double v10 = vy1 && vx0 ? double.CreateTruncating(plane[y1 * g.W + x0]) : 0;
                            double v11 = vy1 && vx1 ? double.CreateTruncating(plane[y1 * g.W + x1]) : 0;
                            double s = m * gv;
                            if (vy0 && vx0) gplane[y0 * g.W + x0] += T.CreateTruncating(s * hy * hx);
                            if (vy0 && vx1) gplane[y0 * g.W + x1] += T.CreateTruncating(s * hy * lx);
                            if (vy1 && vx0) gplane[y1 * g.W + x0] += T.CreateTruncating(s * ly * hx);
                            if (vy1 && vx1) gplane[y1 * g.W + x1] += T.CreateTruncating(s * ly * lx);
                            goffAcc[offRowY + q] += s * (hx * (v10 - v00) + lx * (v11 - v01));
                            goffAcc[offRowX + q] += s * (hy * (v01 - v00) + ly * (v11 - v10));
                            if (g.HasMask) gmaskAcc[mRow + q] += gv * (hy * hx * v00 + hy * lx * v01 + ly * hx * v10 + ly * lx * v11);
                        }
                }
        }
    }

    /// <summary>Row-major C = op(A)·op(B) (+ C when <paramref name="accumulate"/>): <see cref="Gemm.Sgemm"/> for float,
    /// a plain double-accumulating loop otherwise (or when <paramref name="plain"/>).</summary>
    internal static void MatMul<T>(bool transA, bool transB, int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        bool accumulate, Span<T> c, int ldc, bool plain = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0) return;
        if (typeof(T) == typeof(float) && !plain)
        {
            Gemm.Sgemm(transA, transB, m, n, k, 1f, MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(b), ldb,
                accumulate ? 1f : 0f, MemoryMarshal.Cast<T, float>(c), ldc);
            return;
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = accumulate ? double.CreateTruncating(c[i * ldc + j]) : 0;
                for (int p = 0; p < k; p++)
                    acc += double.CreateTruncating(transA ? a[p * lda + i] : a[i * lda + p]) * double.CreateTruncating(transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = T.CreateTruncating(acc);
            }
    }

    [Op("ops.deform_conv2d")]
    internal static Tensor<T>[] DeformConv2dOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.DeformConv2d(c.Input("input"), c.Input("offset"), c.Input("weight"), c.OptionalInput("bias"),
            c.Dims("stride"), c.Dims("padding"), c.Dims("dilation"), c.OptionalInput("mask"))];

    /// <summary>Gradients of ops.deform_conv2d given grad_output: input, offset, weight, bias, then mask when one is given.</summary>
    [Op("grad.ops.deform_conv2d")]
    internal static Tensor<T>[] DeformConv2dGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var mask = c.OptionalInput("mask");
        var bias = c.OptionalInput("bias");
        var gr = Functional.DeformConv2dBackward(c.Input("grad_output"), c.Input("input"), c.Input("offset"), c.Input("weight"),
            bias, c.Dims("stride"), c.Dims("padding"), c.Dims("dilation"), mask);
        var gb = gr.Bias ?? Functional.ConvBackwardBias(c.Input("grad_output"));
        return gr.Mask is null ? [gr.Input, gr.Offset, gr.Weight, gb] : [gr.Input, gr.Offset, gr.Weight, gb, gr.Mask];
    }
}
