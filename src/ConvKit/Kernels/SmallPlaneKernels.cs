using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// The micro-kernel of the small-plane direct convolution (<c>ConvKit.Algorithms.SmallPlaneDirectAlgorithm</c>): 64
/// output positions of a zero-bordered grid (four zmm) × 6 output channels, summed in registers over every input
/// channel and tap, with each weight broadcast from wherever it lies, so weights need no packing pass.
/// </summary>
internal static unsafe class SmallPlaneKernels
{
    /// <summary>Output positions per tile (four zmm).</summary>
    public const int Positions = 64;
    /// <summary>Output channels per tile.</summary>
    public const int Channels = 6;

    /// <summary>
    /// dst[r·64 + p] = Σ_i Σ_t w[r·wRow + i·wIn + t·wTap] · x[i·plane + toff[t] + p] for r &lt; 6, p &lt; 64, over
    /// <paramref name="inputs"/> input channels and <paramref name="taps"/> taps. Rows past <paramref name="rows"/>
    /// repeat the last row's weights (read, never stored), so a tail needs no kernel of its own. Per input channel
    /// and tap: four input vectors and six broadcasts feed 24 FMAs. When <paramref name="span"/> &gt; 0 the
    /// <paramref name="span"/> floats from w + <paramref name="ahead"/> are prefetched at each input channel: weights
    /// that lie far apart from one input channel to the next (backward-data: a row of W per channel, 18 KB on res5)
    /// are not found by the hardware prefetcher, which stays within a page.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x64Avx512(int inputs, int taps, float* x, nint plane, int* toff, float* w, nint wRow, nint wIn, nint wTap, int rows,
        nint ahead, int span, float* dst)
    {
        nint o1 = Math.Min(1, rows - 1) * wRow, o2 = Math.Min(2, rows - 1) * wRow, o3 = Math.Min(3, rows - 1) * wRow;
        nint o4 = Math.Min(4, rows - 1) * wRow, o5 = Math.Min(5, rows - 1) * wRow;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default, c50 = default, c51 = default, c52 = default, c53 = default;
        for (int i = 0; i < inputs; i++, x += plane, w += wIn)
        {
            for (int f = 0; f < span + 15; f += 16) Sse.Prefetch0(w + ahead + Math.Min(f, span - 1));
            float* wt = w;
            for (int t = 0; t < taps; t++, wt += wTap)
            {
                float* b = x + toff[t];
                var x0 = Avx512F.LoadVector512(b);
                var x1 = Avx512F.LoadVector512(b + 16);
                var x2 = Avx512F.LoadVector512(b + 32);
                var x3 = Avx512F.LoadVector512(b + 48);
                var a = Vector512.Create(wt[0]);
                c00 = Avx512F.FusedMultiplyAdd(a, x0, c00); c01 = Avx512F.FusedMultiplyAdd(a, x1, c01);
                c02 = Avx512F.FusedMultiplyAdd(a, x2, c02); c03 = Avx512F.FusedMultiplyAdd(a, x3, c03);
                a = Vector512.Create(wt[o1]);
                c10 = Avx512F.FusedMultiplyAdd(a, x0, c10); c11 = Avx512F.FusedMultiplyAdd(a, x1, c11);
                c12 = Avx512F.FusedMultiplyAdd(a, x2, c12); c13 = Avx512F.FusedMultiplyAdd(a, x3, c13);
                a = Vector512.Create(wt[o2]);
                c20 = Avx512F.FusedMultiplyAdd(a, x0, c20); c21 = Avx512F.FusedMultiplyAdd(a, x1, c21);
                c22 = Avx512F.FusedMultiplyAdd(a, x2, c22); c23 = Avx512F.FusedMultiplyAdd(a, x3, c23);
                a = Vector512.Create(wt[o3]);
                c30 = Avx512F.FusedMultiplyAdd(a, x0, c30); c31 = Avx512F.FusedMultiplyAdd(a, x1, c31);
                c32 = Avx512F.FusedMultiplyAdd(a, x2, c32); c33 = Avx512F.FusedMultiplyAdd(a, x3, c33);
                a = Vector512.Create(wt[o4]);
                c40 = Avx512F.FusedMultiplyAdd(a, x0, c40); c41 = Avx512F.FusedMultiplyAdd(a, x1, c41);
                c42 = Avx512F.FusedMultiplyAdd(a, x2, c42); c43 = Avx512F.FusedMultiplyAdd(a, x3, c43);
                a = Vector512.Create(wt[o5]);
                c50 = Avx512F.FusedMultiplyAdd(a, x0, c50); c51 = Avx512F.FusedMultiplyAdd(a, x1, c51);
                c52 = Avx512F.FusedMultiplyAdd(a, x2, c52); c53 = Avx512F.FusedMultiplyAdd(a, x3, c53);
            }
        }
        Avx512F.Store(dst, c00); Avx512F.Store(dst + 16, c01); Avx512F.Store(dst + 32, c02); Avx512F.Store(dst + 48, c03);
        Avx512F.Store(dst + 64, c10); Avx512F.Store(dst + 80, c11); Avx512F.Store(dst + 96, c12); Avx512F.Store(dst + 112, c13);
        Avx512F.Store(dst + 128, c20); Avx512F.Store(dst + 144, c21); Avx512F.Store(dst + 160, c22); Avx512F.Store(dst + 176, c23);
        Avx512F.Store(dst + 192, c30); Avx512F.Store(dst + 208, c31); Avx512F.Store(dst + 224, c32); Avx512F.Store(dst + 240, c33);
        Avx512F.Store(dst + 256, c40); Avx512F.Store(dst + 272, c41); Avx512F.Store(dst + 288, c42); Avx512F.Store(dst + 304, c43);
        Avx512F.Store(dst + 320, c50); Avx512F.Store(dst + 336, c51); Avx512F.Store(dst + 352, c52); Avx512F.Store(dst + 368, c53);
    }
}
