using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// The micro-kernel of the blocked direct convolution (<c>ConvKit.Algorithms.BlockedDirectAlgorithm</c>): images in
/// a channels-in-vector layout (16 channels of one position in one zmm), so output channels fill the lanes and
/// output positions the registers, and no lane or register is spent on padding columns.
/// </summary>
internal static unsafe class BlockedConvKernels
{
    /// <summary>Channels per vector (and per block of the blocked layout).</summary>
    public const int Lanes = 16;
    /// <summary>Output positions per run of the 14-position tile; a tile is two runs, which may lie in different rows (7×7
    /// outputs).</summary>
    public const int Run = 7;
    /// <summary>Output channels per tile (two zmm).</summary>
    public const int Channels = 32;

    /// <summary>
    /// 14 output positions × 32 output channels in 28 zmm accumulators: positions r = 0-6 read the blocked input at
    /// a0 + r·16, positions 7-13 at a1 + (r − 7)·16, each shifted by toff[s] for step s (one input-channel block and
    /// one tap: 16 channels; weights of the step at w + woff[s], 32 floats per channel, <paramref name="wl"/> floats
    /// apart). Each input float is broadcast once and feeds two FMAs; each weight vector feeds fourteen. Stores
    /// position r's channels at y0 + r·16 (y1 for the second run) and, for the second 16 channels,
    /// <paramref name="half"/> floats further, plus bias[0..32) and max(·, 0) when asked.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel14x32Avx512(int steps, int* toff, float* a0, float* a1, int* woff, float* w, nint wl, float* y0, float* y1, nint half, float* bias, bool relu)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default;
        Vector512<float> d00 = default, d01 = default, d10 = default, d11 = default, d20 = default, d21 = default, d30 = default, d31 = default;
        Vector512<float> d40 = default, d41 = default, d50 = default, d51 = default, d60 = default, d61 = default;
        for (int s = 0; s < steps; s++)
        {
            float* p = a0 + toff[s], q = a1 + toff[s], ws = w + woff[s];
            for (int i = 0; i < Lanes; i++, p++, q++, ws += wl)
            {
                var w0 = Avx512F.LoadVector512(ws);
                var w1 = Avx512F.LoadVector512(ws + 16);
                var b = Vector512.Create(p[0]);
                c00 = Avx512F.FusedMultiplyAdd(b, w0, c00); c01 = Avx512F.FusedMultiplyAdd(b, w1, c01);
                b = Vector512.Create(p[16]);
                c10 = Avx512F.FusedMultiplyAdd(b, w0, c10); c11 = Avx512F.FusedMultiplyAdd(b, w1, c11);
                b = Vector512.Create(p[32]);
                c20 = Avx512F.FusedMultiplyAdd(b, w0, c20); c21 = Avx512F.FusedMultiplyAdd(b, w1, c21);
                b = Vector512.Create(p[48]);
                c30 = Avx512F.FusedMultiplyAdd(b, w0, c30); c31 = Avx512F.FusedMultiplyAdd(b, w1, c31);
                b = Vector512.Create(p[64]);
                c40 = Avx512F.FusedMultiplyAdd(b, w0, c40); c41 = Avx512F.FusedMultiplyAdd(b, w1, c41);
                b = Vector512.Create(p[80]);
                c50 = Avx512F.FusedMultiplyAdd(b, w0, c50); c51 = Avx512F.FusedMultiplyAdd(b, w1, c51);
                b = Vector512.Create(p[96]);
                c60 = Avx512F.FusedMultiplyAdd(b, w0, c60); c61 = Avx512F.FusedMultiplyAdd(b, w1, c61);
                b = Vector512.Create(q[0]);
                d00 = Avx512F.FusedMultiplyAdd(b, w0, d00); d01 = Avx512F.FusedMultiplyAdd(b, w1, d01);
                b = Vector512.Create(q[16]);
                d10 = Avx512F.FusedMultiplyAdd(b, w0, d10); d11 = Avx512F.FusedMultiplyAdd(b, w1, d11);
                b = Vector512.Create(q[32]);
                d20 = Avx512F.FusedMultiplyAdd(b, w0, d20); d21 = Avx512F.FusedMultiplyAdd(b, w1, d21);
                b = Vector512.Create(q[48]);
                d30 = Avx512F.FusedMultiplyAdd(b, w0, d30); d31 = Avx512F.FusedMultiplyAdd(b, w1, d31);
                b = Vector512.Create(q[64]);
                d40 = Avx512F.FusedMultiplyAdd(b, w0, d40); d41 = Avx512F.FusedMultiplyAdd(b, w1, d41);
                b = Vector512.Create(q[80]);
                d50 = Avx512F.FusedMultiplyAdd(b, w0, d50); d51 = Avx512F.FusedMultiplyAdd(b, w1, d51);
                b = Vector512.Create(q[96]);
                d60 = Avx512F.FusedMultiplyAdd(b, w0, d60); d61 = Avx512F.FusedMultiplyAdd(b, w1, d61);
            }
        }
        var b0 = bias == null ? Vector512<float>.Zero : Avx512F.LoadVector512(bias);
        var b1 = bias == null ? Vector512<float>.Zero : Avx512F.LoadVector512(bias + 16);
        Store(y0, half, c00, c01, b0, b1, relu);
        Store(y0 + 16, half, c10, c11, b0, b1, relu);
        Store(y0 + 32, half, c20, c21, b0, b1, relu);
        Store(y0 + 48, half, c30, c31, b0, b1, relu);
        Store(y0 + 64, half, c40, c41, b0, b1, relu);
        Store(y0 + 80, half, c50, c51, b0, b1, relu);
        Store(y0 + 96, half, c60, c61, b0, b1, relu);
        Store(y1, half, d00, d01, b0, b1, relu);
        Store(y1 + 16, half, d10, d11, b0, b1, relu);
        Store(y1 + 32, half, d20, d21, b0, b1, relu);
        Store(y1 + 48, half, d30, d31, b0, b1, relu);
        Store(y1 + 64, half, d40, d41, b0, b1, relu);
        Store(y1 + 80, half, d50, d51, b0, b1, relu);
        Store(y1 + 96, half, d60, d61, b0, b1, relu);
    }

    /// <summary>
    /// 12 output positions × 32 output channels in 24 zmm accumulators: three runs of 4 positions at a0, a1, a2 (+ r·16),
    /// otherwise as <see cref="Kernel14x32Avx512"/>, for rows whose width divides by 4 but not by 7 (CIFAR's 32: runs of
    /// 7 compute 35 positions per row). Each weight vector feeds twelve FMAs; the FMAs per output element and their
    /// order are those of the 14-position tile, so the two agree bitwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel12x32Avx512(int steps, int* toff, float* a0, float* a1, float* a2, int* woff, float* w, nint wl,
        float* y0, float* y1, float* y2, nint half, float* bias, bool relu)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> d00 = default, d01 = default, d10 = default, d11 = default, d20 = default, d21 = default, d30 = default, d31 = default;
        Vector512<float> e00 = default, e01 = default, e10 = default, e11 = default, e20 = default, e21 = default, e30 = default, e31 = default;
        for (int s = 0; s < steps; s++)
        {
            float* p = a0 + toff[s], q = a1 + toff[s], u = a2 + toff[s], ws = w + woff[s];
            for (int i = 0; i < Lanes; i++, p++, q++, u++, ws += wl)
            {
                var w0 = Avx512F.LoadVector512(ws);
                var w1 = Avx512F.LoadVector512(ws + 16);
                var b = Vector512.Create(p[0]);
                c00 = Avx512F.FusedMultiplyAdd(b, w0, c00); c01 = Avx512F.FusedMultiplyAdd(b, w1, c01);
                b = Vector512.Create(p[16]);
                c10 = Avx512F.FusedMultiplyAdd(b, w0, c10); c11 = Avx512F.FusedMultiplyAdd(b, w1, c11);
                b = Vector512.Create(p[32]);
                c20 = Avx512F.FusedMultiplyAdd(b, w0, c20); c21 = Avx512F.FusedMultiplyAdd(b, w1, c21);
                b = Vector512.Create(p[48]);
                c30 = Avx512F.FusedMultiplyAdd(b, w0, c30); c31 = Avx512F.FusedMultiplyAdd(b, w1, c31);
                b = Vector512.Create(q[0]);
                d00 = Avx512F.FusedMultiplyAdd(b, w0, d00); d01 = Avx512F.FusedMultiplyAdd(b, w1, d01);
                b = Vector512.Create(q[16]);
                d10 = Avx512F.FusedMultiplyAdd(b, w0, d10); d11 = Avx512F.FusedMultiplyAdd(b, w1, d11);
                b = Vector512.Create(q[32]);
                d20 = Avx512F.FusedMultiplyAdd(b, w0, d20); d21 = Avx512F.FusedMultiplyAdd(b, w1, d21);
                b = Vector512.Create(q[48]);
                d30 = Avx512F.FusedMultiplyAdd(b, w0, d30); d31 = Avx512F.FusedMultiplyAdd(b, w1, d31);
                b = Vector512.Create(u[0]);
                e00 = Avx512F.FusedMultiplyAdd(b, w0, e00); e01 = Avx512F.FusedMultiplyAdd(b, w1, e01);
                b = Vector512.Create(u[16]);
                e10 = Avx512F.FusedMultiplyAdd(b, w0, e10); e11 = Avx512F.FusedMultiplyAdd(b, w1, e11);
                b = Vector512.Create(u[32]);
                e20 = Avx512F.FusedMultiplyAdd(b, w0, e20); e21 = Avx512F.FusedMultiplyAdd(b, w1, e21);
                b = Vector512.Create(u[48]);
                e30 = Avx512F.FusedMultiplyAdd(b, w0, e30); e31 = Avx512F.FusedMultiplyAdd(b, w1, e31);
            }
        }
        var b0 = bias == null ? Vector512<float>.Zero : Avx512F.LoadVector512(bias);
        var b1 = bias == null ? Vector512<float>.Zero : Avx512F.LoadVector512(bias + 16);
        Store(y0, half, c00, c01, b0, b1, relu);
        Store(y0 + 16, half, c10, c11, b0, b1, relu);
        Store(y0 + 32, half, c20, c21, b0, b1, relu);
        Store(y0 + 48, half, c30, c31, b0, b1, relu);
        Store(y1, half, d00, d01, b0, b1, relu);
        Store(y1 + 16, half, d10, d11, b0, b1, relu);
        Store(y1 + 32, half, d20, d21, b0, b1, relu);
        Store(y1 + 48, half, d30, d31, b0, b1, relu);
        Store(y2, half, e00, e01, b0, b1, relu);
        Store(y2 + 16, half, e10, e11, b0, b1, relu);
        Store(y2 + 32, half, e20, e21, b0, b1, relu);
        Store(y2 + 48, half, e30, e31, b0, b1, relu);
    }

    /// <summary>
    /// The AVX2 forward tile: 6 output positions, each anywhere in the image (at[j] is position j's first input float,
    /// yt[j] its first output float), × 16 output channels in 12 ymm accumulators, of the 16 registers two weight
    /// vectors and a broadcast besides; steps as in <see cref="Kernel14x32Avx512"/>, weights at w + woff[s] (one half
    /// of a 32-channel tile). Positions one by one rather than in runs, so that no row computes past its width (two
    /// runs of 3 computed 30 positions for ResNet's 28-wide rows, 15 for the 14-wide). Each input float is broadcast once and
    /// feeds two FMAs; each weight vector feeds six. The same FMAs per output element in the same order as the AVX-512
    /// tile, so the two agree bitwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x16Avx2(int steps, int* toff, float** at, int* woff, float* w, nint wl, float** yt, float* bias, bool relu)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int s = 0; s < steps; s++)
        {
            nint o = toff[s];
            float* p0 = at[0] + o, p1 = at[1] + o, p2 = at[2] + o, p3 = at[3] + o, p4 = at[4] + o, p5 = at[5] + o, ws = w + woff[s];
            for (nint i = 0; i < Lanes; i++, ws += wl)
            {
                var w0 = Avx.LoadVector256(ws);
                var w1 = Avx.LoadVector256(ws + 8);
                var b = Vector256.Create(p0[i]);
                c00 = Fma.MultiplyAdd(b, w0, c00); c01 = Fma.MultiplyAdd(b, w1, c01);
                b = Vector256.Create(p1[i]);
                c10 = Fma.MultiplyAdd(b, w0, c10); c11 = Fma.MultiplyAdd(b, w1, c11);
                b = Vector256.Create(p2[i]);
                c20 = Fma.MultiplyAdd(b, w0, c20); c21 = Fma.MultiplyAdd(b, w1, c21);
                b = Vector256.Create(p3[i]);
                c30 = Fma.MultiplyAdd(b, w0, c30); c31 = Fma.MultiplyAdd(b, w1, c31);
                b = Vector256.Create(p4[i]);
                c40 = Fma.MultiplyAdd(b, w0, c40); c41 = Fma.MultiplyAdd(b, w1, c41);
                b = Vector256.Create(p5[i]);
                c50 = Fma.MultiplyAdd(b, w0, c50); c51 = Fma.MultiplyAdd(b, w1, c51);
            }
        }
        Store(yt[0], c00, c01, bias, relu);
        Store(yt[1], c10, c11, bias, relu);
        Store(yt[2], c20, c21, bias, relu);
        Store(yt[3], c30, c31, bias, relu);
        Store(yt[4], c40, c41, bias, relu);
        Store(yt[5], c50, c51, bias, relu);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, Vector256<float> x0, Vector256<float> x1, float* bias, bool relu)
    {
        if (bias != null)
        {
            x0 = Avx.Add(x0, Avx.LoadVector256(bias));
            x1 = Avx.Add(x1, Avx.LoadVector256(bias + 8));
        }
        if (relu)
        {
            x0 = Avx.Max(x0, Vector256<float>.Zero);
            x1 = Avx.Max(x1, Vector256<float>.Zero);
        }
        Avx.Store(y, x0);
        Avx.Store(y + 8, x1);
    }

    /// <summary>
    /// Backward-weights tile: 8 output channels × 32 input channels of one tap in 16 zmm accumulators (output channel
    /// i's 32 input channels in acc[2i], acc[2i + 1], kept at <paramref name="acc"/> between calls), summed over
    /// <paramref name="rows"/> rows of <paramref name="width"/> positions: gY's 8 channels of position j at
    /// g[j·16 + i] (broadcast), the input's two 16-channel blocks at x[j·16] and x[j·16 + xHalf] (loaded). Rows are
    /// <paramref name="gRow"/> and <paramref name="xRow"/> floats apart. Sums from zero when <paramref name="fresh"/>.
    /// Two loads and eight broadcasts feed sixteen FMAs, all positions valid: no padding column is computed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void KernelWeight8x32Avx512(int rows, int width, float* g, nint gRow, float* x, nint xHalf, nint xRow, float* acc, bool fresh)
    {
        Vector512<float> a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;
        if (fresh)
        {
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = Vector512<float>.Zero;
            a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = Vector512<float>.Zero;
        }
        else
        {
            a00 = Avx512F.LoadVector512(acc); a01 = Avx512F.LoadVector512(acc + 16);
            a10 = Avx512F.LoadVector512(acc + 32); a11 = Avx512F.LoadVector512(acc + 48);
            a20 = Avx512F.LoadVector512(acc + 64); a21 = Avx512F.LoadVector512(acc + 80);
            a30 = Avx512F.LoadVector512(acc + 96); a31 = Avx512F.LoadVector512(acc + 112);
            a40 = Avx512F.LoadVector512(acc + 128); a41 = Avx512F.LoadVector512(acc + 144);
            a50 = Avx512F.LoadVector512(acc + 160); a51 = Avx512F.LoadVector512(acc + 176);
            a60 = Avx512F.LoadVector512(acc + 192); a61 = Avx512F.LoadVector512(acc + 208);
            a70 = Avx512F.LoadVector512(acc + 224); a71 = Avx512F.LoadVector512(acc + 240);
        }
        for (int r = 0; r < rows; r++, g += gRow, x += xRow)
        {
            float* gp = g, xp = x;
            for (int j = 0; j < width; j++, gp += Lanes, xp += Lanes)
            {
                var x0 = Avx512F.LoadVector512(xp);
                var x1 = Avx512F.LoadVector512(xp + xHalf);
                var b = Vector512.Create(gp[0]);
                a00 = Avx512F.FusedMultiplyAdd(b, x0, a00); a01 = Avx512F.FusedMultiplyAdd(b, x1, a01);
                b = Vector512.Create(gp[1]);
                a10 = Avx512F.FusedMultiplyAdd(b, x0, a10); a11 = Avx512F.FusedMultiplyAdd(b, x1, a11);
                b = Vector512.Create(gp[2]);
                a20 = Avx512F.FusedMultiplyAdd(b, x0, a20); a21 = Avx512F.FusedMultiplyAdd(b, x1, a21);
                b = Vector512.Create(gp[3]);
                a30 = Avx512F.FusedMultiplyAdd(b, x0, a30); a31 = Avx512F.FusedMultiplyAdd(b, x1, a31);
                b = Vector512.Create(gp[4]);
                a40 = Avx512F.FusedMultiplyAdd(b, x0, a40); a41 = Avx512F.FusedMultiplyAdd(b, x1, a41);
                b = Vector512.Create(gp[5]);
                a50 = Avx512F.FusedMultiplyAdd(b, x0, a50); a51 = Avx512F.FusedMultiplyAdd(b, x1, a51);
                b = Vector512.Create(gp[6]);
                a60 = Avx512F.FusedMultiplyAdd(b, x0, a60); a61 = Avx512F.FusedMultiplyAdd(b, x1, a61);
                b = Vector512.Create(gp[7]);
                a70 = Avx512F.FusedMultiplyAdd(b, x0, a70); a71 = Avx512F.FusedMultiplyAdd(b, x1, a71);
            }
        }
        Avx512F.Store(acc, a00); Avx512F.Store(acc + 16, a01); Avx512F.Store(acc + 32, a10); Avx512F.Store(acc + 48, a11);
        Avx512F.Store(acc + 64, a20); Avx512F.Store(acc + 80, a21); Avx512F.Store(acc + 96, a30); Avx512F.Store(acc + 112, a31);
        Avx512F.Store(acc + 128, a40); Avx512F.Store(acc + 144, a41); Avx512F.Store(acc + 160, a50); Avx512F.Store(acc + 176, a51);
        Avx512F.Store(acc + 192, a60); Avx512F.Store(acc + 208, a61); Avx512F.Store(acc + 224, a70); Avx512F.Store(acc + 240, a71);
    }

    /// <summary>
    /// The AVX2 backward-weights tile: 4 output channels × 16 input channels of one tap in 8 ymm accumulators (output
    /// channel i's 16 input channels in acc[2i], acc[2i + 1]), summed as in <see cref="KernelWeight8x32Avx512"/>: gY's 4
    /// channels of position j at g[j·16 + i] (broadcast), the input's 16 channels at x[j·16] (loaded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void KernelWeight4x16Avx2(int rows, int width, float* g, nint gRow, float* x, nint xRow, float* acc, bool fresh)
    {
        Vector256<float> a00, a01, a10, a11, a20, a21, a30, a31;
        if (fresh)
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = Vector256<float>.Zero;
        else
        {
            a00 = Avx.LoadVector256(acc); a01 = Avx.LoadVector256(acc + 8);
            a10 = Avx.LoadVector256(acc + 16); a11 = Avx.LoadVector256(acc + 24);
            a20 = Avx.LoadVector256(acc + 32); a21 = Avx.LoadVector256(acc + 40);
            a30 = Avx.LoadVector256(acc + 48); a31 = Avx.LoadVector256(acc + 56);
        }
        for (int r = 0; r < rows; r++, g += gRow, x += xRow)
        {
            float* gp = g, xp = x;
            for (int j = 0; j < width; j++, gp += Lanes, xp += Lanes)
            {
                var x0 = Avx.LoadVector256(xp);
                var x1 = Avx.LoadVector256(xp + 8);
                var b = Vector256.Create(gp[0]);
                a00 = Fma.MultiplyAdd(b, x0, a00); a01 = Fma.MultiplyAdd(b, x1, a01);
                b = Vector256.Create(gp[1]);
                a10 = Fma.MultiplyAdd(b, x0, a10); a11 = Fma.MultiplyAdd(b, x1, a11);
                b = Vector256.Create(gp[2]);
                a20 = Fma.MultiplyAdd(b, x0, a20); a21 = Fma.MultiplyAdd(b, x1, a21);
                b = Vector256.Create(gp[3]);
                a30 = Fma.MultiplyAdd(b, x0, a30); a31 = Fma.MultiplyAdd(b, x1, a31);
            }
        }
        Avx.Store(acc, a00); Avx.Store(acc + 8, a01); Avx.Store(acc + 16, a10); Avx.Store(acc + 24, a11);
        Avx.Store(acc + 32, a20); Avx.Store(acc + 40, a21); Avx.Store(acc + 48, a30); Avx.Store(acc + 56, a31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, nint half, Vector512<float> x0, Vector512<float> x1, Vector512<float> b0, Vector512<float> b1, bool relu)
    {
        x0 = Avx512F.Add(x0, b0);
        x1 = Avx512F.Add(x1, b1);
        if (relu)
        {
            x0 = Avx512F.Max(x0, Vector512<float>.Zero);
            x1 = Avx512F.Max(x1, Vector512<float>.Zero);
        }
        Avx512F.Store(y, x0);
        Avx512F.Store(y + half, x1);
    }
}
