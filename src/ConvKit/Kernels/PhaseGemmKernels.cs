using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// The micro-kernel of the strided implicit GEMM's backward-weights (<c>ConvKit.Algorithms.StridedImplicitGemmAlgorithm</c>):
/// six rows of A, each at its own offset in the phase planes (one input channel and tap each), times a panel of 64
/// output channels of gYᵀ.
/// </summary>
internal static unsafe class PhaseGemmKernels
{
    /// <summary>Output channels per panel (four zmm).</summary>
    public const int Channels = 64;
    /// <summary>Rows of A per tile.</summary>
    public const int Rows = 6;

    /// <summary>
    /// c[r·ldc + j] (+)= Σ_{p &lt; kc} a[roff[r] + p] · b[p·64 + j] for r &lt; <paramref name="rows"/>, j &lt; 64; rows
    /// past <paramref name="rows"/> repeat the last one (read, never stored). Per position: four vectors of b and six
    /// broadcasts of a feed 24 FMAs. Adds to c when <paramref name="accumulate"/>, else overwrites it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x64Avx512(int kc, float* a, int* roff, int rows, float* b, float* c, int ldc, bool accumulate)
    {
        float* a0 = a + roff[0], a1 = a + roff[Math.Min(1, rows - 1)], a2 = a + roff[Math.Min(2, rows - 1)];
        float* a3 = a + roff[Math.Min(3, rows - 1)], a4 = a + roff[Math.Min(4, rows - 1)], a5 = a + roff[Math.Min(5, rows - 1)];
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default, c50 = default, c51 = default, c52 = default, c53 = default;
        for (int p = 0; p < kc; p++, b += Channels)
        {
            var x0 = Avx512F.LoadVector512(b);
            var x1 = Avx512F.LoadVector512(b + 16);
            var x2 = Avx512F.LoadVector512(b + 32);
            var x3 = Avx512F.LoadVector512(b + 48);
            var v = Vector512.Create(a0[p]);
            c00 = Avx512F.FusedMultiplyAdd(v, x0, c00); c01 = Avx512F.FusedMultiplyAdd(v, x1, c01);
            c02 = Avx512F.FusedMultiplyAdd(v, x2, c02); c03 = Avx512F.FusedMultiplyAdd(v, x3, c03);
            v = Vector512.Create(a1[p]);
            c10 = Avx512F.FusedMultiplyAdd(v, x0, c10); c11 = Avx512F.FusedMultiplyAdd(v, x1, c11);
            c12 = Avx512F.FusedMultiplyAdd(v, x2, c12); c13 = Avx512F.FusedMultiplyAdd(v, x3, c13);
            v = Vector512.Create(a2[p]);
            c20 = Avx512F.FusedMultiplyAdd(v, x0, c20); c21 = Avx512F.FusedMultiplyAdd(v, x1, c21);
            c22 = Avx512F.FusedMultiplyAdd(v, x2, c22); c23 = Avx512F.FusedMultiplyAdd(v, x3, c23);
            v = Vector512.Create(a3[p]);
            c30 = Avx512F.FusedMultiplyAdd(v, x0, c30); c31 = Avx512F.FusedMultiplyAdd(v, x1, c31);
            c32 = Avx512F.FusedMultiplyAdd(v, x2, c32); c33 = Avx512F.FusedMultiplyAdd(v, x3, c33);
            v = Vector512.Create(a4[p]);
            c40 = Avx512F.FusedMultiplyAdd(v, x0, c40); c41 = Avx512F.FusedMultiplyAdd(v, x1, c41);
            c42 = Avx512F.FusedMultiplyAdd(v, x2, c42); c43 = Avx512F.FusedMultiplyAdd(v, x3, c43);
            v = Vector512.Create(a5[p]);
            c50 = Avx512F.FusedMultiplyAdd(v, x0, c50); c51 = Avx512F.FusedMultiplyAdd(v, x1, c51);
            c52 = Avx512F.FusedMultiplyAdd(v, x2, c52); c53 = Avx512F.FusedMultiplyAdd(v, x3, c53);
        }
        Store(c, accumulate, c00, c01, c02, c03);
        if (rows > 1) Store(c + ldc, accumulate, c10, c11, c12, c13);
        if (rows > 2) Store(c + 2 * ldc, accumulate, c20, c21, c22, c23);
        if (rows > 3) Store(c + 3 * ldc, accumulate, c30, c31, c32, c33);
        if (rows > 4) Store(c + 4 * ldc, accumulate, c40, c41, c42, c43);
        if (rows > 5) Store(c + 5 * ldc, accumulate, c50, c51, c52, c53);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, bool accumulate, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        if (accumulate)
        {
            v0 += Avx512F.LoadVector512(c); v1 += Avx512F.LoadVector512(c + 16);
            v2 += Avx512F.LoadVector512(c + 32); v3 += Avx512F.LoadVector512(c + 48);
        }
        Avx512F.Store(c, v0); Avx512F.Store(c + 16, v1); Avx512F.Store(c + 32, v2); Avx512F.Store(c + 48, v3);
    }
}
