using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;
using ConvKit.Reference;

namespace ConvKit.Algorithms;

/// <summary>
/// Direct convolution for a handful of input channels per group (a network's first layer: gray or RGB images; grouped
/// convolutions such as ResNeXt's 4 channels per group), 1-d/2-d, stride 1, any kernel size, dilation and padding;
/// forward and backward-weights. With C·KV of 9-27 the
/// GEMM lowering is dominated by moving data (the column matrix is as large as the output, the GEMM depth tiny);
/// here each image's (group's) planes are copied once into zero-bordered scratch planes and every tap is a shifted
/// vector load. Forward keeps eight output channels in registers per 8-pixel vector (each input load feeds eight
/// FMAs), or four channels times two vectors;
/// backward-weights is one dot product of the output gradient with each shifted plane. Backward-data declines
/// (a first layer's input needs no gradient; the GEMM lowering handles it when asked).
/// </summary>
public sealed class DirectSmallChannelAlgorithm : IConvAlgorithm
{
    /// <summary>Most input channels per group accepted.</summary>
    public const int MaxInChannels = 4;

    private readonly bool _heuristic;

    /// <summary>The instance used when forced: every shape it can run.</summary>
    public static DirectSmallChannelAlgorithm Instance { get; } = new(false);

    /// <summary>The instance the planner tries (before the depthwise kernel): declines forward with fewer than four
    /// output channels per group, which gets no register block here (one accumulator chain per vector); the depthwise
    /// kernel's forward measured about 2× faster there, while this backward-weights measured about 1.5× faster.</summary>
    public static DirectSmallChannelAlgorithm Preferred { get; } = new(true);

    private DirectSmallChannelAlgorithm(bool heuristic) => _heuristic = heuristic;

