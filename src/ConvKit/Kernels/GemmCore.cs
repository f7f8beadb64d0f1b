using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// The packed SGEMM behind <see cref="Gemm.Sgemm"/> (Goto/BLIS structure). A is packed into panels of
/// <see cref="MR"/> rows and B into panels of <see cref="NR"/> columns, both zero-padded so the micro-kernel never
/// branches on tails; blocking keeps one B micro-panel (KC×16) in L1 and one A block (MC×KC) in L2. The 6×16
/// micro-kernel holds 12 Vector256 accumulators (6 rows × 2 vectors), which with the two B vectors and one broadcast
/// fills 15 of the 16 ymm registers and keeps both FMA pipes busy. Where AVX-512 is on, full tiles run 12×32 on 24
/// zmm accumulators (over the same packed layout), with 6×32 and 12×16 kernels for the edges. Kernels that read an
/// operand in place (weights, a column chunk, the shifted input of an implicit GEMM) are generic over where B's rows
/// lie (<see cref="IBRows"/>). The epilogue (beta, per-row bias, ReLU) is applied when the tile is written after the
/// last k-block, so fused conv outputs cost no extra pass.
/// </summary>
internal static unsafe class GemmCore
{
    /// <summary>Rows of a micro-tile.</summary>
    public const int MR = 6;
    /// <summary>Columns of a micro-tile (two Vector256).</summary>
    public const int NR = 16;
    /// <summary>Depth of a k-block.</summary>
    public const int KC = 256;
    /// <summary>Rows of an A block (multiple of MR).</summary>
    public const int MC = 120;
    /// <summary>Columns of a B block (multiple of NR).</summary>
    public const int NC = 2048;

    /// <summary>Below this many multiply-adds one thread is faster than waking a second.</summary>
    public const long ParallelThreshold = 1L << 19;

    [ThreadStatic] private static float[]? t_bufA;
    [ThreadStatic] private static float[]? t_bufB;

    /// <summary>Pointer into a pinned, thread-local, 64-byte-aligned buffer of at least <paramref name="floats"/> floats.</summary>
    internal static float* ThreadBuffer(ref float[]? arr, int floats)
    {
        if (arr is null || arr.Length < floats + 16)
            arr = GC.AllocateUninitializedArray<float>(floats + 16, pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        return (float*)((p + 63) & ~(nint)63);
    }

    internal static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>
    /// Whether full 12×32 tiles run on the AVX-512 kernel (where the CPU has it: about 1.6× the AVX2 FMA throughput
    /// per core on Ice Lake; on Zen 4, which splits 512-bit FMAs in two, both kernels measured 107 GFLOP/s on 512³).
    /// Off, everything runs on the 6×16 AVX2 kernel, the baseline for CPUs without AVX-512 such as Zen 3. Both read the
    /// same packed layout; tests switch this to cover both.
    /// </summary>
    internal static bool UseAvx512 { get; set; } = Avx512F.IsSupported;

    /// <summary>Whether the AVX-512 kernels run: the CPU has AVX-512 and <see cref="UseAvx512"/> is on. (The
    /// <c>IsSupported</c> test is a JIT-time constant, so callers' AVX-512 paths compile away without it.)</summary>
    internal static bool Avx512On => Avx512F.IsSupported && UseAvx512;

    /// <summary>Whether the CPU is AMD's (CPUID vendor "AuthenticAMD"): the planner's rules differ where the two vendors'
    /// cores measured differently (see <c>BlockedDirectAlgorithm</c>).</summary>
    internal static bool IsAmd { get; } = X86Base.IsSupported && X86Base.CpuId(0, 0) is var (_, b, c, d) && (b, d, c) == (0x68747541, 0x69746E65, 0x444D4163);

    /// <summary>
    /// Whether 512-bit FMAs run at twice the 256-bit rate here (two full-width units, as on Sapphire Rapids), rather
    /// than at the same rate (Zen 4 splits them in two). Only the planner reads it, to prefer the kernels that
    /// profit from the width; measured once (12 independent FMA chains of each width, best of 3-30 rounds, 0.3-3 ms).
    /// </summary>
    internal static bool WideFmaPays => UseAvx512 && s_wideFmaPays.Value;

    private static readonly Lazy<bool> s_wideFmaPays = new(() =>
    {
        if (!Avx512F.IsSupported) return false;
        // the first 512-bit instructions may run slowly while the core changes its power state
        if (FmaChains512(20000) == float.MinValue) return false;
        double best256 = double.MaxValue, best512 = double.MaxValue;
        // Same time for twice the lanes means twice the rate; the threshold sits between 1x and 2x. Best times only
        // fall, so rounds go on (up to 30, 3 ms) until full rate shows or the evidence against it is firm: on a
        // shared host a run of three rounds read "half rate" in one process of four on a full-rate Xeon, and that
        // process planned every dense layer onto slower algorithms.
        for (int round = 0; round < 30; round++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            float s0 = FmaChains256(20000);
            long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            float s1 = FmaChains512(20000);
            long t2 = System.Diagnostics.Stopwatch.GetTimestamp();
            if (s0 == float.MinValue || s1 == float.MinValue) return false; // keeps the results alive
            best256 = Math.Min(best256, t1 - t0);
            best512 = Math.Min(best512, t2 - t1);
            if (round >= 2 && best256 / best512 > 0.85) return true;
        }
        return best256 / best512 > 0.7;
    });

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains256(int n)
    {
        var m = Vector256.Create(0.999f); var d = Vector256.Create(1e-7f);
        Vector256<float> a0 = m, a1 = d, a2 = m, a3 = d, a4 = m, a5 = d, a6 = m, a7 = d, a8 = m, a9 = d, a10 = m, a11 = d;
        for (int i = 0; i < n; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, d); a1 = Fma.MultiplyAdd(a1, m, d); a2 = Fma.MultiplyAdd(a2, m, d); a3 = Fma.MultiplyAdd(a3, m, d);
            a4 = Fma.MultiplyAdd(a4, m, d); a5 = Fma.MultiplyAdd(a5, m, d); a6 = Fma.MultiplyAdd(a6, m, d); a7 = Fma.MultiplyAdd(a7, m, d);
            a8 = Fma.MultiplyAdd(a8, m, d); a9 = Fma.MultiplyAdd(a9, m, d); a10 = Fma.MultiplyAdd(a10, m, d); a11 = Fma.MultiplyAdd(a11, m, d);
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).GetElement(0);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains512(int n)
    {
        var m = Vector512.Create(0.999f); var d = Vector512.Create(1e-7f);
        Vector512<float> a0 = m, a1 = d, a2 = m, a3 = d, a4 = m, a5 = d, a6 = m, a7 = d, a8 = m, a9 = d, a10 = m, a11 = d;
        for (int i = 0; i < n; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, d); a1 = Avx512F.FusedMultiplyAdd(a1, m, d); a2 = Avx512F.FusedMultiplyAdd(a2, m, d); a3 = Avx512F.FusedMultiplyAdd(a3, m, d);
            a4 = Avx512F.FusedMultiplyAdd(a4, m, d); a5 = Avx512F.FusedMultiplyAdd(a5, m, d); a6 = Avx512F.FusedMultiplyAdd(a6, m, d); a7 = Avx512F.FusedMultiplyAdd(a7, m, d);
            a8 = Avx512F.FusedMultiplyAdd(a8, m, d); a9 = Avx512F.FusedMultiplyAdd(a9, m, d); a10 = Avx512F.FusedMultiplyAdd(a10, m, d); a11 = Avx512F.FusedMultiplyAdd(a11, m, d);
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).GetElement(0);
    }

