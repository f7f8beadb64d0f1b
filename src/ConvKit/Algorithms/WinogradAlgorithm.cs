using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Winograd forward convolution for 2-d 3×3 kernels, stride 1, dilation 1, one group, with output tiles of 2×2
/// (F(2×2, 3×3): 16 multiplies per tile and channel pair instead of 36, 2.25× fewer) or 4×4 (F(4×4, 3×3): 36 instead
/// of 144, 4× fewer). The weights are transformed once per call (U = G·g·Gᵀ), input tiles are transformed
/// (V = Bᵀ·d·B), the α² products (α = tile + 2) become α² GEMMs M[ξ] = U[ξ]·V[ξ] over a chunk of tiles, and each
/// output tile is Aᵀ·m·A (bias and ReLU fused into that write).
/// <para>Accuracy: the F(2,3) transforms only use coefficients 1 and ½, so the result differs from direct
/// convolution by ordinary float32 rounding of slightly longer sums: the tests bound the error by
/// 8e-5·√(C·9)·(1 + √|y|) for inputs and weights in [-1, 1] (a few times the GEMM lowering's bound). F(4,3)'s
/// transforms carry coefficients up to 8 and 1/24 (Lavin and Gray's points 0, ±1, ±2), which amplify rounding: its
/// tests bound the error by 1.6e-4·√(C·9)·(1 + √|y|), twice F(2,3)'s (they pass with a bound a third of that).</para>
/// Declines tiny channel counts (fewer than 8 in or out), where the transforms cost more than they save.
/// </summary>
public sealed class WinogradAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;
    private readonly int _m;

    /// <summary>F(2×2, 3×3) when forced: accepts every shape it can run (C, K ≥ 8).</summary>
    public static WinogradAlgorithm Instance { get; } = new(false, 2);

    /// <summary>F(2×2, 3×3) with the planner's rule (the planner itself tries <see cref="Preferred4"/>, which took 0.81-0.88×
    /// its time with AVX2 where the rule admits both): also declines shapes where it measured slower than the GEMM lowering.
    /// With the AVX-512 GEMM (2 threads) it only won on wide layers: VGG-16's 256→256 at 56×56 17.6 ms against 22.0;
    /// it lost on ResNet-50 res2 (64 channels, 5.2 against 2.4 ms), res3 (128, 3.3 against 2.8), res4 (256 at 14×14,
    /// 7.8 against 3.3) and the CIFAR batch (64 channels, 21.3 against 16.8): its transforms run at memory speed while
    /// the GEMM runs near peak. So: at least 256 input and output channels and 2048 output positions in the batch.
    /// </summary>
    public static WinogradAlgorithm Preferred { get; } = new(true, 2);

    /// <summary>F(4×4, 3×3) when forced: accepts every shape it can run (C, K ≥ 8).</summary>
    public static WinogradAlgorithm Instance4 { get; } = new(false, 4);

    /// <summary>F(4×4, 3×3) as the planner tries it (see <see cref="TryPlan"/>).</summary>
    public static WinogradAlgorithm Preferred4 { get; } = new(true, 4);

    private WinogradAlgorithm(bool heuristic, int m) => (_heuristic, _m) = (heuristic, m);

    /// <inheritdoc/>
    public string Name => _m == 2 ? "winograd_f2x2_3x3" : "winograd_f4x4_3x3";

    /// <summary>Whether the planner runs this forward on one of the Winograd algorithms.</summary>
    internal static bool Takes(ConvDescriptor run) => Preferred4.TryPlan(run, ConvDirection.Forward) is not null;

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (direction != ConvDirection.Forward || core.Rank != 2 || core.Groups != 1) return null;
        if (core.KernelSize[0] != 3 || core.KernelSize[1] != 3) return null;
        if (core.Stride[0] != 1 || core.Stride[1] != 1 || core.Dilation[0] != 1 || core.Dilation[1] != 1) return null;
        if (core.InChannels < 8 || core.OutChannels < 8) return null;
        // The planner's rule for both tile sizes (F(4,3) tried first): at least 256 input and output channels and 2048
        // output positions in the batch. With AVX2 (2 threads) F(4,3) took 0.81-0.88× F(2,3)'s time on VGG-16's layer
        // and on 28×28 planes of 256 and 512 channels; against the blocked kernel it tied on those planes and on
        // ResNet-50 res2, and took 1.3× its time on res3, 2.4× on res4 and 1.85× on the CIFAR batch.
        if (_heuristic && (core.InChannels < 256 || core.OutChannels < 256 || (long)core.N * core.OutputVolume < 2048)) return null;
        // Where 512-bit FMAs run at full rate, the implicit GEMM ran VGG-16's 3×3 layer faster than F(2,3) (285 against
        // 243 GFLOP/s, Xeon, 2 threads); F(4,3) ran it in 0.84-0.91× the blocked kernel's time (0.88× on 1 thread), its
        // backward-data as the flipped forward in 0.85-0.87×.
        if (_heuristic && GemmCore.WideFmaPays && _m == 2) return null;
        return new Plan(core, _m);
    }

    private sealed unsafe class Plan : ConvPlan
    {
        // output tile m × m, input tile α × α (α = m + 2), α² products
        private readonly int _m, _aa;
        private readonly int _th, _tw, _tiles, _tc, _chunks;

        public Plan(ConvDescriptor d, int m) : base(m == 2 ? "winograd_f2x2_3x3" : "winograd_f4x4_3x3", d, ConvDirection.Forward)
        {
            _m = m;
            _aa = (m + 2) * (m + 2);
            _th = (G.OH + m - 1) / m; _tw = (G.OW + m - 1) / m;
            _tiles = G.N * _th * _tw;
            // tiles per chunk: keep the transformed input and the products of one chunk (α²·(C+K)·tc floats) near 1 MB
            int tc = GemmCore.RoundUp(Math.Max(1, 16 * 16384 / _aa / (G.C + G.K)), 16);
            _tc = Math.Min(Math.Clamp(tc, 32, 512), _tiles);
            _chunks = (_tiles + _tc - 1) / _tc;
        }

        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* b = bs) fixed (float* y = ys)
            {
                var g = G;
                int K = g.K, C = g.C, aa = _aa;
                long kc = (long)K * C;
                // U[ξ][k][c], then packed for the micro-kernel (reused by every chunk)
                float* u = Workspace.Get(Workspace.Partials, aa * kc);
                nint pw0 = (nint)w, pu0 = (nint)u;
                VecOps.ParallelRanges(K, (long)C * 128, (k0, k1) =>
                {
                    if (_m == 2) TransformWeights((float*)pw0, (float*)pu0, K, C, k0, k1);
                    else TransformWeights4((float*)pw0, (float*)pu0, K, C, k0, k1);
                });
                long paSize = GemmCore.PackedASize(K, C);
                float* packed = Workspace.Get(Workspace.PackedWeights, aa * paSize);
                for (int xi = 0; xi < aa; xi++)
                    GemmCore.PackAFull(false, K, C, 1f, u + xi * kc, C, packed + xi * paSize);

                int threads = Threads, tc = _tc, tiles = _tiles, chunks = _chunks;
                // F(4,3)'s transformed weights (36·K·C floats, 9.4 MB for VGG-16's layer) are read again by every chunk:
                // with two threads one chunk each reads them once per thread (VGG-16, AVX2: 16.5-17.6 against 20.0-21.3
                // ms a call in chunks of 25 tiles, and against 26.6 in its 7 chunks of 32, the GEMMs split over the threads)
                if (_m == 4 && threads > 1)
                {
                    tc = (tiles + threads - 1) / threads;
                    chunks = (tiles + tc - 1) / tc;
                }
                bool itemPar = threads > 1 && chunks >= threads && (chunks >= 4 * threads || chunks % threads == 0);
                int gemmThreads = itemPar ? 1 : threads;
                nint px = (nint)x, py = (nint)y, pb = (nint)b, pp = (nint)packed;
                VecOps.ParallelItems(chunks, itemPar ? threads : 1, (_, ch) =>
                {
                    int t0 = ch * tc, tn = Math.Min(tc, tiles - t0);
                    float* v = Workspace.Get(Workspace.Columns, (long)aa * C * tn);
                    float* m = Workspace.Get(Workspace.Scratch, (long)aa * K * tn);
                    if (_m == 2) TransformInput((float*)px, v, t0, tn);
                    else TransformInput4((float*)px, v, t0, tn);
                    for (int xi = 0; xi < aa; xi++)
                        GemmCore.Run(false, false, K, tn, C, 1f, null, 0, v + xi * (long)C * tn, tn, 0f, m + xi * (long)K * tn, tn,
                            null, false, gemmThreads, (float*)pp + xi * paSize);
                    if (_m == 2) TransformOutput(m, (float*)py, pb == 0 ? null : (float*)pb, relu, t0, tn);
                    else TransformOutput4(m, (float*)py, pb == 0 ? null : (float*)pb, relu, t0, tn);
                });
            }
        }

        /// <summary>U = G·g·Gᵀ for output channels [k0, k1) and every c: u[ξ·K·C + k·C + c], ξ = 4·row + col.</summary>
        private static void TransformWeights(float* w, float* u, int K, int C, int k0, int k1)
        {
            long kc = (long)K * C;
            float* t = stackalloc float[12];
            for (int k = k0; k < k1; k++)
                for (int c = 0; c < C; c++)
                {
                    float* g = w + ((long)k * C + c) * 9;
                    for (int j = 0; j < 3; j++)
                    {
                        float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                        t[j] = g0; t[3 + j] = 0.5f * (g0 + g1 + g2); t[6 + j] = 0.5f * (g0 - g1 + g2); t[9 + j] = g2;
                    }
                    long o = (long)k * C + c;
                    for (int r = 0; r < 4; r++)
                    {
                        float a = t[3 * r], bb = t[3 * r + 1], cc = t[3 * r + 2];
                        u[(4 * r + 0) * kc + o] = a;
                        u[(4 * r + 1) * kc + o] = 0.5f * (a + bb + cc);
                        u[(4 * r + 2) * kc + o] = 0.5f * (a - bb + cc);
                        u[(4 * r + 3) * kc + o] = cc;
                    }
                }
        }

        /// <summary>V = Bᵀ·d·B for tiles [t0, t0 + tn) and every channel: v[ξ·C·tn + c·tn + t].</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TransformInput(float* x, float* v, int t0, int tn)
        {
            var g = G;
            int tpi = _th * _tw;
            long stride = (long)g.C * tn;
            float* d = stackalloc float[16];
            bool simd = Avx2.IsSupported;
            for (int t = 0; t < tn; t++)
            {
                int tile = t0 + t, n = tile / tpi, rem = tile - n * tpi, ty = rem / _tw, tx = rem - ty * _tw;
                int iy0 = 2 * ty - g.PH, ix0 = 2 * tx - g.PW;
                if (simd && t + 8 <= tn && tx + 8 <= _tw && iy0 >= 0 && iy0 + 4 <= g.IH && ix0 >= 0 && ix0 + 19 <= g.IW)
                {
                    // eight horizontally adjacent interior tiles at once: lane i is tile t + i
                    for (int c = 0; c < g.C; c++)
                        InputTiles8(x + ((long)n * g.C + c) * g.IV + (long)iy0 * g.IW + ix0, g.IW, v + (long)c * tn + t, stride);
                    t += 7;
                    continue;
                }
                bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + 4 <= g.IH && ix0 + 4 <= g.IW;
                for (int c = 0; c < g.C; c++)
                {
                    float* xc = x + ((long)n * g.C + c) * g.IV;
                    if (inside)
                    {
                        float* s = xc + (long)iy0 * g.IW + ix0;
                        for (int r = 0; r < 4; r++, s += g.IW)
                        { d[4 * r] = s[0]; d[4 * r + 1] = s[1]; d[4 * r + 2] = s[2]; d[4 * r + 3] = s[3]; }
                    }
                    else
                    {
                        for (int r = 0; r < 4; r++)
                            for (int q = 0; q < 4; q++)
                            {
                                int iy = iy0 + r, ix = ix0 + q;
                                d[4 * r + q] = (uint)iy < (uint)g.IH && (uint)ix < (uint)g.IW ? xc[(long)iy * g.IW + ix] : 0f;
                            }
                    }
                    float* o = v + (long)c * tn + t;
                    for (int q = 0; q < 4; q++)
                    {
                        // column q of Bᵀ·d
                        float a0 = d[q] - d[8 + q], a1 = d[4 + q] + d[8 + q], a2 = d[8 + q] - d[4 + q], a3 = d[4 + q] - d[12 + q];
                        d[q] = a0; d[4 + q] = a1; d[8 + q] = a2; d[12 + q] = a3;
                    }
                    for (int r = 0; r < 4; r++)
                    {
                        float e0 = d[4 * r], e1 = d[4 * r + 1], e2 = d[4 * r + 2], e3 = d[4 * r + 3];
                        o[(4 * r + 0) * stride] = e0 - e2;
                        o[(4 * r + 1) * stride] = e1 + e2;
                        o[(4 * r + 2) * stride] = e2 - e1;
                        o[(4 * r + 3) * stride] = e1 - e3;
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Evens(float* p)
            => Avx2.Permute4x64(Avx.Shuffle(Avx.LoadVector256(p), Avx.LoadVector256(p + 8), 0x88).AsDouble(), 0xD8).AsSingle();

        /// <summary>Bᵀ·d·B for 8 adjacent tiles (input columns 2i..2i+3 of tile i) of one channel, stored 8-wide.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void InputTiles8(float* s, int iw, float* o, long stride)
        {
            // rows first (·B), then columns (Bᵀ·)
            Vector256<float> u00, u01, u02, u03, u10, u11, u12, u13, u20, u21, u22, u23, u30, u31, u32, u33;
            Row(s, out u00, out u01, out u02, out u03);
            Row(s + iw, out u10, out u11, out u12, out u13);
            Row(s + 2 * iw, out u20, out u21, out u22, out u23);
            Row(s + 3 * iw, out u30, out u31, out u32, out u33);
            Col(o, stride, 0, u00, u10, u20, u30);
            Col(o, stride, 1, u01, u11, u21, u31);
            Col(o, stride, 2, u02, u12, u22, u32);
            Col(o, stride, 3, u03, u13, u23, u33);

            static void Row(float* r, out Vector256<float> e0, out Vector256<float> e1, out Vector256<float> e2, out Vector256<float> e3)
            {
                var d0 = Evens(r); var d1 = Evens(r + 1); var d2 = Evens(r + 2); var d3 = Evens(r + 3);
                e0 = Avx.Subtract(d0, d2); e1 = Avx.Add(d1, d2); e2 = Avx.Subtract(d2, d1); e3 = Avx.Subtract(d1, d3);
            }

            static void Col(float* o, long stride, int q, Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
            {
                Avx.Store(o + (0 + q) * stride, Avx.Subtract(a0, a2));
                Avx.Store(o + (4 + q) * stride, Avx.Add(a1, a2));
                Avx.Store(o + (8 + q) * stride, Avx.Subtract(a2, a1));
                Avx.Store(o + (12 + q) * stride, Avx.Subtract(a1, a3));
            }
        }

        /// <summary>y tile = Aᵀ·m·A (+ bias, ReLU) for tiles [t0, t0 + tn), clipped at the output edge.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TransformOutput(float* m, float* y, float* bias, bool relu, int t0, int tn)
        {
            var g = G;
            int tpi = _th * _tw;
            long stride = (long)g.K * tn;
            float* s = stackalloc float[8];
            for (int k = 0; k < g.K; k++)
            {
                float bv = bias == null ? 0f : bias[k];
                float* mk = m + (long)k * tn;
                for (int t = 0; t < tn; t++)
                {
                    int tile = t0 + t, n = tile / tpi, rem = tile - n * tpi, ty = rem / _tw, tx = rem - ty * _tw;
                    if (Avx2.IsSupported && t + 8 <= tn && tx + 8 <= _tw && 2 * tx + 16 <= g.OW && 2 * ty + 2 <= g.OH)
                    {
                        OutputTiles8(mk + t, stride, y + ((long)n * g.K + k) * g.OV + (long)(2 * ty) * g.OW + 2 * tx, g.OW, bv, relu);
                        t += 7;
                        continue;
                    }
                    float* mt = mk + t;
                    for (int q = 0; q < 4; q++)
                    {
                        float m0 = mt[q * stride], m1 = mt[(4 + q) * stride], m2 = mt[(8 + q) * stride], m3 = mt[(12 + q) * stride];
                        s[q] = m0 + m1 + m2;
                        s[4 + q] = m1 - m2 - m3;
                    }
                    float* yk = y + ((long)n * g.K + k) * g.OV;
                    int oy = 2 * ty, ox = 2 * tx;
                    for (int r = 0; r < 2 && oy + r < g.OH; r++)
                    {
                        float v0 = s[4 * r] + s[4 * r + 1] + s[4 * r + 2] + bv;
                        float v1 = s[4 * r + 1] - s[4 * r + 2] - s[4 * r + 3] + bv;
                        if (relu) { if (!(v0 > 0)) v0 = 0f; if (!(v1 > 0)) v1 = 0f; }
                        float* yr = yk + (long)(oy + r) * g.OW + ox;
                        yr[0] = v0;
                        if (ox + 1 < g.OW) yr[1] = v1;
                    }
                }
            }
        }

        /// <summary>Aᵀ·m·A for 8 adjacent tiles, written as two interleaved 16-wide output rows.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void OutputTiles8(float* m, long stride, float* y, int ow, float bias, bool relu)
        {
            var vb = Vector256.Create(bias);
            for (int r = 0; r < 2; r++)
            {
                // row r of Aᵀ·m, for the four columns
                Vector256<float> s0, s1, s2, s3;
                if (r == 0)
                {
                    s0 = Sum3(m, stride, 0); s1 = Sum3(m, stride, 1); s2 = Sum3(m, stride, 2); s3 = Sum3(m, stride, 3);
                }
                else
                {
                    s0 = Diff3(m, stride, 0); s1 = Diff3(m, stride, 1); s2 = Diff3(m, stride, 2); s3 = Diff3(m, stride, 3);
                }
                var y0 = Avx.Add(Avx.Add(Avx.Add(s0, s1), s2), vb);
                var y1 = Avx.Add(Avx.Subtract(Avx.Subtract(s1, s2), s3), vb);
                if (relu) { y0 = Avx.Max(y0, Vector256<float>.Zero); y1 = Avx.Max(y1, Vector256<float>.Zero); }
                var lo = Avx.UnpackLow(y0, y1);
                var hi = Avx.UnpackHigh(y0, y1);
                float* yr = y + (long)r * ow;
                Avx.Store(yr, Avx.Permute2x128(lo, hi, 0x20));
                Avx.Store(yr + 8, Avx.Permute2x128(lo, hi, 0x31));
            }

            static Vector256<float> Sum3(float* m, long stride, int q)
                => Avx.Add(Avx.Add(Avx.LoadVector256(m + q * stride), Avx.LoadVector256(m + (4 + q) * stride)), Avx.LoadVector256(m + (8 + q) * stride));

            static Vector256<float> Diff3(float* m, long stride, int q)
                => Avx.Subtract(Avx.Subtract(Avx.LoadVector256(m + (4 + q) * stride), Avx.LoadVector256(m + (8 + q) * stride)), Avx.LoadVector256(m + (12 + q) * stride));
        }

        // F(4×4, 3×3) (Lavin and Gray, points 0, ±1, ±2): Bᵀ, G and Aᵀ applied as 1-d transforms along rows, then columns.

        /// <summary>Bᵀ·d for the six values d0..d5 (one row or column of an input tile).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void InputRow4(float d0, float d1, float d2, float d3, float d4, float d5, float* o, int step)
        {
            o[0] = 4 * d0 - 5 * d2 + d4;
            o[step] = d3 + d4 - 4 * (d1 + d2);
            o[2 * step] = 4 * (d1 - d2) + d4 - d3;
            o[3 * step] = 2 * (d3 - d1) + d4 - d2;
            o[4 * step] = 2 * (d1 - d3) + d4 - d2;
            o[5 * step] = 4 * d1 - 5 * d3 + d5;
        }

        /// <summary>U = G·g·Gᵀ for output channels [k0, k1) and every c: u[ξ·K·C + k·C + c], ξ = 6·row + col.</summary>
        private static void TransformWeights4(float* w, float* u, int K, int C, int k0, int k1)
        {
            long kc = (long)K * C;
            float* t = stackalloc float[18];
            float* r6 = stackalloc float[6];
            float* tv = stackalloc float[18 * 8];
            var idx = Vector256.Create(0, 9, 18, 27, 36, 45, 54, 63);
            for (int k = k0; k < k1; k++)
                for (int c = 0; c < C; c++)
                {
                    if (Avx2.IsSupported && c + 8 <= C)
                    {
                        // eight input channels at once (lane i: channel c + i), their nine weights gathered 9 floats apart
                        float* g8 = w + ((long)k * C + c) * 9;
                        // t = G·g (6 × 3 vectors at tv, row r at 24·r), then each row of t times Gᵀ
                        for (int j = 0; j < 3; j++)
                            WeightRow4(Avx2.GatherVector256(g8 + j, idx, 4), Avx2.GatherVector256(g8 + 3 + j, idx, 4),
                                Avx2.GatherVector256(g8 + 6 + j, idx, 4), tv + 8 * j, 24);
                        float* o8 = u + (long)k * C + c;
                        for (int r = 0; r < 6; r++)
                            WeightRow4(Avx.LoadVector256(tv + 24 * r), Avx.LoadVector256(tv + 24 * r + 8), Avx.LoadVector256(tv + 24 * r + 16),
                                o8 + 6 * r * kc, kc);
                        c += 7;
                        continue;
                    }
                    float* g = w + ((long)k * C + c) * 9;
                    // t = G·g (6 × 3), then each row of t times Gᵀ
                    for (int j = 0; j < 3; j++)
                        WeightRow4(g[j], g[3 + j], g[6 + j], t + j, 3);
                    long o = (long)k * C + c;
                    for (int r = 0; r < 6; r++)
                    {
                        WeightRow4(t[3 * r], t[3 * r + 1], t[3 * r + 2], r6, 1);
                        for (int q = 0; q < 6; q++) u[(6 * r + q) * kc + o] = r6[q];
                    }
                }
        }

        /// <summary><see cref="WeightRow4(float, float, float, float*, int)"/> for eight lanes: six vectors stored
        /// <paramref name="stride"/> floats apart.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void WeightRow4(Vector256<float> g0, Vector256<float> g1, Vector256<float> g2, float* o, long stride)
        {
            var a = Avx.Add(g0, g2);
            var sixth = Vector256.Create(1f / 6f);
            var quarterSum = Avx.Add(Avx.Multiply(g0, Vector256.Create(1f / 24f)), Avx.Multiply(g2, sixth));
            var h = Avx.Multiply(g1, Vector256.Create(1f / 12f));
            Avx.Store(o, Avx.Multiply(g0, Vector256.Create(0.25f)));
            Avx.Store(o + stride, Avx.Multiply(Avx.Add(a, g1), Vector256.Create(-1f / 6f)));
            Avx.Store(o + 2 * stride, Avx.Multiply(Avx.Subtract(g1, a), sixth));
            Avx.Store(o + 3 * stride, Avx.Add(quarterSum, h));
            Avx.Store(o + 4 * stride, Avx.Subtract(quarterSum, h));
            Avx.Store(o + 5 * stride, g2);
        }

        /// <summary>G·(g0, g1, g2): six values, <paramref name="step"/> floats apart.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void WeightRow4(float g0, float g1, float g2, float* o, int step)
        {
            float a = g0 + g2;
            o[0] = g0 / 4f;
            o[step] = -(a + g1) / 6f;
            o[2 * step] = (g1 - a) / 6f;
            o[3 * step] = g0 / 24f + g1 / 12f + g2 / 6f;
            o[4 * step] = g0 / 24f - g1 / 12f + g2 / 6f;
            o[5 * step] = g2;
        }

        /// <summary>V = Bᵀ·d·B for tiles [t0, t0 + tn) and every channel: v[ξ·C·tn + c·tn + t].</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TransformInput4(float* x, float* v, int t0, int tn)
        {
            var g = G;
            int tpi = _th * _tw;
            long stride = (long)g.C * tn;
            float* d = stackalloc float[36];
            float* e = stackalloc float[36];
            float* ev = stackalloc float[36 * 8];
            bool simd = Avx2.IsSupported && Fma.IsSupported;
            for (int t = 0; t < tn; t++)
            {
                int tile = t0 + t, n = tile / tpi, rem = tile - n * tpi, ty = rem / _tw, tx = rem - ty * _tw;
                int iy0 = 4 * ty - g.PH, ix0 = 4 * tx - g.PW;
                if (simd && t + 8 <= tn && tx + 8 <= _tw && iy0 >= 0 && iy0 + 6 <= g.IH && ix0 >= 0 && ix0 + 34 <= g.IW)
                {
                    // eight horizontally adjacent interior tiles at once: lane i is tile t + i
                    for (int c = 0; c < g.C; c++)
                        InputTiles8x4(x + ((long)n * g.C + c) * g.IV + (long)iy0 * g.IW + ix0, g.IW, v + (long)c * tn + t, stride, ev);
                    t += 7;
                    continue;
                }
                bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + 6 <= g.IH && ix0 + 6 <= g.IW;
                for (int c = 0; c < g.C; c++)
                {
                    float* xc = x + ((long)n * g.C + c) * g.IV;
                    for (int r = 0; r < 6; r++)
                        for (int q = 0; q < 6; q++)
                        {
                            int iy = iy0 + r, ix = ix0 + q;
                            d[6 * r + q] = inside || ((uint)iy < (uint)g.IH && (uint)ix < (uint)g.IW) ? xc[(long)iy * g.IW + ix] : 0f;
                        }
                    // rows: e[r][·] = Bᵀ·d[r][·]; columns: V[·][q] = Bᵀ·e[·][q]
                    for (int r = 0; r < 6; r++)
                        InputRow4(d[6 * r], d[6 * r + 1], d[6 * r + 2], d[6 * r + 3], d[6 * r + 4], d[6 * r + 5], e + 6 * r, 1);
                    for (int q = 0; q < 6; q++)
                        InputRow4(e[q], e[6 + q], e[12 + q], e[18 + q], e[24 + q], e[30 + q], d + q, 6);
                    float* o = v + (long)c * tn + t;
                    for (int xi = 0; xi < 36; xi++) o[xi * stride] = d[xi];
                }
            }
        }

        /// <summary>y tile = Aᵀ·m·A (+ bias, ReLU) for tiles [t0, t0 + tn), clipped at the output edge.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TransformOutput4(float* m, float* y, float* bias, bool relu, int t0, int tn)
        {
            var g = G;
            int tpi = _th * _tw;
            long stride = (long)g.K * tn;
            float* s = stackalloc float[24];
            float* r4 = stackalloc float[4];
            float* sv = stackalloc float[24 * 8];
            bool simd = Avx2.IsSupported && Fma.IsSupported;
            for (int k = 0; k < g.K; k++)
            {
                float bv = bias == null ? 0f : bias[k];
                float* mk = m + (long)k * tn;
                for (int t = 0; t < tn; t++)
                {
                    int tile = t0 + t, n = tile / tpi, rem = tile - n * tpi, ty = rem / _tw, tx = rem - ty * _tw;
                    if (simd && t + 8 <= tn && tx + 8 <= _tw && 4 * tx + 32 <= g.OW && 4 * ty + 4 <= g.OH)
                    {
                        OutputTiles8x4(mk + t, stride, y + ((long)n * g.K + k) * g.OV + (long)(4 * ty) * g.OW + 4 * tx, g.OW, bv, relu, sv);
                        t += 7;
                        continue;
                    }
                    float* mt = mk + t;
                    // s[o][q] = (Aᵀ·m)[o][q]
                    for (int q = 0; q < 6; q++)
                    {
                        float m0 = mt[q * stride], m1 = mt[(6 + q) * stride], m2 = mt[(12 + q) * stride];
                        float m3 = mt[(18 + q) * stride], m4 = mt[(24 + q) * stride], m5 = mt[(30 + q) * stride];
                        OutputRow4(m0, m1, m2, m3, m4, m5, s + q, 6);
                    }
                    float* yk = y + ((long)n * g.K + k) * g.OV;
                    int oy = 4 * ty, ox = 4 * tx;
                    for (int o = 0; o < 4 && oy + o < g.OH; o++)
                    {
                        OutputRow4(s[6 * o], s[6 * o + 1], s[6 * o + 2], s[6 * o + 3], s[6 * o + 4], s[6 * o + 5], r4, 1);
                        float* yr = yk + (long)(oy + o) * g.OW + ox;
                        for (int q = 0; q < 4 && ox + q < g.OW; q++)
                        {
                            float val = r4[q] + bv;
                            yr[q] = relu && !(val > 0) ? 0f : val;
                        }
                    }
                }
            }
        }

        /// <summary>Bᵀ·d for eight lanes: six vectors stored <paramref name="stride"/> floats apart.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void InputRow4(Vector256<float> d0, Vector256<float> d1, Vector256<float> d2, Vector256<float> d3, Vector256<float> d4,
            Vector256<float> d5, float* o, long stride)
        {
            Vector256<float> four = Vector256.Create(4f), two = Vector256.Create(2f), d42 = Avx.Subtract(d4, d2);
            Avx.Store(o, Fma.MultiplyAdd(four, d0, Fma.MultiplyAdd(Vector256.Create(-5f), d2, d4)));
            Avx.Store(o + stride, Fma.MultiplyAdd(Vector256.Create(-4f), Avx.Add(d1, d2), Avx.Add(d3, d4)));
            Avx.Store(o + 2 * stride, Fma.MultiplyAdd(four, Avx.Subtract(d1, d2), Avx.Subtract(d4, d3)));
            Avx.Store(o + 3 * stride, Fma.MultiplyAdd(two, Avx.Subtract(d3, d1), d42));
            Avx.Store(o + 4 * stride, Fma.MultiplyAdd(two, Avx.Subtract(d1, d3), d42));
            Avx.Store(o + 5 * stride, Fma.MultiplyAdd(four, d1, Fma.MultiplyAdd(Vector256.Create(-5f), d3, d5)));
        }

        /// <summary>Bᵀ·d·B for 8 adjacent tiles of one channel (input columns 4i..4i+5 of tile i, gathered), stored 8-wide
        /// at o + ξ·stride; <paramref name="e"/> holds the 36 row-transformed vectors.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void InputTiles8x4(float* s, int iw, float* o, long stride, float* e)
        {
            var idx = Vector256.Create(0, 4, 8, 12, 16, 20, 24, 28);
            for (int r = 0; r < 6; r++, s += iw)
                InputRow4(Avx2.GatherVector256(s, idx, 4), Avx2.GatherVector256(s + 1, idx, 4), Avx2.GatherVector256(s + 2, idx, 4),
                    Avx2.GatherVector256(s + 3, idx, 4), Avx2.GatherVector256(s + 4, idx, 4), Avx2.GatherVector256(s + 5, idx, 4), e + 48 * r, 8);
            // e[r][q] at e + 48·r + 8·q; columns: V[p][q] = Bᵀ·e[·][q] to o + (6p + q)·stride
            for (int q = 0; q < 6; q++)
                InputRow4(Avx.LoadVector256(e + 8 * q), Avx.LoadVector256(e + 48 + 8 * q), Avx.LoadVector256(e + 96 + 8 * q),
                    Avx.LoadVector256(e + 144 + 8 * q), Avx.LoadVector256(e + 192 + 8 * q), Avx.LoadVector256(e + 240 + 8 * q), o + q * stride, 6 * stride);
        }

        /// <summary>Aᵀ·(m0..m5) for eight lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void OutputRow4(Vector256<float> m0, Vector256<float> m1, Vector256<float> m2, Vector256<float> m3, Vector256<float> m4,
            Vector256<float> m5, out Vector256<float> o0, out Vector256<float> o1, out Vector256<float> o2, out Vector256<float> o3)
        {
            Vector256<float> p12 = Avx.Add(m1, m2), d12 = Avx.Subtract(m1, m2), p34 = Avx.Add(m3, m4), d34 = Avx.Subtract(m3, m4);
            o0 = Avx.Add(Avx.Add(m0, p12), p34);
            o1 = Fma.MultiplyAdd(Vector256.Create(2f), d34, d12);
            o2 = Fma.MultiplyAdd(Vector256.Create(4f), p34, p12);
            o3 = Avx.Add(Fma.MultiplyAdd(Vector256.Create(8f), d34, d12), m5);
        }

        /// <summary>Aᵀ·m·A (+ bias, ReLU) for 8 adjacent tiles (m at ξ·stride), written as four output rows of 32
        /// floats from y; <paramref name="sv"/> holds the 24 column-transformed vectors.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void OutputTiles8x4(float* m, long stride, float* y, int ow, float bias, bool relu, float* sv)
        {
            // sv[o][q] = (Aᵀ·m)[o][q] at sv + 48·o + 8·q
            for (int q = 0; q < 6; q++)
            {
                OutputRow4(Avx.LoadVector256(m + q * stride), Avx.LoadVector256(m + (6 + q) * stride), Avx.LoadVector256(m + (12 + q) * stride),
                    Avx.LoadVector256(m + (18 + q) * stride), Avx.LoadVector256(m + (24 + q) * stride), Avx.LoadVector256(m + (30 + q) * stride),
                    out var a0, out var a1, out var a2, out var a3);
                Avx.Store(sv + 8 * q, a0); Avx.Store(sv + 48 + 8 * q, a1); Avx.Store(sv + 96 + 8 * q, a2); Avx.Store(sv + 144 + 8 * q, a3);
            }
            var vb = Vector256.Create(bias);
            for (int o = 0; o < 4; o++)
            {
                float* r = sv + 48 * o;
                OutputRow4(Avx.LoadVector256(r), Avx.LoadVector256(r + 8), Avx.LoadVector256(r + 16), Avx.LoadVector256(r + 24),
                    Avx.LoadVector256(r + 32), Avx.LoadVector256(r + 40), out var c0, out var c1, out var c2, out var c3);
                c0 = Avx.Add(c0, vb); c1 = Avx.Add(c1, vb); c2 = Avx.Add(c2, vb); c3 = Avx.Add(c3, vb);
                if (relu)
                {
                    c0 = Avx.Max(c0, Vector256<float>.Zero); c1 = Avx.Max(c1, Vector256<float>.Zero);
                    c2 = Avx.Max(c2, Vector256<float>.Zero); c3 = Avx.Max(c3, Vector256<float>.Zero);
                }
                // lanes are tiles, c0..c3 the tiles' four columns: a 4 × 8 transpose into 32 consecutive floats
                Vector256<float> t0 = Avx.UnpackLow(c0, c1), t1 = Avx.UnpackHigh(c0, c1), t2 = Avx.UnpackLow(c2, c3), t3 = Avx.UnpackHigh(c2, c3);
                Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
                float* yr = y + (long)o * ow;
                Avx.Store(yr, Avx.Permute2x128(u0, u1, 0x20));
                Avx.Store(yr + 8, Avx.Permute2x128(u2, u3, 0x20));
                Avx.Store(yr + 16, Avx.Permute2x128(u0, u1, 0x31));
                Avx.Store(yr + 24, Avx.Permute2x128(u2, u3, 0x31));
            }
        }

        /// <summary>Aᵀ·(m0..m5): four values, <paramref name="step"/> floats apart.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void OutputRow4(float m0, float m1, float m2, float m3, float m4, float m5, float* o, int step)
        {
            float p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
            o[0] = m0 + p12 + p34;
            o[step] = d12 + 2 * d34;
            o[2 * step] = p12 + 4 * p34;
            o[3 * step] = d12 + 8 * d34 + m5;
        }
    }
}