    /// <inheritdoc/>
    public string Name => "direct_small_c";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (direction == ConvDirection.BackwardData || core.Rank > 2 || core.InChannelsPerGroup > MaxInChannels) return null;
        if (_heuristic && direction == ConvDirection.Forward && core.OutChannelsPerGroup < 4) return null;
        // depthwise: the scratch-plane kernels of the depthwise algorithm measured 3x faster for backward-weights too
        if (_heuristic && core.InChannelsPerGroup == 1 && core.OutChannelsPerGroup == 1 && core.Groups > 1) return null;
        if (!Fma.IsSupported || !Avx2.IsSupported) return null;
        var g = new ConvGeometry(core);
        if (g.SH != 1 || g.SW != 1) return null;
        var (hp, wp) = PlaneSize(g);
        if ((long)g.Cg * hp * wp > 1 << 22) return null;
        return new Plan(core, direction);
    }

    /// <summary>Padded rows and row width (with slack for the last two vectors) of one scratch plane.</summary>
    private static (int Rows, int Width) PlaneSize(in ConvGeometry g)
        => (FlatRows(g), GemmCore.RoundUp(g.OW + (g.KW - 1) * g.DW + 16, 8));

    /// <summary>Rows of a padded input plane: those the output rows' windows read.</summary>
    private static int FlatRows(in ConvGeometry g) => g.OH + (g.KH - 1) * g.DH;

    /// <summary>Row stride of the flattened planes of backward-weights: the padded input width, in whole vectors.</summary>
    internal static int FlatStride(in ConvGeometry g) => GemmCore.RoundUp(g.OW + (g.KW - 1) * g.DW, 8);

    /// <summary>Whether backward-weights sums four output channels per block (AVX-512, and a plane's rows of
    /// <see cref="FlatStride"/> floats add up to whole 16-float vectors); pairs take the rest.</summary>
    internal static bool FourChannelWeightGrad(in ConvGeometry g) => GemmCore.Avx512On && g.OH * FlatStride(g) % 16 == 0;

    private sealed unsafe class Plan(ConvDescriptor d, ConvDirection dir) : ConvPlan("direct_small_c", d, dir)
    {
        private int Items => G.N * G.Groups;

        private int Workers => (long)G.N * G.K * G.OV * G.CKV < (1 << 16) ? 1 : Math.Min(Threads, Items);

        /// <summary>The Cg planes of one image's group in zero-bordered scratch planes of <paramref name="hp"/> rows
        /// of <paramref name="wp"/> floats; returns the first.</summary>
        private static float* PadGroup(in ConvGeometry g, float* x, int hp, int wp)
        {
            // slack after the last plane: the flattened forward reads up to one row and three 512-bit vectors past it
            int slack = wp + 64;
            float* p = Workspace.Get(Workspace.Scratch, g.Cg * (long)hp * wp + slack);
            Kernels.Im2col.PadPlanes(g, x, g.Cg, hp, wp, p, slack);
            return p;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* b = bs) fixed (float* y = ys)
            {
                var g = G;
                // Each block of output channels a group is computed in (eight, then four, then one at a time) gets its
                // weights interleaved by tap at the block's own offset, so a tap's broadcasts read consecutive floats.
                float* wt = Workspace.Get(Workspace.PackedWeights, g.WLen);
                bool flat = Flat(g);
                for (int grp = 0; grp < g.Groups; grp++)
                    for (int k0 = 0; k0 < g.Kg;)
                    {
                        int bsz = g.Kg - k0 >= 8 && !flat ? 8 : g.Kg - k0 >= 4 ? 4 : 1;
                        long o = ((long)grp * g.Kg + k0) * g.CKV;
                        for (int tap = 0; tap < g.CKV; tap++)
                            for (int i = 0; i < bsz; i++)
                                wt[o + (long)tap * bsz + i] = w[o + (long)i * g.CKV + tap];
                        k0 += bsz;
                    }
                nint px = (nint)x, pwt = (nint)wt, pb = (nint)b, py = (nint)y;
                VecOps.ParallelItems(Items, Workers, (_, item) =>
                {
                    int grp = item % g.Groups, n = item / g.Groups;
                    float* xg = (float*)px + ((long)n * g.C + grp * g.Cg) * g.IV, wg = (float*)pwt + (long)grp * g.Kg * g.CKV;
                    float* bg = pb == 0 ? null : (float*)pb + grp * g.Kg, yg = (float*)py + ((long)n * g.K + grp * g.Kg) * g.OV;
                    if (flat)
                    {
                        int stride = FlatStride(g);
                        ForwardFlat(g, PadGroup(g, xg, FlatRows(g), stride), stride, wg, bg, yg, relu);
                        return;
                    }
                    var (hp, wp) = PlaneSize(g);
                    ForwardGroup(g, PadGroup(g, xg, hp, wp), wg, bg, yg, relu);
                });
            }
        }

        /// <summary>Whether the forward runs on flattened planes (<see cref="ForwardFlat"/>): rows that are not whole
        /// vectors (LeNet's and Fashion-MNIST's 28 columns), where the row-by-row kernel stores a partial vector per row.</summary>
        private static bool Flat(in ConvGeometry g) => g.OW % 8 != 0;

        /// <summary>
        /// The Kg output planes of one group from padded input planes in rows of <paramref name="stride"/> floats (a
        /// multiple of 8). Output (oy, ox) is computed at flattened position oy·stride + ox, whose taps are the input
        /// at that position plus a fixed offset per tap, so the planes are walked as one long vector run with no row
        /// ends; the columns past OW are computed and dropped. Blocks of four output channels × three vectors keep
        /// twelve accumulators (each tap: three input loads and four broadcasts for twelve FMAs).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void ForwardFlat(in ConvGeometry g, float* p, int stride, float* wt, float* bias, float* y, bool relu)
        {
            long plane = (long)FlatRows(g) * stride;
            int len = g.OH * stride, ckv = g.CKV, ow = g.OW, ov = g.OV;
            int* toff = stackalloc int[ckv];
            for (int c = 0, t = 0; c < g.Cg; c++)
                for (int ky = 0; ky < g.KH; ky++)
                    for (int kx = 0; kx < g.KW; kx++, t++)
                        toff[t] = (int)(c * plane) + ky * g.DH * stride + kx * g.DW;
            int k0 = 0;
            if (GemmCore.UseAvx512)
            {
                ForwardFlat512(p, toff, len, stride, wt, bias, y, relu, ckv, ow, ov, g.Kg / 4 * 4);
                k0 = g.Kg / 4 * 4;
            }
            for (; k0 + 4 <= g.Kg; k0 += 4)
            {
                float* wk = wt + (long)k0 * ckv;
                var b0 = bias == null ? Vector256<float>.Zero : Vector256.Create(bias[k0]);
                var b1 = bias == null ? Vector256<float>.Zero : Vector256.Create(bias[k0 + 1]);
                var b2 = bias == null ? Vector256<float>.Zero : Vector256.Create(bias[k0 + 2]);
                var b3 = bias == null ? Vector256<float>.Zero : Vector256.Create(bias[k0 + 3]);
                for (int i = 0; i < len; i += 24)
                {
                    Vector256<float> a0 = b0, a1 = b1, a2 = b2, a3 = b3, c0 = b0, c1 = b1, c2 = b2, c3 = b3, d0 = b0, d1 = b1, d2 = b2, d3 = b3;
                    float* q = wk;
                    for (int t = 0; t < ckv; t++, q += 4)
                    {
                        float* xp = p + toff[t] + i;
                        var x0 = Avx.LoadVector256(xp);
                        var x1 = Avx.LoadVector256(xp + 8);
                        var x2 = Avx.LoadVector256(xp + 16);
                        var w = Vector256.Create(q[0]);
                        a0 = Fma.MultiplyAdd(w, x0, a0); c0 = Fma.MultiplyAdd(w, x1, c0); d0 = Fma.MultiplyAdd(w, x2, d0);
                        w = Vector256.Create(q[1]);
                        a1 = Fma.MultiplyAdd(w, x0, a1); c1 = Fma.MultiplyAdd(w, x1, c1); d1 = Fma.MultiplyAdd(w, x2, d1);
                        w = Vector256.Create(q[2]);
                        a2 = Fma.MultiplyAdd(w, x0, a2); c2 = Fma.MultiplyAdd(w, x1, c2); d2 = Fma.MultiplyAdd(w, x2, d2);
                        w = Vector256.Create(q[3]);
                        a3 = Fma.MultiplyAdd(w, x0, a3); c3 = Fma.MultiplyAdd(w, x1, c3); d3 = Fma.MultiplyAdd(w, x2, d3);
                    }
                    float* yk = y + (long)k0 * ov;
                    PutFlat(yk, i, a0, a1, a2, a3, relu, len, stride, ow, ov);
                    PutFlat(yk, i + 8, c0, c1, c2, c3, relu, len, stride, ow, ov);
                    PutFlat(yk, i + 16, d0, d1, d2, d3, relu, len, stride, ow, ov);
                }
            }
            for (; k0 < g.Kg; k0++)
            {
                float* wk = wt + (long)k0 * ckv;
                var vb = bias == null ? Vector256<float>.Zero : Vector256.Create(bias[k0]);
                for (int i = 0; i < len; i += 8)
                {
                    var acc = vb;
                    for (int t = 0; t < ckv; t++)
                        acc = Fma.MultiplyAdd(Vector256.Create(wk[t]), Avx.LoadVector256(p + toff[t] + i), acc);
                    int oy = i / stride, ox = i - oy * stride;
                    if (ox < ow) Put(y + (long)k0 * ov + (long)oy * ow + ox, 0, acc, relu, Math.Min(8, ow - ox), ov);
                }
            }
        }

        /// <summary>
        /// The four-channel blocks of <see cref="ForwardFlat"/> (channels [0, <paramref name="kEnd"/>)) on 512-bit
        /// vectors: 48 positions × 4 channels in twelve zmm accumulators, the same FMAs per element in the same order,
        /// so the results equal the AVX2 path bit for bit.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void ForwardFlat512(float* p, int* toff, int len, int stride, float* wt, float* bias, float* y, bool relu, int ckv, int ow, int ov, int kEnd)
        {
            for (int k0 = 0; k0 < kEnd; k0 += 4)
            {
                float* wk = wt + (long)k0 * ckv;
                var b0 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[k0]);
                var b1 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[k0 + 1]);
                var b2 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[k0 + 2]);
                var b3 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[k0 + 3]);
                for (int i = 0; i < len; i += 48)
                {
                    Vector512<float> a0 = b0, a1 = b1, a2 = b2, a3 = b3, c0 = b0, c1 = b1, c2 = b2, c3 = b3, d0 = b0, d1 = b1, d2 = b2, d3 = b3;
                    float* q = wk;
                    for (int t = 0; t < ckv; t++, q += 4)
                    {
                        float* xp = p + toff[t] + i;
                        var x0 = Avx512F.LoadVector512(xp);
                        var x1 = Avx512F.LoadVector512(xp + 16);
                        var x2 = Avx512F.LoadVector512(xp + 32);
                        var w = Vector512.Create(q[0]);
                        a0 = Avx512F.FusedMultiplyAdd(w, x0, a0); c0 = Avx512F.FusedMultiplyAdd(w, x1, c0); d0 = Avx512F.FusedMultiplyAdd(w, x2, d0);
                        w = Vector512.Create(q[1]);
                        a1 = Avx512F.FusedMultiplyAdd(w, x0, a1); c1 = Avx512F.FusedMultiplyAdd(w, x1, c1); d1 = Avx512F.FusedMultiplyAdd(w, x2, d1);
                        w = Vector512.Create(q[2]);
                        a2 = Avx512F.FusedMultiplyAdd(w, x0, a2); c2 = Avx512F.FusedMultiplyAdd(w, x1, c2); d2 = Avx512F.FusedMultiplyAdd(w, x2, d2);
                        w = Vector512.Create(q[3]);
                        a3 = Avx512F.FusedMultiplyAdd(w, x0, a3); c3 = Avx512F.FusedMultiplyAdd(w, x1, c3); d3 = Avx512F.FusedMultiplyAdd(w, x2, d3);
                    }
                    float* yk = y + (long)k0 * ov;
                    PutFlat(yk, i, a0.GetLower(), a1.GetLower(), a2.GetLower(), a3.GetLower(), relu, len, stride, ow, ov);
                    PutFlat(yk, i + 8, a0.GetUpper(), a1.GetUpper(), a2.GetUpper(), a3.GetUpper(), relu, len, stride, ow, ov);
                    PutFlat(yk, i + 16, c0.GetLower(), c1.GetLower(), c2.GetLower(), c3.GetLower(), relu, len, stride, ow, ov);
                    PutFlat(yk, i + 24, c0.GetUpper(), c1.GetUpper(), c2.GetUpper(), c3.GetUpper(), relu, len, stride, ow, ov);
                    PutFlat(yk, i + 32, d0.GetLower(), d1.GetLower(), d2.GetLower(), d3.GetLower(), relu, len, stride, ow, ov);
                    PutFlat(yk, i + 40, d0.GetUpper(), d1.GetUpper(), d2.GetUpper(), d3.GetUpper(), relu, len, stride, ow, ov);
                }
            }
        }

        /// <summary>Stores the vectors at flattened position <paramref name="i"/> of four consecutive output planes:
        /// only the lanes of columns below OW, nothing past the last row.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PutFlat(float* y, int i, Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3,
            bool relu, int len, int stride, int ow, int ov)
        {
            if (i >= len) return;
            int oy = i / stride, ox = i - oy * stride;
            if (ox >= ow) return;
            int valid = Math.Min(8, ow - ox);
            float* d = y + (long)oy * ow + ox;
            Put(d, 0, v0, relu, valid, ov); Put(d, 1, v1, relu, valid, ov);
            Put(d, 2, v2, relu, valid, ov); Put(d, 3, v3, relu, valid, ov);
        }

        /// <summary>The Kg output planes of one group from its padded input planes <paramref name="p"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void ForwardGroup(in ConvGeometry g, float* p, float* wt, float* bias, float* y, bool relu)
        {
            var (hp, wp) = PlaneSize(g);
            long plane = (long)hp * wp;
            int ckv = g.CKV;
            int k0 = 0;
            for (; k0 + 8 <= g.Kg; k0 += 8)
            {
                float* wk = wt + (long)k0 * ckv;
                for (int oy = 0; oy < g.OH; oy++)
                    for (int ox = 0; ox < g.OW; ox += 8)
                    {
                        Vector256<float> a0, a1, a2, a3, a4, a5, a6, a7;
                        if (bias == null) a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = Vector256<float>.Zero;
                        else
                        {
                            a0 = Vector256.Create(bias[k0]); a1 = Vector256.Create(bias[k0 + 1]); a2 = Vector256.Create(bias[k0 + 2]);
                            a3 = Vector256.Create(bias[k0 + 3]); a4 = Vector256.Create(bias[k0 + 4]); a5 = Vector256.Create(bias[k0 + 5]);
                            a6 = Vector256.Create(bias[k0 + 6]); a7 = Vector256.Create(bias[k0 + 7]);
                        }
                        float* q = wk;
                        for (int c = 0; c < g.Cg; c++)
                            for (int ky = 0; ky < g.KH; ky++)
                            {
                                float* row = p + c * plane + (long)(oy + ky * g.DH) * wp + ox;
                                for (int kx = 0; kx < g.KW; kx++, q += 8)
                                {
                                    var xv = Avx.LoadVector256(row + kx * g.DW);
                                    a0 = Fma.MultiplyAdd(Vector256.Create(q[0]), xv, a0);
                                    a1 = Fma.MultiplyAdd(Vector256.Create(q[1]), xv, a1);
                                    a2 = Fma.MultiplyAdd(Vector256.Create(q[2]), xv, a2);
                                    a3 = Fma.MultiplyAdd(Vector256.Create(q[3]), xv, a3);
                                    a4 = Fma.MultiplyAdd(Vector256.Create(q[4]), xv, a4);
                                    a5 = Fma.MultiplyAdd(Vector256.Create(q[5]), xv, a5);
                                    a6 = Fma.MultiplyAdd(Vector256.Create(q[6]), xv, a6);
                                    a7 = Fma.MultiplyAdd(Vector256.Create(q[7]), xv, a7);
                                }
                            }
                        float* yo = y + (long)k0 * g.OV + (long)oy * g.OW + ox;
                        int valid = Math.Min(8, g.OW - ox);
                        Put(yo, 0, a0, relu, valid, g.OV); Put(yo, 1, a1, relu, valid, g.OV);
                        Put(yo, 2, a2, relu, valid, g.OV); Put(yo, 3, a3, relu, valid, g.OV);
                        Put(yo, 4, a4, relu, valid, g.OV); Put(yo, 5, a5, relu, valid, g.OV);
                        Put(yo, 6, a6, relu, valid, g.OV); Put(yo, 7, a7, relu, valid, g.OV);
                    }
            }
            if (k0 + 4 <= g.Kg)
            {
                // four channels × two vectors: still eight independent accumulators
                float* wk = wt + (long)k0 * ckv;
                for (int oy = 0; oy < g.OH; oy++)
                    for (int ox = 0; ox < g.OW; ox += 16)
                    {
                        Vector256<float> a0, a1, a2, a3;
                        if (bias == null) a0 = a1 = a2 = a3 = Vector256<float>.Zero;
                        else
                        {
                            a0 = Vector256.Create(bias[k0]); a1 = Vector256.Create(bias[k0 + 1]);
                            a2 = Vector256.Create(bias[k0 + 2]); a3 = Vector256.Create(bias[k0 + 3]);
                        }
                        Vector256<float> b0 = a0, b1 = a1, b2 = a2, b3 = a3;
                        float* q = wk;
                        for (int c = 0; c < g.Cg; c++)
                            for (int ky = 0; ky < g.KH; ky++)
                            {
                                float* row = p + c * plane + (long)(oy + ky * g.DH) * wp + ox;
                                for (int kx = 0; kx < g.KW; kx++, q += 4)
                                {
                                    var xv = Avx.LoadVector256(row + kx * g.DW);
                                    var xw = Avx.LoadVector256(row + kx * g.DW + 8);
                                    var w0 = Vector256.Create(q[0]); var w1 = Vector256.Create(q[1]);
                                    var w2 = Vector256.Create(q[2]); var w3 = Vector256.Create(q[3]);
                                    a0 = Fma.MultiplyAdd(w0, xv, a0); b0 = Fma.MultiplyAdd(w0, xw, b0);
                                    a1 = Fma.MultiplyAdd(w1, xv, a1); b1 = Fma.MultiplyAdd(w1, xw, b1);
                                    a2 = Fma.MultiplyAdd(w2, xv, a2); b2 = Fma.MultiplyAdd(w2, xw, b2);
                                    a3 = Fma.MultiplyAdd(w3, xv, a3); b3 = Fma.MultiplyAdd(w3, xw, b3);
                                }
                            }
                        float* yo = y + (long)k0 * g.OV + (long)oy * g.OW + ox;
                        int valid = Math.Min(8, g.OW - ox);
                        Put(yo, 0, a0, relu, valid, g.OV); Put(yo, 1, a1, relu, valid, g.OV);
                        Put(yo, 2, a2, relu, valid, g.OV); Put(yo, 3, a3, relu, valid, g.OV);
                        if (ox + 8 < g.OW)
                        {
                            int valid2 = Math.Min(8, g.OW - ox - 8);
                            Put(yo + 8, 0, b0, relu, valid2, g.OV); Put(yo + 8, 1, b1, relu, valid2, g.OV);
                            Put(yo + 8, 2, b2, relu, valid2, g.OV); Put(yo + 8, 3, b3, relu, valid2, g.OV);
                        }
                    }
                k0 += 4;
            }
            // remaining output channels one at a time
            for (; k0 < g.Kg; k0++)
            {
                float* wk = wt + (long)k0 * ckv;
                var vb = bias == null ? Vector256<float>.Zero : Vector256.Create(bias[k0]);
                for (int oy = 0; oy < g.OH; oy++)
                    for (int ox = 0; ox < g.OW; ox += 8)
                    {
                        var acc = vb;
                        int tap = 0;
                        for (int c = 0; c < g.Cg; c++)
                            for (int ky = 0; ky < g.KH; ky++)
                            {
                                float* row = p + c * plane + (long)(oy + ky * g.DH) * wp + ox;
                                for (int kx = 0; kx < g.KW; kx++, tap++)
                                    acc = Fma.MultiplyAdd(Vector256.Create(wk[tap]), Avx.LoadVector256(row + kx * g.DW), acc);
                            }
                        Put(y + (long)k0 * g.OV + (long)oy * g.OW + ox, 0, acc, relu, Math.Min(8, g.OW - ox), g.OV);
                    }
            }
        }

        /// <summary>Stores the first <paramref name="valid"/> lanes of <paramref name="v"/> at row <paramref name="i"/> (stride ov).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Put(float* y, int i, Vector256<float> v, bool relu, int valid, int ov)
        {
            if (relu) v = Avx.Max(v, Vector256<float>.Zero);
            float* dst = y + (long)i * ov;
            if (valid == 8) { Avx.Store(dst, v); return; }
            // lanes [0, valid) on: a masked store instead of a scalar copy of the row's last columns
            var mask = Avx2.CompareGreaterThan(Vector256.Create(valid), Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7)).AsSingle();
            Avx.MaskStore(dst, mask, v);
        }

        private protected override void RunBackwardWeight(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, Span<float> gws)
        {
            // The flattened kernel multiplies zero-padded gradient lanes with input columns past the windows; with
            // an infinity or NaN in the input that would be NaN where the exact sum is finite, so such inputs take
            // the reference.
            fixed (float* x = xs) fixed (float* gy = gys) fixed (float* gw = gws)
            {
                if (!VecOps.AllFinite(x, xs.Length))
                {
                    ConvReference.BackwardWeight(Descriptor, xs, gys, gws);
                    return;
                }
                var g = G;
                int workers = Workers;
                long wlen = g.WLen;
                // one accumulator set per worker, summed at the end (no sharing while running)
                float* partials = Workspace.Get(Workspace.Partials, wlen * workers);
                new Span<float>(partials, checked((int)(wlen * workers))).Clear();
                nint px = (nint)x, pgy = (nint)gy, ppart = (nint)partials;
                VecOps.ParallelStatic(Items, workers, (wk, item) =>
                {
                    int grp = item % g.Groups, n = item / g.Groups;
                    int stride = FlatStride(g);
                    float* p = PadGroup(g, (float*)px + ((long)n * g.C + grp * g.Cg) * g.IV, FlatRows(g), stride);
                    float* gp = Workspace.Get(Workspace.Columns, (long)g.Kg * g.OH * stride);
                    VecOps.PadRows(gp, (float*)pgy + ((long)n * g.K + grp * g.Kg) * g.OV, (long)g.Kg * g.OH, g.OW, stride);
                    WeightGradGroup(g, p, gp, stride, (float*)ppart + wk * wlen + (long)grp * g.Kg * g.CKV);
                });
                gws.Clear();
                for (int wk = 0; wk < workers; wk++)
                    VecOps.AddInPlace(gw, partials + wk * wlen, (int)wlen);
            }
        }

        /// <summary>
        /// gW of one group from its padded input planes <paramref name="p"/> and output gradient <paramref name="gp"/>,
        /// both in rows of <paramref name="stride"/> floats (gp zero past OW). A tap's gradient is then one contiguous
        /// dot product of gp with the plane shifted by the tap's offset; the zero lanes absorb the row ends, so narrow
        /// images (LeNet's 28 columns) run no per-row tails. Blocks of two output channels × up to five neighbouring
        /// taps along x keep ten independent FMA chains, each input load feeding two FMAs and each gradient load five.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void WeightGradGroup(in ConvGeometry g, float* p, float* gp, int stride, float* gw)
        {
            long plane = (long)FlatRows(g) * stride;
            int len = g.OH * stride, dw = g.DW, k = 0;
            if (FourChannelWeightGrad(g))
                for (; k + 4 <= g.Kg; k += 4)
                    WeightGradFourAvx512(g, p, plane, gp + (long)k * len, len, stride, gw + (long)k * g.CKV);
            for (; k < g.Kg; k += 2)
            {
                // an odd last channel computes a duplicate that is not stored
                bool two = k + 1 < g.Kg;
                float* ga = gp + (long)k * len, gb = two ? ga + len : ga;
                for (int c = 0; c < g.Cg; c++)
                    for (int ky = 0; ky < g.KH; ky++)
                        for (int kx0 = 0; kx0 < g.KW; kx0 += 5)
                        {
                            int nk = Math.Min(5, g.KW - kx0);
                            float* x0 = p + c * plane + (long)ky * g.DH * stride + kx0 * dw;
                            FiveTaps(x0, nk, dw, out float* x1, out float* x2, out float* x3, out float* x4);
                            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0;
                            int i = 0;
                            if (GemmCore.UseAvx512)
                            {
                                // 16 lanes a step (twice the FMA rate where 512-bit units are full width), folded
                                // into the 8-lane sums before the last step
                                Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, e4 = default;
                                Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default;
                                for (; i + 16 <= len; i += 16)
                                {
                                    var u = Avx512F.LoadVector512(ga + i);
                                    var v = Avx512F.LoadVector512(gb + i);
                                    var x = Avx512F.LoadVector512(x0 + i);
                                    e0 = Avx512F.FusedMultiplyAdd(u, x, e0); f0 = Avx512F.FusedMultiplyAdd(v, x, f0);
                                    x = Avx512F.LoadVector512(x1 + i);
                                    e1 = Avx512F.FusedMultiplyAdd(u, x, e1); f1 = Avx512F.FusedMultiplyAdd(v, x, f1);
                                    x = Avx512F.LoadVector512(x2 + i);
                                    e2 = Avx512F.FusedMultiplyAdd(u, x, e2); f2 = Avx512F.FusedMultiplyAdd(v, x, f2);
                                    x = Avx512F.LoadVector512(x3 + i);
                                    e3 = Avx512F.FusedMultiplyAdd(u, x, e3); f3 = Avx512F.FusedMultiplyAdd(v, x, f3);
                                    x = Avx512F.LoadVector512(x4 + i);
                                    e4 = Avx512F.FusedMultiplyAdd(u, x, e4); f4 = Avx512F.FusedMultiplyAdd(v, x, f4);
                                }
                                a0 = e0.GetLower() + e0.GetUpper(); a1 = e1.GetLower() + e1.GetUpper(); a2 = e2.GetLower() + e2.GetUpper();
                                a3 = e3.GetLower() + e3.GetUpper(); a4 = e4.GetLower() + e4.GetUpper();
                                b0 = f0.GetLower() + f0.GetUpper(); b1 = f1.GetLower() + f1.GetUpper(); b2 = f2.GetLower() + f2.GetUpper();
                                b3 = f3.GetLower() + f3.GetUpper(); b4 = f4.GetLower() + f4.GetUpper();
                            }
                            for (; i < len; i += 8)
                            {
                                var u = Avx.LoadVector256(ga + i);
                                var v = Avx.LoadVector256(gb + i);
                                var x = Avx.LoadVector256(x0 + i);
                                a0 = Fma.MultiplyAdd(u, x, a0); b0 = Fma.MultiplyAdd(v, x, b0);
                                x = Avx.LoadVector256(x1 + i);
                                a1 = Fma.MultiplyAdd(u, x, a1); b1 = Fma.MultiplyAdd(v, x, b1);
                                x = Avx.LoadVector256(x2 + i);
                                a2 = Fma.MultiplyAdd(u, x, a2); b2 = Fma.MultiplyAdd(v, x, b2);
                                x = Avx.LoadVector256(x3 + i);
                                a3 = Fma.MultiplyAdd(u, x, a3); b3 = Fma.MultiplyAdd(v, x, b3);
                                x = Avx.LoadVector256(x4 + i);
                                a4 = Fma.MultiplyAdd(u, x, a4); b4 = Fma.MultiplyAdd(v, x, b4);
                            }
                            float* wa = gw + (long)k * g.CKV + (c * g.KH + ky) * g.KW + kx0;
                            AddTaps(wa, nk, a0, a1, a2, a3, a4);
                            if (two) AddTaps(wa + g.CKV, nk, b0, b1, b2, b3, b4);
                        }
            }
        }

        /// <summary>
        /// <see cref="WeightGradGroup"/> for four output channels (gradients at <paramref name="ga"/>, <paramref name="len"/>
        /// floats apart) with AVX-512, rows a multiple of 16 long: four channels × up to five taps in 20 zmm sums, so each
        /// input load (most of them unaligned) feeds four FMAs instead of two. LeNet's backward-weights ran in 0.91-0.96×
        /// the time of the pairs alone (1 and 2 threads, the two alternated in one process).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void WeightGradFourAvx512(in ConvGeometry g, float* p, long plane, float* ga, int len, int stride, float* gw)
        {
            int dw = g.DW;
            float* gb = ga + len, gc = gb + len, gd = gc + len;
            for (int c = 0; c < g.Cg; c++)
                for (int ky = 0; ky < g.KH; ky++)
                    for (int kx0 = 0; kx0 < g.KW; kx0 += 5)
                    {
                        int nk = Math.Min(5, g.KW - kx0);
                        float* x0 = p + c * plane + (long)ky * g.DH * stride + kx0 * dw;
                        FiveTaps(x0, nk, dw, out float* x1, out float* x2, out float* x3, out float* x4);
                        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
                        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default;
                        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default;
                        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default, d4 = default;
                        for (int i = 0; i < len; i += 16)
                        {
                            var u = Avx512F.LoadVector512(ga + i);
                            var v = Avx512F.LoadVector512(gb + i);
                            var q = Avx512F.LoadVector512(gc + i);
                            var r = Avx512F.LoadVector512(gd + i);
                            FourFmas(u, v, q, r, Avx512F.LoadVector512(x0 + i), ref a0, ref b0, ref c0, ref d0);
                            FourFmas(u, v, q, r, Avx512F.LoadVector512(x1 + i), ref a1, ref b1, ref c1, ref d1);
                            FourFmas(u, v, q, r, Avx512F.LoadVector512(x2 + i), ref a2, ref b2, ref c2, ref d2);
                            FourFmas(u, v, q, r, Avx512F.LoadVector512(x3 + i), ref a3, ref b3, ref c3, ref d3);
                            FourFmas(u, v, q, r, Avx512F.LoadVector512(x4 + i), ref a4, ref b4, ref c4, ref d4);
                        }
                        float* w = gw + (c * g.KH + ky) * g.KW + kx0;
                        AddTaps(w, nk, a0, a1, a2, a3, a4);
                        AddTaps(w + g.CKV, nk, b0, b1, b2, b3, b4);
                        AddTaps(w + 2 * g.CKV, nk, c0, c1, c2, c3, c4);
                        AddTaps(w + 3 * g.CKV, nk, d0, d1, d2, d3, d4);
                    }
        }

        /// <summary>One tap's input vector <paramref name="x"/> times the four channels' gradients u, v, q, r, into their sums.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void FourFmas(Vector512<float> u, Vector512<float> v, Vector512<float> q, Vector512<float> r, Vector512<float> x,
            ref Vector512<float> a, ref Vector512<float> b, ref Vector512<float> c, ref Vector512<float> d)
        {
            a = Avx512F.FusedMultiplyAdd(u, x, a); b = Avx512F.FusedMultiplyAdd(v, x, b);
            c = Avx512F.FusedMultiplyAdd(q, x, c); d = Avx512F.FusedMultiplyAdd(r, x, d);
        }

        /// <summary>The inputs of the taps after <paramref name="x0"/> in a block of up to five along x; taps past the
        /// <paramref name="nk"/>th repeat the last (they compute a duplicate that is not stored).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void FiveTaps(float* x0, int nk, int dw, out float* x1, out float* x2, out float* x3, out float* x4)
        {
            x1 = x0 + Math.Min(1, nk - 1) * dw; x2 = x0 + Math.Min(2, nk - 1) * dw;
            x3 = x0 + Math.Min(3, nk - 1) * dw; x4 = x0 + Math.Min(4, nk - 1) * dw;
        }

        /// <summary>w[t] += the lane sum of tap t's vector, for the first <paramref name="nk"/> of five taps.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddTaps(float* w, int nk, Vector256<float> s0, Vector256<float> s1, Vector256<float> s2, Vector256<float> s3, Vector256<float> s4)
        {
            w[0] += Vector256.Sum(s0);
            if (nk > 1) w[1] += Vector256.Sum(s1);
            if (nk > 2) w[2] += Vector256.Sum(s2);
            if (nk > 3) w[3] += Vector256.Sum(s3);
            if (nk > 4) w[4] += Vector256.Sum(s4);
        }

        /// <summary>As above, for 16-lane sums (each folded to 8 lanes first).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddTaps(float* w, int nk, Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3, Vector512<float> s4)
            => AddTaps(w, nk, Fold(s0), Fold(s1), Fold(s2), Fold(s3), Fold(s4));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Fold(Vector512<float> s) => s.GetLower() + s.GetUpper();
    }
}
