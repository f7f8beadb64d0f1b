using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Winograd F(2×2, 3×3) forward convolution for 2-d 3×3 kernels, stride 1, dilation 1, one group. Each 2×2 output
/// tile is computed from a 4×4 input tile with 16 multiplies per (input channel, output channel) pair instead of 36
/// (2.25× fewer): the weights are transformed once per call (U = G·g·Gᵀ), input tiles are transformed (V = Bᵀ·d·B),
/// the 16 products become 16 GEMMs M[ξ] = U[ξ]·V[ξ] over a chunk of tiles, and each output tile is
/// Aᵀ·m·A (bias and ReLU fused into that write).
/// <para>Accuracy: the F(2,3) transforms only use coefficients 1 and ½, so the result differs from direct
/// convolution by ordinary float32 rounding of slightly longer sums: the tests bound the error by
/// 8e-5·√(C·9)·(1 + √|y|) for inputs and weights in [-1, 1] (a few times the GEMM lowering's bound), far below
/// training noise.</para>
/// Declines tiny channel counts (fewer than 8 in or out), where the transforms cost more than they save.
/// </summary>
public sealed class WinogradAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;

    /// <summary>The instance used when the algorithm is forced: accepts every shape it can run (C, K ≥ 8).</summary>
    public static WinogradAlgorithm Instance { get; } = new(false);

    /// <summary>The instance the planner tries: also declines shapes where it measured slower than the GEMM lowering.
    /// With the AVX-512 GEMM (2 threads) it only won on wide layers: VGG-16's 256→256 at 56×56 17.6 ms against 22.0;
    /// it lost on ResNet-50 res2 (64 channels, 5.2 against 2.4 ms), res3 (128, 3.3 against 2.8), res4 (256 at 14×14,
    /// 7.8 against 3.3) and the CIFAR batch (64 channels, 21.3 against 16.8): its transforms run at memory speed while
    /// the GEMM runs near peak. So: at least 256 input and output channels and 2048 output positions in the batch.
    /// </summary>
    public static WinogradAlgorithm Preferred { get; } = new(true);

    private WinogradAlgorithm(bool heuristic) => _heuristic = heuristic;

    /// <inheritdoc/>
    public string Name => "winograd_f2x2_3x3";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (direction != ConvDirection.Forward || core.Rank != 2 || core.Groups != 1) return null;
        if (core.KernelSize[0] != 3 || core.KernelSize[1] != 3) return null;
        if (core.Stride[0] != 1 || core.Stride[1] != 1 || core.Dilation[0] != 1 || core.Dilation[1] != 1) return null;
        if (core.InChannels < 8 || core.OutChannels < 8) return null;
        if (_heuristic && (core.InChannels < 256 || core.OutChannels < 256 || (long)core.N * core.OutputVolume < 2048)) return null;
        // Where 512-bit FMAs run at full rate, the implicit GEMM ran VGG-16's 3×3 layer faster (285 against 243
        // GFLOP/s, Xeon, 2 threads); with AVX2 Winograd stays ahead (the implicit GEMM ran it at 0.98x the lowering).
        if (_heuristic && GemmCore.WideFmaPays) return null;
        return new Plan(core);
    }

    private sealed unsafe class Plan : ConvPlan
    {
        private readonly int _th, _tw, _tiles, _tc, _chunks;

        public Plan(ConvDescriptor d) : base("winograd_f2x2_3x3", d, ConvDirection.Forward)
        {
            _th = (G.OH + 1) / 2; _tw = (G.OW + 1) / 2;
            _tiles = G.N * _th * _tw;
            // tiles per chunk: keep the transformed input and the products of one chunk (16·(C+K)·tc floats) near 1 MB
            int tc = GemmCore.RoundUp(Math.Max(1, 16384 / (G.C + G.K)), 16);
            _tc = Math.Min(Math.Clamp(tc, 32, 512), _tiles);
            _chunks = (_tiles + _tc - 1) / _tc;
        }

        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* b = bs) fixed (float* y = ys)
            {
                var g = G;
                int K = g.K, C = g.C;
                long kc = (long)K * C;
                // U[ξ][k][c], then packed for the micro-kernel (reused by every chunk)
                float* u = Workspace.Get(Workspace.Partials, 16 * kc);
                TransformWeights(w, u, K, C);
                long paSize = GemmCore.PackedASize(K, C);
                float* packed = Workspace.Get(Workspace.PackedWeights, 16 * paSize);
                for (int xi = 0; xi < 16; xi++)
                    GemmCore.PackAFull(false, K, C, 1f, u + xi * kc, C, packed + xi * paSize);

                int threads = Threads;
                bool itemPar = threads > 1 && _chunks >= threads && (_chunks >= 4 * threads || _chunks % threads == 0);
                int gemmThreads = itemPar ? 1 : threads;
                nint px = (nint)x, py = (nint)y, pb = (nint)b, pp = (nint)packed;
                int tc = _tc, tiles = _tiles;
                VecOps.ParallelItems(_chunks, itemPar ? threads : 1, (_, ch) =>
                {
                    int t0 = ch * tc, tn = Math.Min(tc, tiles - t0);
                    float* v = Workspace.Get(Workspace.Columns, 16L * C * tn);
                    float* m = Workspace.Get(Workspace.Scratch, 16L * K * tn);
                    TransformInput((float*)px, v, t0, tn);
                    for (int xi = 0; xi < 16; xi++)
                        GemmCore.Run(false, false, K, tn, C, 1f, null, 0, v + xi * (long)C * tn, tn, 0f, m + xi * (long)K * tn, tn,
                            null, false, gemmThreads, (float*)pp + xi * paSize);
                    TransformOutput(m, (float*)py, pb == 0 ? null : (float*)pb, relu, t0, tn);
                });
            }
        }

        /// <summary>U = G·g·Gᵀ for every (k, c): u[ξ·K·C + k·C + c], ξ = 4·row + col.</summary>
        private static void TransformWeights(float* w, float* u, int K, int C)
        {
            long kc = (long)K * C;
            float* t = stackalloc float[12];
            for (int k = 0; k < K; k++)
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
    }
}
