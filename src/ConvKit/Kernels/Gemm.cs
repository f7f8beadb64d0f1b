namespace ConvKit.Kernels;

/// <summary>
/// Single-precision general matrix multiply, row-major: C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ.
/// A is m×k (k×m when transposed), B is k×n (n×k when transposed), C is m×n; lda/ldb/ldc are row strides.
/// </summary>
public static class Gemm
{
    /// <summary>C = alpha·op(A)·op(B) + beta·C (row-major).</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int p = 0; p < k; p++)
                    acc += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = (float)(alpha * acc + (beta == 0 ? 0 : beta * c[i * ldc + j]));
            }
    }
}
