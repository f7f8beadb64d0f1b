using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>Small vectorised helpers shared by the conv kernels, and the per-thread workspace they run in.</summary>
internal static unsafe class VecOps
{
    /// <summary>dst[i] += src[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddInPlace(float* dst, float* src, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        for (; i < n; i++) dst[i] += src[i];
    }

    /// <summary>dst[i] += src[i] over a length past int (per-thread partial sums of large weight gradients).</summary>
    public static void AddInPlace(float* dst, float* src, long n)
    {
        for (long i = 0; i < n; i += 1 << 20)
            AddInPlace(dst + i, src + i, (int)Math.Min(1 << 20, n - i));
    }

    /// <summary>Whether every value is finite (no NaN, no infinity): no exponent field is all ones. Integer ops
    /// with four independent accumulators, so the pass runs at load speed; large inputs are split over threads.</summary>
    public static bool AllFinite(float* x, long n)
    {
        if (n < 1 << 18 || Gemm.MaxThreads < 2) return AllFinite(new ReadOnlySpan<float>(x, (int)n));
        const int Chunk = 1 << 16;
        int chunks = (int)((n + Chunk - 1) / Chunk), bad = 0;
        nint px = (nint)x;
        ParallelRanges(chunks, Chunk, (lo, hi) =>
        {
            long a = (long)lo * Chunk, b = Math.Min(n, (long)hi * Chunk);
            if (!AllFinite(new ReadOnlySpan<float>((float*)px + a, (int)(b - a)))) Volatile.Write(ref bad, 1);
        });
        return bad == 0;
    }

    /// <inheritdoc cref="AllFinite(float*, long)"/>
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        ref uint p = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(x));
        const uint Exp = 0x7F800000;
        int n = x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            var e = Vector256.Create(Exp);
            Vector256<uint> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                a0 |= Vector256.Equals(Vector256.LoadUnsafe(ref p, (nuint)i) & e, e);
                a1 |= Vector256.Equals(Vector256.LoadUnsafe(ref p, (nuint)(i + 8)) & e, e);
                a2 |= Vector256.Equals(Vector256.LoadUnsafe(ref p, (nuint)(i + 16)) & e, e);
                a3 |= Vector256.Equals(Vector256.LoadUnsafe(ref p, (nuint)(i + 24)) & e, e);
            }
            if (((a0 | a1) | (a2 | a3)) != Vector256<uint>.Zero) return false;
        }
        for (; i < n; i++)
            if ((Unsafe.Add(ref p, i) & Exp) == Exp) return false;
        return true;
    }

    /// <summary>Copies <paramref name="rows"/> rows of <paramref name="width"/> floats into rows of
    /// <paramref name="stride"/> floats, zero past <paramref name="width"/>: output gradients laid out so kernels can
    /// read whole vectors past a row's end.</summary>
    public static void PadRows(float* dst, float* src, long rows, int width, int stride)
    {
        for (long r = 0; r < rows; r++)
        {
            float* d = dst + r * stride;
            CopyShort(d, src + r * width, width);
            for (int j = width; j < stride; j++) d[j] = 0f;
        }
    }

    /// <summary>dst[i] += src[i] for short runs: whole vectors, then one masked vector for the tail (no scalar loop).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddShort(float* dst, float* src, int n)
    {
        if (!Avx2.IsSupported)
        {
            AddInPlace(dst, src, n);
            return;
        }
        int i = 0;
        for (; i + 8 <= n; i += 8)
            Avx.Store(dst + i, Avx.Add(Avx.LoadVector256(dst + i), Avx.LoadVector256(src + i)));
        if (i < n)
        {
            // lanes [0, n - i) on: a lane is on when its index is below the count
            var mask = Avx2.CompareGreaterThan(Vector256.Create(n - i), Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7)).AsSingle();
            Avx.MaskStore(dst + i, mask, Avx.Add(Avx.MaskLoad(dst + i, mask), Avx.MaskLoad(src + i, mask)));
        }
    }

    /// <summary>dst[i] = src[i], inlined: the im2col rows of small images are runs of a few dozen floats, where a
    /// call to the general memmove costs more than the copy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyShort(float* dst, float* src, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
                Vector256.Store(Vector256.Load(src + i), dst + i);
            // overlapping last vector instead of a scalar tail
            if (i < n && n >= 8)
            {
                Vector256.Store(Vector256.Load(src + n - 8), dst + n - 8);
                return;
            }
        }
        for (; i < n; i++) dst[i] = src[i];
    }

    /// <summary>dst[c, r] = src[r, c] for a row-major src of rows × cols (dst is cols × rows), in 8×8 blocks of
    /// AVX shuffles; rows [r0, r1) only (the caller splits the rows over threads). Rows of src are
    /// <paramref name="srcStride"/> floats apart (cols when 0), rows of dst <paramref name="dstStride"/> (rows when 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(float* src, int rows, int cols, float* dst, int r0, int r1, int srcStride = 0, int dstStride = 0)
    {
        long ss = srcStride == 0 ? cols : srcStride, ds = dstStride == 0 ? rows : dstStride;
        int r = r0;
        if (Avx.IsSupported)
            for (; r + 8 <= r1; r += 8)
            {
                int c = 0;
                for (; c + 8 <= cols; c += 8)
                {
                    float* s = src + r * ss + c;
                    var t0 = Avx.UnpackLow(Avx.LoadVector256(s), Avx.LoadVector256(s + ss));
                    var t1 = Avx.UnpackHigh(Avx.LoadVector256(s), Avx.LoadVector256(s + ss));
                    var t2 = Avx.UnpackLow(Avx.LoadVector256(s + 2L * ss), Avx.LoadVector256(s + 3L * ss));
                    var t3 = Avx.UnpackHigh(Avx.LoadVector256(s + 2L * ss), Avx.LoadVector256(s + 3L * ss));
                    var t4 = Avx.UnpackLow(Avx.LoadVector256(s + 4L * ss), Avx.LoadVector256(s + 5L * ss));
                    var t5 = Avx.UnpackHigh(Avx.LoadVector256(s + 4L * ss), Avx.LoadVector256(s + 5L * ss));
                    var t6 = Avx.UnpackLow(Avx.LoadVector256(s + 6L * ss), Avx.LoadVector256(s + 7L * ss));
                    var t7 = Avx.UnpackHigh(Avx.LoadVector256(s + 6L * ss), Avx.LoadVector256(s + 7L * ss));
                    var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
                    var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
                    var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
                    var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
                    float* d = dst + c * ds + r;
                    Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
                    Avx.Store(d + ds, Avx.Permute2x128(u1, u5, 0x20));
                    Avx.Store(d + 2L * ds, Avx.Permute2x128(u2, u6, 0x20));
                    Avx.Store(d + 3L * ds, Avx.Permute2x128(u3, u7, 0x20));
                    Avx.Store(d + 4L * ds, Avx.Permute2x128(u0, u4, 0x31));
                    Avx.Store(d + 5L * ds, Avx.Permute2x128(u1, u5, 0x31));
                    Avx.Store(d + 6L * ds, Avx.Permute2x128(u2, u6, 0x31));
                    Avx.Store(d + 7L * ds, Avx.Permute2x128(u3, u7, 0x31));
                }
                for (; c < cols; c++)
                    for (int i = 0; i < 8; i++) dst[c * ds + r + i] = src[(r + i) * ss + c];
            }
        for (; r < r1; r++)
            for (int c = 0; c < cols; c++) dst[c * ds + r] = src[r * ss + c];
    }

    /// <summary>dst[c·rows + r] = src[r·srcStride + c] for r &lt; rows, c &lt; cols (gW from the gWᵀ of a backward-weights
    /// GEMM, whose rows may be padded past cols), in 8×8 blocks of rows split over threads.</summary>
    public static void TransposeParallel(float* src, int rows, int cols, int srcStride, float* dst)
    {
        nint ps = (nint)src, pd = (nint)dst;
        ParallelRanges((rows + 7) / 8, 8L * cols, (lo, hi) => Transpose((float*)ps, rows, cols, (float*)pd, lo * 8, Math.Min(rows, hi * 8), srcStride, rows));
    }

    /// <summary>Runs <paramref name="items"/> work items on up to <paramref name="threads"/> workers, handing items out
    /// dynamically (the caller works too); body(worker, item).</summary>
    public static void ParallelItems(int items, int threads, Action<int, int> body) => CoreWorkers.Run(items, threads, body);

    /// <summary>body(part, item) over [0, items) in up to <paramref name="parts"/> parts of fixed, contiguous item
    /// ranges run in order, so that sums kept per part (and hence the results) do not depend on thread timing.</summary>
    public static void ParallelStatic(int items, int parts, Action<int, int> body)
    {
        parts = Math.Max(1, Math.Min(parts, items));
        CoreWorkers.Run(parts, parts, (_, p) =>
        {
            int end = (int)((long)items * (p + 1) / parts);
            for (int i = (int)((long)items * p / parts); i < end; i++) body(p, i);
        });
    }

    /// <summary>body(lo, hi) over [0, count) in one contiguous range per thread (up to <see cref="Gemm.MaxThreads"/>)
    /// when the work is worth a second core, else in one call. Runs on the kernels' own workers: the thread pool's
    /// workers, woken by <c>Parallel.For</c>, kept spinning after each call and took CPU from the two cores' real
    /// work (a quarter of the samples of a training profile).</summary>
    public static void ParallelRanges(int count, long workPerItem, Action<int, int> body)
    {
        int t = Math.Min(Gemm.MaxThreads, count);
        if (t < 2 || count * workPerItem < 1 << 15)
        {
            if (count > 0) body(0, count);
            return;
        }
        CoreWorkers.Run(t, t, (_, k) => body((int)((long)count * k / t), (int)((long)count * (k + 1) / t)));
    }
}

