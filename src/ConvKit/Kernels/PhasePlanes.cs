using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// The input of a strided convolution split into SH·SW phase planes per channel: phase (a, b) holds the zero-padded
/// input at rows u·SH + a and columns v·SW + b, on a grid of Width = OW + ⌊(KW − 1)·DW / SW⌋ columns and Height =
/// OH + ⌊(KH − 1)·DH / SH⌋ rows. Tap (ky, kx) of output (oy, ox) is then phase ((ky·DH) mod SH, (kx·DW) mod SW) at
/// (oy + ⌊ky·DH / SH⌋, ox + ⌊kx·DW / SW⌋): one plane at a fixed shift, as a stride-1 implicit GEMM reads its padded
/// planes (stride 1 is the one-phase case: the zero-padded planes themselves).
/// </summary>
internal static unsafe class PhasePlanes
{
    /// <summary>Columns and rows of each phase plane.</summary>
    public static (long Width, long Height) Grid(in ConvGeometry g) =>
        (g.OW + (long)(g.KW - 1) * g.DW / g.SW, g.OH + (long)(g.KH - 1) * g.DH / g.SH);

    /// <summary>Offset of tap (ky, kx) of channel c from the channel's first plane, for planes of
    /// <paramref name="plane"/> floats and <paramref name="width"/> columns.</summary>
    public static long Offset(in ConvGeometry g, int c, int ky, int kx, long width, long plane)
    {
        int ey = ky * g.DH, ex = kx * g.DW;
        return ((long)c * g.SH * g.SW + Phase(g, ky, kx)) * plane + ey / g.SH * width + ex / g.SW;
    }

    /// <summary>The phase tap (ky, kx) reads.</summary>
    public static int Phase(in ConvGeometry g, int ky, int kx) => ky * g.DH % g.SH * g.SW + kx * g.DW % g.SW;

    /// <summary>The SH·SW phase planes of one input channel plane <paramref name="x"/> at <paramref name="dst"/>.
    /// Phases no tap reads (a dilation sharing a factor with the stride) are zeroed, not filled: the dropped grid
    /// positions of the plane before read into them, and must meet no NaN left in a workspace.</summary>
    public static void Fill(in ConvGeometry g, float* x, float* dst, int width, int height, bool[] used)
    {
        long plane = (long)width * height;
        for (int a = 0; a < g.SH; a++)
            for (int b = 0; b < g.SW; b++)
            {
                float* p = dst + (a * g.SW + b) * plane;
                if (!used[a * g.SW + b])
                {
                    new Span<float>(p, (int)plane).Clear();
                    continue;
                }
                for (int u = 0; u < height; u++)
                {
                    int iy = u * g.SH + a - g.PH;
                    float* row = p + (long)u * width;
                    if ((uint)iy >= (uint)g.IH) new Span<float>(row, width).Clear();
                    else StridedRow(x + (long)iy * g.IW, g.IW, b - g.PW, g.SW, row, width);
                }
            }
    }

    /// <summary>Which phases some tap reads.</summary>
    public static bool[] Used(in ConvGeometry g)
    {
        var used = new bool[g.SH * g.SW];
        for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
                used[Phase(g, ky, kx)] = true;
        return used;
    }

    /// <summary>dst[v] = src[first + v·stride] where that lies in [0, iw), else 0, for v &lt; count; stride 2 with
    /// AVX-512 takes the even floats of 32 at a time.</summary>
    private static void StridedRow(float* src, int iw, int first, int stride, float* dst, int count)
    {
        int v = 0, ix = first;
        for (; v < count && ix < 0; v++, ix += stride) dst[v] = 0f;
        if (stride == 2 && Avx512F.IsSupported)
        {
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (; v + 16 <= count && ix + 32 <= iw; v += 16, ix += 32)
                Avx512F.Store(dst + v, Avx512F.PermuteVar16x32x2(Avx512F.LoadVector512(src + ix), even, Avx512F.LoadVector512(src + ix + 16)));
        }
        for (; v < count; v++, ix += stride) dst[v] = (uint)ix < (uint)iw ? src[ix] : 0f;
    }
}
