namespace ConvKit.Kernels;

/// <summary>
/// Single-precision general matrix multiply, row-major: C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ.
/// A is m×k (k×m when transposed), B is k×n (n×k when transposed), C is m×n; lda/ldb/ldc are row strides.
/// Runs the packed, cache-blocked AVX2/FMA kernel (<see cref="GemmCore"/>), split across up to
/// <see cref="MaxThreads"/> cores for large problems; <see cref="GemmReference"/> is its plain-loop twin.
/// </summary>
public static class Gemm
{
    private static int _maxThreads = Environment.ProcessorCount;

    /// <summary>Upper bound on the threads one call may use (default: the processor count). Values below 1 are treated as 1.</summary>
    public static int MaxThreads
    {
        get => _maxThreads;
        set => _maxThreads = Math.Max(1, value);
    }

    /// <summary>C = alpha·op(A)·op(B) + beta·C (row-major). When beta is 0, C is not read (NaNs in it do not propagate).</summary>
    public static unsafe void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m < 0) throw new ArgumentException($"m: must be non-negative, got {m}.", nameof(m));
        if (n < 0) throw new ArgumentException($"n: must be non-negative, got {n}.", nameof(n));
        if (k < 0) throw new ArgumentException($"k: must be non-negative, got {k}.", nameof(k));
        CheckOperand(transA ? k : m, transA ? m : k, a.Length, lda, "a", "lda");
        CheckOperand(transB ? n : k, transB ? k : n, b.Length, ldb, "b", "ldb");
        CheckOperand(m, n, c.Length, ldc, "c", "ldc");
        if (m == 0 || n == 0) return;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
            GemmCore.Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, null, false, MaxThreads);
    }

    private static void CheckOperand(int rows, int cols, int length, int ld, string name, string ldName)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols)
            throw new ArgumentException($"{ldName}: row stride {ld} is smaller than the {cols} columns of {name} ({rows}×{cols} as stored).", ldName);
        long need = (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException($"{name}: length {length} is too short for a {rows}×{cols} matrix with row stride {ld} (needs {need}).", name);
    }
}

/// <summary>The plain-loop twin of <see cref="Gemm.Sgemm"/> (double accumulation), used by the differential tests.</summary>
public static class GemmReference
{
    /// <summary>C = alpha·op(A)·op(B) + beta·C (row-major), obviously right and slow.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int p = 0; p < k; p++)
                    acc += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = (float)(alpha * acc + (beta == 0 ? 0 : beta * (double)c[i * ldc + j]));
            }
    }
}