/// <summary>
/// Per-thread scratch buffers, pinned and 64-byte aligned, grown on demand and then reused, so the hot paths do not
/// allocate. Slots separate the buffers one thread may hold at once (packed weights vs. column matrix vs. partials).
/// </summary>
internal static unsafe class Workspace
{
    /// <summary>Packed weights of the running call (caller thread).</summary>
    public const int PackedWeights = 0;
    /// <summary>Column-matrix chunk (any worker).</summary>
    public const int Columns = 1;
    /// <summary>Per-worker partial sums (caller thread).</summary>
    public const int Partials = 2;
    /// <summary>Second scratch (transforms, tiles).</summary>
    public const int Scratch = 3;
    /// <summary>Zero-bordered input planes of the depthwise kernels, which alone use this slot and rely on its borders
    /// staying zero from one call to the next.</summary>
    public const int PaddedPlanes = 4;

    [ThreadStatic] private static float[]?[]? t_slots;

    /// <summary>A pointer to at least <paramref name="floats"/> floats of this thread's slot (contents undefined).</summary>
    public static float* Get(int slot, long floats)
    {
        if (floats > Array.MaxLength - 32) throw new OutOfMemoryException($"workspace of {floats} floats is too large.");
        var slots = t_slots ??= new float[]?[5];
        var arr = slots[slot];
        if (arr is null || arr.Length < floats + 16)
        {
            long grow = Math.Max(floats + 16, arr is null ? 0 : Math.Min(Array.MaxLength - 16L, arr.Length * 3L / 2));
            arr = GC.AllocateUninitializedArray<float>((int)grow, pinned: true);
            slots[slot] = arr;
        }
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        return (float*)((p + 63) & ~(nint)63);
    }
}
