using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

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
        => (g.OH + (g.KH - 1) * g.DH, GemmCore.RoundUp(g.OW + (g.KW - 1) * g.DW + 16, 8));

    private sealed unsafe class Plan(ConvDescriptor d, ConvDirection dir) : ConvPlan("direct_small_c", d, dir)
    {
        private int Items => G.N * G.Groups;

        private int Workers => (long)G.N * G.K * G.OV * G.CKV < (1 << 16) ? 1 : Math.Min(Threads, Items);

        /// <summary>Copies the Cg planes of one image's group into zero-bordered scratch planes; returns the first.</summary>
        private static float* PadGroup(in ConvGeometry g, float* x)
        {
            var (hp, wp) = PlaneSize(g);
            float* p = Workspace.Get(Workspace.Scratch, (long)g.Cg * hp * wp);
            for (int c = 0; c < g.Cg; c++)
                for (int i = 0; i < hp; i++)
                {
                    float* dst = p + ((long)c * hp + i) * wp;
                    int iy = i - g.PH;
                    int n = (uint)iy < (uint)g.IH ? Math.Min(g.IW, wp - g.PW) : 0;
                    new Span<float>(dst, Math.Min(g.PW, wp)).Clear();
                    if (n > 0) new ReadOnlySpan<float>(x + ((long)c * g.IH + iy) * g.IW, n).CopyTo(new Span<float>(dst + g.PW, n));
                    int used = Math.Min(wp, g.PW + n);
                    new Span<float>(dst + used, wp - used).Clear();
                }
            return p;
        }

        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* b = bs) fixed (float* y = ys)
            {
                var g = G;
                // Each block of output channels a group is computed in (eight, then four, then one at a time) gets its
                // weights interleaved by tap at the block's own offset, so a tap's broadcasts read consecutive floats.
                float* wt = Workspace.Get(Workspace.PackedWeights, g.WLen);
                for (int grp = 0; grp < g.Groups; grp++)
                    for (int k0 = 0; k0 < g.Kg;)
                    {
                        int bsz = g.Kg - k0 >= 8 ? 8 : g.Kg - k0 >= 4 ? 4 : 1;
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
                    float* p = PadGroup(g, (float*)px + ((long)n * g.C + grp * g.Cg) * g.IV);
                    ForwardGroup(g, p, (float*)pwt + (long)grp * g.Kg * g.CKV, pb == 0 ? null : (float*)pb + grp * g.Kg,
                        (float*)py + ((long)n * g.K + grp * g.Kg) * g.OV, relu);
                });
            }
        }

        /// <summary>The Kg output planes of one group from its padded input planes <paramref name="p"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void ForwardGroup(in ConvGeometry g, float* p, float* wt, float* bias, float* y, bool relu)
        {
            var (hp, wp) = PlaneSize(g);
            long plane = (long)hp * wp;
            int ckv = g.CKV;
            float* tile = stackalloc float[8];
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
                        Put(yo, 0, a0, relu, valid, tile, g.OV); Put(yo, 1, a1, relu, valid, tile, g.OV);
                        Put(yo, 2, a2, relu, valid, tile, g.OV); Put(yo, 3, a3, relu, valid, tile, g.OV);
                        Put(yo, 4, a4, relu, valid, tile, g.OV); Put(yo, 5, a5, relu, valid, tile, g.OV);
                        Put(yo, 6, a6, relu, valid, tile, g.OV); Put(yo, 7, a7, relu, valid, tile, g.OV);
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
                        Put(yo, 0, a0, relu, valid, tile, g.OV); Put(yo, 1, a1, relu, valid, tile, g.OV);
                        Put(yo, 2, a2, relu, valid, tile, g.OV); Put(yo, 3, a3, relu, valid, tile, g.OV);
                        if (ox + 8 < g.OW)
                        {
                            int valid2 = Math.Min(8, g.OW - ox - 8);
                            Put(yo + 8, 0, b0, relu, valid2, tile, g.OV); Put(yo + 8, 1, b1, relu, valid2, tile, g.OV);
                            Put(yo + 8, 2, b2, relu, valid2, tile, g.OV); Put(yo + 8, 3, b3, relu, valid2, tile, g.OV);
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
                        Put(y + (long)k0 * g.OV + (long)oy * g.OW + ox, 0, acc, relu, Math.Min(8, g.OW - ox), tile, g.OV);
                    }
            }
        }

        /// <summary>Stores the first <paramref name="valid"/> lanes of <paramref name="v"/> at row <paramref name="i"/> (stride ov).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Put(float* y, int i, Vector256<float> v, bool relu, int valid, float* tmp, int ov)
        {
            if (relu) v = Avx.Max(v, Vector256<float>.Zero);
            float* dst = y + (long)i * ov;
            if (valid == 8) { Avx.Store(dst, v); return; }
            Avx.Store(tmp, v);
            for (int t = 0; t < valid; t++) dst[t] = tmp[t];
        }

        private protected override void RunBackwardWeight(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, Span<float> gws)
        {
            fixed (float* x = xs) fixed (float* gy = gys) fixed (float* gw = gws)
            {
                var g = G;
                int workers = Workers;
                long wlen = g.WLen;
                // one accumulator set per worker, summed at the end (no sharing while running)
                float* partials = Workspace.Get(Workspace.Partials, wlen * workers);
                new Span<float>(partials, checked((int)(wlen * workers))).Clear();
                nint px = (nint)x, pgy = (nint)gy, ppart = (nint)partials;
                VecOps.ParallelItems(Items, workers, (wk, item) =>
                {
                    int grp = item % g.Groups, n = item / g.Groups;
                    WeightGradGroup(g, PadGroup(g, (float*)px + ((long)n * g.C + grp * g.Cg) * g.IV),
                        (float*)pgy + ((long)n * g.K + grp * g.Kg) * g.OV, (float*)ppart + wk * wlen + (long)grp * g.Kg * g.CKV);
                });
                gws.Clear();
                for (int wk = 0; wk < workers; wk++)
                    VecOps.AddInPlace(gw, partials + wk * wlen, (int)wlen);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void WeightGradGroup(in ConvGeometry g, float* p, float* gy, float* gw)
        {
            var (hp, wp) = PlaneSize(g);
            long plane = (long)hp * wp;
            int full = g.OW & ~7, rest = g.OW - full;
            var mask = Avx2.CompareGreaterThan(Vector256.Create(rest), Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7)).AsSingle();
            for (int k = 0; k < g.Kg; k++)
            {
                float* gk = gy + (long)k * g.OV;
                for (int c = 0; c < g.Cg; c++)
                    for (int ky = 0; ky < g.KH; ky++)
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            float* xs = p + c * plane + (long)ky * g.DH * wp + kx * g.DW;
                            Vector256<float> s0 = Vector256<float>.Zero, s1 = Vector256<float>.Zero;
                            for (int oy = 0; oy < g.OH; oy++)
                            {
                                float* gr = gk + (long)oy * g.OW, xr = xs + (long)oy * wp;
                                int ox = 0;
                                for (; ox + 16 <= full; ox += 16)
                                {
                                    s0 = Fma.MultiplyAdd(Avx.LoadVector256(gr + ox), Avx.LoadVector256(xr + ox), s0);
                                    s1 = Fma.MultiplyAdd(Avx.LoadVector256(gr + ox + 8), Avx.LoadVector256(xr + ox + 8), s1);
                                }
                                if (ox < full)
                                    s0 = Fma.MultiplyAdd(Avx.LoadVector256(gr + ox), Avx.LoadVector256(xr + ox), s0);
                                if (rest > 0)
                                    s1 = Fma.MultiplyAdd(Avx.MaskLoad(gr + full, mask), Avx.MaskLoad(xr + full, mask), s1);
                            }
                            gw[(long)k * g.CKV + (c * g.KH + ky) * g.KW + kx] += Vector256.Sum(Avx.Add(s0, s1));
                        }
            }
        }
    }
}