    /// <summary>Size in floats of a fully packed A (see <see cref="PackAFull"/>).</summary>
    public static long PackedASize(int m, int k) => (long)RoundUp(m, MR) * k;

    /// <summary>
    /// Packs all of op(A) (m×k, scaled by alpha) once, for reuse across many products with the same A (conv weights):
    /// k-block pc starts at pc·RoundUp(m, MR); inside it, row panel q starts at q·MR·kc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackAFull(bool transA, int m, int k, float alpha, float* a, int lda, float* dst)
    {
        int mPad = RoundUp(m, MR);
        for (int pc = 0; pc < k; pc += KC)
        {
            int kc = Math.Min(KC, k - pc);
            PackA(transA, m, kc, alpha, transA ? a + (long)pc * lda : a + pc, lda, dst + (long)pc * mPad);
        }
    }

    /// <summary>Packs rows [0, mc) × depth [0, kc) of op(A), starting at <paramref name="a"/> = &amp;op(A)(0, 0), into MR-row panels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(bool transA, int mc, int kc, float alpha, float* a, int lda, float* dst)
    {
        for (int i0 = 0; i0 < mc; i0 += MR)
        {
            int mr = Math.Min(MR, mc - i0);
            float* d = dst + (long)i0 * kc;
            if (!transA && mr == MR)
            {
                // six row streams written in panel order (sequential stores): much faster than one row at a time
                // with stride-6 stores when A is wide and short (conv gradients as the A operand)
                float* s0 = a + (long)i0 * lda, s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda;
                float* dp = d;
                if (alpha == 1f)
                    for (int p = 0; p < kc; p++, dp += MR)
                    { dp[0] = s0[p]; dp[1] = s1[p]; dp[2] = s2[p]; dp[3] = s3[p]; dp[4] = s4[p]; dp[5] = s5[p]; }
                else
                    for (int p = 0; p < kc; p++, dp += MR)
                    {
                        dp[0] = alpha * s0[p]; dp[1] = alpha * s1[p]; dp[2] = alpha * s2[p];
                        dp[3] = alpha * s3[p]; dp[4] = alpha * s4[p]; dp[5] = alpha * s5[p];
                    }
            }
            else if (!transA)
            {
                for (int r = 0; r < mr; r++)
                {
                    float* src = a + (long)(i0 + r) * lda;
                    for (int p = 0; p < kc; p++) d[p * MR + r] = alpha * src[p];
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)p * lda + i0;
                    for (int r = 0; r < mr; r++) d[p * MR + r] = alpha * src[r];
                }
            }
            for (int r = mr; r < MR; r++)
                for (int p = 0; p < kc; p++) d[p * MR + r] = 0f;
        }
    }

    /// <summary>Packs depth [0, kc) × columns [0, nc) of op(B), starting at <paramref name="b"/> = &amp;op(B)(0, 0), into NR-column panels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(bool transB, int kc, int nc, float* b, int ldb, float* dst)
    {
        for (int j0 = 0; j0 < nc; j0 += NR)
        {
            int nr = Math.Min(NR, nc - j0);
            float* d = dst + (long)j0 * kc;
            if (!transB)
            {
                if (nr == NR && Avx.IsSupported)
                {
                    float* src = b + j0;
                    for (int p = 0; p < kc; p++, src += ldb, d += NR)
                    {
                        Avx.Store(d, Avx.LoadVector256(src));
                        Avx.Store(d + 8, Avx.LoadVector256(src + 8));
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = b + (long)p * ldb + j0;
                        int j = 0;
                        for (; j < nr; j++) d[p * NR + j] = src[j];
                        for (; j < NR; j++) d[p * NR + j] = 0f;
                    }
                }
            }
            else
            {
                // the panel is the transpose of nr source rows of kc floats: 8×8 AVX blocks (a scalar walk here took a
                // fifth of ResNet-50 conv1's backward-weights), zero columns past nr
                if (nr < NR) new Span<float>(d, kc * NR).Clear();
                VecOps.Transpose(b + (long)j0 * ldb, nr, kc, d, 0, nr, ldb, NR);
            }
        }
    }

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C (+ bias[row]) (then max(·, 0) when <paramref name="relu"/>), split over up to
    /// <paramref name="threads"/> threads. <paramref name="packedA"/>, when not null, is op(A) already packed by
    /// <see cref="PackAFull"/> (alpha included; <paramref name="a"/> and <paramref name="transA"/> are then ignored).
    /// </summary>
    public static void Run(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc, float* bias, bool relu, int threads, float* packedA = null, bool directA = false, bool directB = false)
    {
        // Reading A in place (no packing) only pays when A is used for few columns; it needs alpha 1 and FMA.
        directA = directA && packedA == null && alpha == 1f && Fma.IsSupported;
        // Reading B in place (rows of a cache-resident column chunk) saves its packing pass.
        directB = directB && !transB && !directA && Fma.IsSupported;
        if (m <= 0 || n <= 0) return;
        if (k == 0 || (alpha == 0 && packedA == null))
        {
            ScaleOnly(m, n, beta, c, ldc, bias, relu);
            return;
        }
        int mPad = RoundUp(m, MR);
        long work = (long)m * n * k;
        int t = threads;
        if (work < ParallelThreshold) t = 1;
        bool splitN = n >= m || m < 2 * MR;
        if (splitN) t = Math.Min(t, (n + NR - 1) / NR);
        else t = Math.Min(t, (m + MR - 1) / MR);
        if (t <= 1)
        {
            RunST(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu, packedA, mPad, 0, directA, directB);
            return;
        }
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c, pbias = (nint)bias, ppacked = (nint)packedA;
        int unit = splitN ? NR : MR;
        int total = splitN ? n : m;
        int per = RoundUp((total + t - 1) / t, unit);
        VecOps.ParallelItems(t, t, (_, ti) =>
        {
            int lo = ti * per, hi = Math.Min(total, lo + per);
            if (lo >= hi) return;
            float* a0 = (float*)pa, b0 = (float*)pb, c0 = (float*)pc, bias0 = (float*)pbias, packed0 = (float*)ppacked;
            if (splitN)
                RunST(transA, transB, m, hi - lo, k, alpha, a0, lda, transB ? b0 + (long)lo * ldb : b0 + lo, ldb, beta,
                    c0 + lo, ldc, bias0, relu, packed0, mPad, 0, directA, directB);
            else
                RunST(transA, transB, hi - lo, n, k, alpha, packed0 != null ? a0 : transA ? a0 + lo : a0 + (long)lo * lda, lda, b0, ldb, beta,
                    c0 + (long)lo * ldc, ldc, bias0 == null ? null : bias0 + lo, relu, packed0, mPad, lo, directA, directB);
        });
    }

    private static void ScaleOnly(int m, int n, float beta, float* c, int ldc, float* bias, bool relu)
    {
        for (int i = 0; i < m; i++)
        {
            float* r = c + (long)i * ldc;
            float bv = bias == null ? 0f : bias[i];
            for (int j = 0; j < n; j++)
            {
                float v = (beta == 0 ? 0f : beta * r[j]) + bv;
                r[j] = relu && !(v > 0) ? 0f : v;
            }
        }
    }

    /// <summary>One thread's share. With a packed A, <paramref name="aRow0"/> is this share's first row in it (a multiple of MR).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunST(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc, float* bias, bool relu, float* packedA, int mPadFull, int aRow0, bool directA, bool directB)
    {
        float* bufB = ThreadBuffer(ref t_bufB, KC * Math.Min(NC, RoundUp(n, NR)));
        nint rs = transA ? 1 : lda, ps = transA ? lda : 1;
        float* bufA = packedA == null && !directA ? ThreadBuffer(ref t_bufA, KC * Math.Min(MC, RoundUp(m, MR))) : null;
        bool wide = UseAvx512;
        float* tile = stackalloc float[2 * MR * NR]; // partial 12×16 tiles of the wide path
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                float betaEff = pc == 0 ? beta : 1f;
                bool last = pc + kc >= k;
                if (!directB) PackB(transB, kc, nc, transB ? b + (long)jc * ldb + pc : b + (long)pc * ldb + jc, ldb, bufB);
                for (int ic = 0; ic < m; ic += MC)
                {
                    int mc = Math.Min(MC, m - ic);
                    float* ablk;
                    if (packedA != null) ablk = packedA + (long)pc * mPadFull + (long)(aRow0 + ic) * kc;
                    else if (directA) ablk = a + ic * rs + pc * ps;
                    else
                    {
                        PackA(transA, mc, kc, alpha, transA ? a + (long)pc * lda + ic : a + (long)ic * lda + pc, lda, bufA);
                        ablk = bufA;
                    }
                    float* biasBlk = last && bias != null ? bias + ic : null;
                    bool reluBlk = last && relu;
                    // A element (r, p) at ablk[r·ars + p·aps]; a 6-row panel starts aRow floats per row further
                    // (packed panels: rows interleaved within a panel, panels kc·MR apart)
                    nint ars = directA ? rs : 1, aps = directA ? ps : MR, aRow = directA ? rs : kc;
                    for (int jr = 0; jr < nc; jr += NR)
                    {
                        int nr = Math.Min(NR, nc - jr);
                        float* bp = bufB + (long)jr * kc;
                        nint bs = NR;
                        if (directB)
                        {
                            float* bsrc = b + (long)pc * ldb + jc + jr;
                            if (nr == NR) { bp = bsrc; bs = ldb; }
                            else { PackB(false, kc, nr, bsrc, ldb, bufB); bp = bufB; }
                        }
                        float* cc = c + (long)ic * ldc + jc + jr;
                        int ir = 0;
                        if (wide && nc - jr >= 2 * NR)
                        {
                            // Two B panels side by side: 12×32 tiles, then the leftover rows 6 at a time, all 512-bit.
                            float* bp2 = directB ? bp + NR : bp + (long)NR * kc;
                            for (; ir + 2 * MR <= mc; ir += 2 * MR)
                                Kernel12x32Avx512(kc, ablk + ir * aRow, ablk + (ir + MR) * aRow, ars, aps, new StridedRows(bp, bs), (nint)(bp2 - bp),
                                    cc + (long)ir * ldc, ldc, betaEff, biasBlk == null ? null : biasBlk + ir, reluBlk);
                            for (; ir < mc; ir += MR)
                                Kernel6x32Avx512(kc, ablk + ir * aRow, ars, aps, Math.Min(MR, mc - ir), new StridedRows(bp, bs), (nint)(bp2 - bp),
                                    cc + (long)ir * ldc, ldc, betaEff, biasBlk == null ? null : biasBlk + ir, reluBlk);
                            jr += NR;
                            continue;
                        }
                        if (wide)
                        {
                            // A last single panel (narrow outputs: 49 or 196 positions): 12×16 tiles on one zmm column
                            // at the 512-bit rate instead of two 6×16 AVX2 calls. A panel of a few columns with A's
                            // rows contiguous (transposed A read in place: backward-data) runs 32 rows at a time with
                            // the rows in the vector lanes, instead of a 16-lane tile for one to four useful lanes.
                            if (directA && rs == 1 && nr <= 4)
                                for (; ir + 32 <= mc; ir += 32)
                                    KernelRows32Avx512(kc, ablk + ir, ps, bp, bs, nr, cc + (long)ir * ldc, ldc, betaEff,
                                        biasBlk == null ? null : biasBlk + ir, reluBlk);
                            for (; ir + 2 * MR <= mc; ir += 2 * MR)
                            {
                                float* a0 = ablk + ir * aRow, a6 = ablk + (ir + MR) * aRow;
                                float* biasT = biasBlk == null ? null : biasBlk + ir;
                                if (nr == NR) Kernel12x16Avx512(kc, a0, a6, ars, aps, bp, bs, cc + (long)ir * ldc, ldc, betaEff, biasT, reluBlk);
                                else
                                {
                                    Kernel12x16Avx512(kc, a0, a6, ars, aps, bp, bs, tile, NR, 0f, null, false);
                                    MergeTile(tile, cc + (long)ir * ldc, ldc, 2 * MR, nr, betaEff, biasT, reluBlk);
                                }
                            }
                        }
                        for (; ir < mc; ir += MR)
                        {
                            int mr = Math.Min(MR, mc - ir);
                            if (directA)
                                MicroDirect(kc, ablk + ir * rs, rs, ps, bp, bs, cc + (long)ir * ldc, ldc, mr, nr, betaEff,
                                    biasBlk == null ? null : biasBlk + ir, reluBlk);
                            else
                                Micro(kc, ablk + (long)ir * kc, bp, bs, cc + (long)ir * ldc, ldc, mr, nr, betaEff,
                                    biasBlk == null ? null : biasBlk + ir, reluBlk);
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Micro(int kc, float* a, float* b, nint bs, float* c, int ldc, int mr, int nr, float beta, float* bias, bool relu)
    {
        if (Fma.IsSupported)
        {
            if (mr == MR && nr == NR)
            {
                Kernel6x16PackedFma(kc, a, b, bs, c, ldc, beta, bias, relu);
                return;
            }
            float* tile = stackalloc float[MR * NR];
            Kernel6x16PackedFma(kc, a, b, bs, tile, NR, 0f, null, false);
            MergeTile(tile, c, ldc, mr, nr, beta, bias, relu);
        }
        else
        {
            float* tile = stackalloc float[MR * NR];
            KernelScalar(kc, a, b, tile);
            MergeTile(tile, c, ldc, mr, nr, beta, bias, relu);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroDirect(int kc, float* a, nint rs, nint ps, float* b, nint bs, float* c, int ldc, int mr, int nr, float beta, float* bias, bool relu)
    {
        if (nr == NR)
        {
            Kernel6x16Fma(kc, a, rs, ps, mr, new StridedRows(b, bs), c, ldc, beta, bias, relu);
            return;
        }
        float* tile = stackalloc float[MR * NR];
        Kernel6x16Fma(kc, a, rs, ps, mr, new StridedRows(b, bs), tile, NR, 0f, null, false);
        MergeTile(tile, c, ldc, mr, nr, beta, bias, relu);
    }

    private static void MergeTile(float* tile, float* c, int ldc, int mr, int nr, float beta, float* bias, bool relu)
    {
        if (nr == NR && Fma.IsSupported)
        {
            // row tails (mr < MR) of full-width tiles: vector stores of the valid rows
            for (int i = 0; i < mr; i++)
                StoreRow(c + (long)i * ldc, Avx.LoadVector256(tile + i * NR), Avx.LoadVector256(tile + i * NR + 8), beta, bias, i, relu);
            return;
        }
        for (int i = 0; i < mr; i++)
        {
            float* r = c + (long)i * ldc;
            float bv = bias == null ? 0f : bias[i];
            for (int j = 0; j < nr; j++)
            {
                float v = tile[i * NR + j];
                if (beta != 0) v += beta * r[j];
                v += bv;
                r[j] = relu && !(v > 0) ? 0f : v;
            }
        }
    }

    /// <summary>The portable fallback (no AVX2/FMA): same packed layout, plain loops.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelScalar(int kc, float* a, float* b, float* tile)
    {
        for (int i = 0; i < MR * NR; i++) tile[i] = 0f;
        for (int p = 0; p < kc; p++, a += MR, b += NR)
            for (int i = 0; i < MR; i++)
            {
                float ai = a[i];
                float* t = tile + i * NR;
                for (int j = 0; j < NR; j++) t[j] += ai * b[j];
            }
    }

    /// <summary>The 6×16 register-blocked micro-kernel: kc rank-1 updates of 12 accumulators, then one store per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16PackedFma(int kc, float* a, float* b, nint bs, float* c, int ldc, float beta, float* bias, bool relu)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        int p = 0;
        for (; p + 1 < kc; p += 2)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var av = Avx.BroadcastScalarToVector256(a);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 1);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 2);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 3);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 4);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 5);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);

            b0 = Avx.LoadVector256(b + bs);
            b1 = Avx.LoadVector256(b + bs + 8);
            av = Avx.BroadcastScalarToVector256(a + 6);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 7);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 8);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 9);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 10);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 11);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            a += 2 * MR; b += 2 * bs;
        }
        if (p < kc)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var av = Avx.BroadcastScalarToVector256(a);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 1);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 2);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 3);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 4);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 5);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
        }
        StoreRow(c, c00, c01, beta, bias, 0, relu);
        StoreRow(c + ldc, c10, c11, beta, bias, 1, relu);
        StoreRow(c + 2L * ldc, c20, c21, beta, bias, 2, relu);
        StoreRow(c + 3L * ldc, c30, c31, beta, bias, 3, relu);
        StoreRow(c + 4L * ldc, c40, c41, beta, bias, 4, relu);
        StoreRow(c + 5L * ldc, c50, c51, beta, bias, 5, relu);
    }




    /// <summary>
    /// The 12×32 AVX-512 micro-kernel: twelve rows of A (rows 0-5 at a[r·rs + p·ps], rows 6-11 at a6[(r−6)·rs + p·ps];
    /// packed panels are rs = 1, ps = MR, a6 = a + MR·kc) times two 16-float B rows, the first at
    /// <paramref name="rows"/>.Row(p) and the second <paramref name="second"/> floats after it, into 24 zmm
    /// accumulators: each broadcast feeds two FMAs and each B load twelve.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel12x32Avx512<TB>(int kc, float* a, float* a6, nint rs, nint ps, TB rows, nint second, float* c, int ldc, float beta, float* bias, bool relu)
        where TB : struct, IBRows
    {
        nint r2 = 2 * rs, r3 = 3 * rs, r4 = 4 * rs, r5 = 5 * rs;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int p = 0; p < kc; p++, a += ps, a6 += ps)
        {
            float* bp = rows.Row(p);
            var x0 = Avx512F.LoadVector512(bp);
            var x1 = Avx512F.LoadVector512(bp + second);
            var av = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(av, x0, c00); c01 = Avx512F.FusedMultiplyAdd(av, x1, c01);
            av = Vector512.Create(a[rs]);
            c10 = Avx512F.FusedMultiplyAdd(av, x0, c10); c11 = Avx512F.FusedMultiplyAdd(av, x1, c11);
            av = Vector512.Create(a[r2]);
            c20 = Avx512F.FusedMultiplyAdd(av, x0, c20); c21 = Avx512F.FusedMultiplyAdd(av, x1, c21);
            av = Vector512.Create(a[r3]);
            c30 = Avx512F.FusedMultiplyAdd(av, x0, c30); c31 = Avx512F.FusedMultiplyAdd(av, x1, c31);
            av = Vector512.Create(a[r4]);
            c40 = Avx512F.FusedMultiplyAdd(av, x0, c40); c41 = Avx512F.FusedMultiplyAdd(av, x1, c41);
            av = Vector512.Create(a[r5]);
            c50 = Avx512F.FusedMultiplyAdd(av, x0, c50); c51 = Avx512F.FusedMultiplyAdd(av, x1, c51);
            av = Vector512.Create(a6[0]);
            c60 = Avx512F.FusedMultiplyAdd(av, x0, c60); c61 = Avx512F.FusedMultiplyAdd(av, x1, c61);
            av = Vector512.Create(a6[rs]);
            c70 = Avx512F.FusedMultiplyAdd(av, x0, c70); c71 = Avx512F.FusedMultiplyAdd(av, x1, c71);
            av = Vector512.Create(a6[r2]);
            c80 = Avx512F.FusedMultiplyAdd(av, x0, c80); c81 = Avx512F.FusedMultiplyAdd(av, x1, c81);
            av = Vector512.Create(a6[r3]);
            c90 = Avx512F.FusedMultiplyAdd(av, x0, c90); c91 = Avx512F.FusedMultiplyAdd(av, x1, c91);
            av = Vector512.Create(a6[r4]);
            ca0 = Avx512F.FusedMultiplyAdd(av, x0, ca0); ca1 = Avx512F.FusedMultiplyAdd(av, x1, ca1);
            av = Vector512.Create(a6[r5]);
            cb0 = Avx512F.FusedMultiplyAdd(av, x0, cb0); cb1 = Avx512F.FusedMultiplyAdd(av, x1, cb1);
        }
        StoreRow512(c, c00, c01, beta, bias, 0, relu);
        StoreRow512(c + ldc, c10, c11, beta, bias, 1, relu);
        StoreRow512(c + 2L * ldc, c20, c21, beta, bias, 2, relu);
        StoreRow512(c + 3L * ldc, c30, c31, beta, bias, 3, relu);
        StoreRow512(c + 4L * ldc, c40, c41, beta, bias, 4, relu);
        StoreRow512(c + 5L * ldc, c50, c51, beta, bias, 5, relu);
        StoreRow512(c + 6L * ldc, c60, c61, beta, bias, 6, relu);
        StoreRow512(c + 7L * ldc, c70, c71, beta, bias, 7, relu);
        StoreRow512(c + 8L * ldc, c80, c81, beta, bias, 8, relu);
        StoreRow512(c + 9L * ldc, c90, c91, beta, bias, 9, relu);
        StoreRow512(c + 10L * ldc, ca0, ca1, beta, bias, 10, relu);
        StoreRow512(c + 11L * ldc, cb0, cb1, beta, bias, 11, relu);
    }

    /// <summary>
    /// The row tail of <see cref="Kernel12x32Avx512{TB}"/>: <paramref name="mr"/> ≤ 6 rows (A element (r, p) at
    /// a[r·rs + p·ps]), 12 zmm accumulators. Rows past mr repeat the last valid row and are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel6x32Avx512<TB>(int kc, float* a, nint rs, nint ps, int mr, TB rows, nint second, float* c, int ldc, float beta, float* bias, bool relu)
        where TB : struct, IBRows
    {
        float* a0 = a, a1 = a + Math.Min(1, mr - 1) * rs, a2 = a + Math.Min(2, mr - 1) * rs;
        float* a3 = a + Math.Min(3, mr - 1) * rs, a4 = a + Math.Min(4, mr - 1) * rs, a5 = a + Math.Min(5, mr - 1) * rs;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        nint q = 0;
        for (int p = 0; p < kc; p++, q += ps)
        {
            float* bp = rows.Row(p);
            var x0 = Avx512F.LoadVector512(bp);
            var x1 = Avx512F.LoadVector512(bp + second);
            var av = Vector512.Create(a0[q]);
            c00 = Avx512F.FusedMultiplyAdd(av, x0, c00); c01 = Avx512F.FusedMultiplyAdd(av, x1, c01);
            av = Vector512.Create(a1[q]);
            c10 = Avx512F.FusedMultiplyAdd(av, x0, c10); c11 = Avx512F.FusedMultiplyAdd(av, x1, c11);
            av = Vector512.Create(a2[q]);
            c20 = Avx512F.FusedMultiplyAdd(av, x0, c20); c21 = Avx512F.FusedMultiplyAdd(av, x1, c21);
            av = Vector512.Create(a3[q]);
            c30 = Avx512F.FusedMultiplyAdd(av, x0, c30); c31 = Avx512F.FusedMultiplyAdd(av, x1, c31);
            av = Vector512.Create(a4[q]);
            c40 = Avx512F.FusedMultiplyAdd(av, x0, c40); c41 = Avx512F.FusedMultiplyAdd(av, x1, c41);
            av = Vector512.Create(a5[q]);
            c50 = Avx512F.FusedMultiplyAdd(av, x0, c50); c51 = Avx512F.FusedMultiplyAdd(av, x1, c51);
        }
        StoreRow512(c, c00, c01, beta, bias, 0, relu);
        if (mr > 1) StoreRow512(c + ldc, c10, c11, beta, bias, 1, relu);
        if (mr > 2) StoreRow512(c + 2L * ldc, c20, c21, beta, bias, 2, relu);
        if (mr > 3) StoreRow512(c + 3L * ldc, c30, c31, beta, bias, 3, relu);
        if (mr > 4) StoreRow512(c + 4L * ldc, c40, c41, beta, bias, 4, relu);
        if (mr > 5) StoreRow512(c + 5L * ldc, c50, c51, beta, bias, 5, relu);
    }

    /// <summary>
    /// The AVX2 6×16 micro-kernel reading A by strides (element (r, p) at a[r·rs + p·ps]: weights or a padded input
    /// in place) and B rows of 16 floats at <paramref name="rows"/>.Row(p); <paramref name="mr"/> ≤ 6 rows, those past
    /// it repeat the last valid row and are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel6x16Fma<TB>(int kc, float* a, nint rs, nint ps, int mr, TB rows, float* c, int ldc, float beta, float* bias, bool relu)
        where TB : struct, IBRows
    {
        float* a0 = a, a1 = a + Math.Min(1, mr - 1) * rs, a2 = a + Math.Min(2, mr - 1) * rs;
        float* a3 = a + Math.Min(3, mr - 1) * rs, a4 = a + Math.Min(4, mr - 1) * rs, a5 = a + Math.Min(5, mr - 1) * rs;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        nint q = 0;
        for (int p = 0; p < kc; p++, q += ps)
        {
            float* bp = rows.Row(p);
            var b0 = Avx.LoadVector256(bp);
            var b1 = Avx.LoadVector256(bp + 8);
            var av = Avx.BroadcastScalarToVector256(a0 + q);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a1 + q);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a2 + q);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a3 + q);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a4 + q);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a5 + q);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
        }
        StoreRow(c, c00, c01, beta, bias, 0, relu);
        if (mr > 1) StoreRow(c + ldc, c10, c11, beta, bias, 1, relu);
        if (mr > 2) StoreRow(c + 2L * ldc, c20, c21, beta, bias, 2, relu);
        if (mr > 3) StoreRow(c + 3L * ldc, c30, c31, beta, bias, 3, relu);
        if (mr > 4) StoreRow(c + 4L * ldc, c40, c41, beta, bias, 4, relu);
        if (mr > 5) StoreRow(c + 5L * ldc, c50, c51, beta, bias, 5, relu);
    }

    /// <summary>
    /// The column tail of <see cref="Kernel12x32Avx512{TB}"/>: twelve rows (0-5 at <paramref name="a"/>, 6-11 at
    /// <paramref name="a6"/>, element (r, p) at a[r·rs + p·ps]) times one B panel, 12 zmm accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x16Avx512(int kc, float* a, float* a6, nint rs, nint ps, float* b, nint bs, float* c, int ldc, float beta, float* bias, bool relu)
    {
        nint r2 = 2 * rs, r3 = 3 * rs, r4 = 4 * rs, r5 = 5 * rs;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<float> c6 = default, c7 = default, c8 = default, c9 = default, ca = default, cb = default;
        for (int p = 0; p < kc; p++, a += ps, a6 += ps, b += bs)
        {
            var x = Avx512F.LoadVector512(b);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), x, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[rs]), x, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[r2]), x, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[r3]), x, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[r4]), x, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[r5]), x, c5);
            c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(a6[0]), x, c6);
            c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(a6[rs]), x, c7);
            c8 = Avx512F.FusedMultiplyAdd(Vector512.Create(a6[r2]), x, c8);
            c9 = Avx512F.FusedMultiplyAdd(Vector512.Create(a6[r3]), x, c9);
            ca = Avx512F.FusedMultiplyAdd(Vector512.Create(a6[r4]), x, ca);
            cb = Avx512F.FusedMultiplyAdd(Vector512.Create(a6[r5]), x, cb);
        }
        StoreRow512(c, c0, beta, bias, 0, relu);
        StoreRow512(c + ldc, c1, beta, bias, 1, relu);
        StoreRow512(c + 2L * ldc, c2, beta, bias, 2, relu);
        StoreRow512(c + 3L * ldc, c3, beta, bias, 3, relu);
        StoreRow512(c + 4L * ldc, c4, beta, bias, 4, relu);
        StoreRow512(c + 5L * ldc, c5, beta, bias, 5, relu);
        StoreRow512(c + 6L * ldc, c6, beta, bias, 6, relu);
        StoreRow512(c + 7L * ldc, c7, beta, bias, 7, relu);
        StoreRow512(c + 8L * ldc, c8, beta, bias, 8, relu);
        StoreRow512(c + 9L * ldc, c9, beta, bias, 9, relu);
        StoreRow512(c + 10L * ldc, ca, beta, bias, 10, relu);
        StoreRow512(c + 11L * ldc, cb, beta, bias, 11, relu);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow512(float* r, Vector512<float> x, float beta, float* bias, int i, bool relu)
    {
        if (beta != 0) x = Avx512F.FusedMultiplyAdd(Vector512.Create(beta), Avx512F.LoadVector512(r), x);
        if (bias != null) x = Avx512F.Add(x, Vector512.Create(bias[i]));
        if (relu) x = Avx512F.Max(x, Vector512<float>.Zero);
        Avx512F.Store(r, x);
    }





    /// <summary>
    /// 32 rows × <paramref name="nr"/> ≤ 4 columns with the rows in the lanes: A element (r, p) at a[r + p·ps] (two
    /// zmm loads per p), B element (p, j) at b[p·bs + j] broadcast. The same FMAs per element in the same order as
    /// the other kernels; the epilogue is scalar (the tile is stored by columns).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelRows32Avx512(int kc, float* a, nint ps, float* b, nint bs, int nr, float* c, int ldc, float beta, float* bias, bool relu)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        // columns past nr repeat the last one (not stored)
        nint j1 = Math.Min(1, nr - 1), j2 = Math.Min(2, nr - 1), j3 = Math.Min(3, nr - 1);
        for (int p = 0; p < kc; p++, a += ps, b += bs)
        {
            var x0 = Avx512F.LoadVector512(a);
            var x1 = Avx512F.LoadVector512(a + 16);
            var bv = Vector512.Create(b[0]);
            c00 = Avx512F.FusedMultiplyAdd(x0, bv, c00); c01 = Avx512F.FusedMultiplyAdd(x1, bv, c01);
            bv = Vector512.Create(b[j1]);
            c10 = Avx512F.FusedMultiplyAdd(x0, bv, c10); c11 = Avx512F.FusedMultiplyAdd(x1, bv, c11);
            bv = Vector512.Create(b[j2]);
            c20 = Avx512F.FusedMultiplyAdd(x0, bv, c20); c21 = Avx512F.FusedMultiplyAdd(x1, bv, c21);
            bv = Vector512.Create(b[j3]);
            c30 = Avx512F.FusedMultiplyAdd(x0, bv, c30); c31 = Avx512F.FusedMultiplyAdd(x1, bv, c31);
        }
        float* t = stackalloc float[4 * 32];
        Avx512F.Store(t, c00); Avx512F.Store(t + 16, c01); Avx512F.Store(t + 32, c10); Avx512F.Store(t + 48, c11);
        Avx512F.Store(t + 64, c20); Avx512F.Store(t + 80, c21); Avx512F.Store(t + 96, c30); Avx512F.Store(t + 112, c31);
        for (int j = 0; j < nr; j++)
            for (int r = 0; r < 32; r++)
            {
                float* d = c + (long)r * ldc + j;
                float v = t[j * 32 + r];
                if (beta != 0) v = MathF.FusedMultiplyAdd(beta, *d, v);
                if (bias != null) v += bias[r];
                *d = relu && !(v > 0) ? 0f : v;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow512(float* r, Vector512<float> x0, Vector512<float> x1, float beta, float* bias, int i, bool relu)
    {
        if (beta != 0)
        {
            var vb = Vector512.Create(beta);
            x0 = Avx512F.FusedMultiplyAdd(vb, Avx512F.LoadVector512(r), x0);
            x1 = Avx512F.FusedMultiplyAdd(vb, Avx512F.LoadVector512(r + 16), x1);
        }
        if (bias != null)
        {
            var bb = Vector512.Create(bias[i]);
            x0 = Avx512F.Add(x0, bb);
            x1 = Avx512F.Add(x1, bb);
        }
        if (relu)
        {
            x0 = Avx512F.Max(x0, Vector512<float>.Zero);
            x1 = Avx512F.Max(x1, Vector512<float>.Zero);
        }
        Avx512F.Store(r, x0);
        Avx512F.Store(r + 16, x1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* r, Vector256<float> x0, Vector256<float> x1, float beta, float* bias, int i, bool relu)
    {
        if (beta != 0)
        {
            var vb = Vector256.Create(beta);
            x0 = Fma.MultiplyAdd(vb, Avx.LoadVector256(r), x0);
            x1 = Fma.MultiplyAdd(vb, Avx.LoadVector256(r + 8), x1);
        }
        if (bias != null)
        {
            var bb = Vector256.Create(bias[i]);
            x0 = Avx.Add(x0, bb);
            x1 = Avx.Add(x1, bb);
        }
        if (relu)
        {
            // vmaxps returns its second operand (0) for NaN, matching the scalar path
            x0 = Avx.Max(x0, Vector256<float>.Zero);
            x1 = Avx.Max(x1, Vector256<float>.Zero);
        }
        Avx.Store(r, x0);
        Avx.Store(r + 8, x1);
    }
}

/// <summary>Where a micro-kernel finds row p of its B operand. The kernels are generic over it, so the JIT compiles
/// one loop per kind and the choice costs nothing inside it.</summary>
internal interface IBRows
{
    /// <summary>The first float of row p.</summary>
    unsafe float* Row(int p);
}

/// <summary>Rows <paramref name="stride"/> floats apart: packed panels, or a matrix read in place.</summary>
internal readonly unsafe struct StridedRows(float* b, nint stride) : IBRows
{
    public float* Row(int p) => b + p * stride;
}

/// <summary>Row p at b + offsets[p]: the shifted views of a padded input that make up an implicit GEMM's B.</summary>
internal readonly unsafe struct OffsetRows(float* b, int* offsets) : IBRows
{
    public float* Row(int p) => b + offsets[p];
}
