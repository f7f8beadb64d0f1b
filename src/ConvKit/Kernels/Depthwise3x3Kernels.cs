using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// 3×3 depthwise and grouped taps over zero-bordered scratch planes (<c>ConvKit.Algorithms.DepthwiseAlgorithm</c> builds
/// them; with stride 2 along x each padded row is stored as its even then its odd columns). The nine weights of an input
/// plane stay in registers; eight independent accumulators hide the FMA latency. With row stride 1, four output rows are
/// computed together so each loaded input vector feeds up to three of them (18 loads for 36 FMAs per 16 columns,
/// against one load per FMA row by row).
/// </summary>
internal static unsafe class Depthwise3x3Kernels
{
    /// <summary>
    /// Rows [<paramref name="oy0"/>, <paramref name="oy1"/>) of one output plane <paramref name="ow"/> wide at
    /// <paramref name="y"/>: bias plus the sum over <paramref name="planes"/> padded input planes
    /// (<paramref name="planeStride"/> floats apart, nine weights each from <paramref name="w"/>). Output row oy reads
    /// padded rows oy·<paramref name="rowStep"/> / <paramref name="full"/> + ky (<paramref name="rowStep"/> =
    /// SH·<paramref name="full"/>) at columns ox + {0, o1, o2} for kx = 0, 1, 2. Sums stay in registers across the
    /// planes; a plane's weights are loaded once per pass over it (with one plane, once per call). Each plane must be
    /// readable 64 columns past the last 64-column chunk that starts before <paramref name="ow"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PlanesAvx512(float* p, nint planeStride, int planes, nint full, nint rowStep, nint o1, nint o2, float* w, float bias, float* y, int oy0, int oy1, int ow, bool relu)
    {
        LoadWeights(w, out var w0, out var w1, out var w2, out var w3, out var w4, out var w5, out var w6, out var w7, out var w8);
        var vb = Vector512.Create(bias);
        int oy = oy0;
        if (rowStep == full)
            for (; oy + 4 <= oy1; oy += 4)
                for (int ox = 0; ox < ow; ox += 32)
                {
                    float* yr = y + (long)oy * ow + ox;
                    Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, b0 = vb, b1 = vb, b2 = vb, b3 = vb;
                    for (int c = 0; c < planes; c++)
                    {
                        if (planes > 1) LoadWeights(w + 9 * c, out w0, out w1, out w2, out w3, out w4, out w5, out w6, out w7, out w8);
                        // the second 16 columns repeat the first where fewer than 17 remain (stored once)
                        float* s = p + c * planeStride + oy * full + ox, t = ow - ox > 16 ? s + 16 : s;
                        // padded row i feeds output rows i − 2 .. i (ky = i − r)
                        Vector512<float> u0 = Load(s), u1 = Load(s + o1), u2 = Load(s + o2);
                        Vector512<float> v0 = Load(t), v1 = Load(t + o1), v2 = Load(t + o2);
                        a0 = F3(u0, u1, u2, w0, w1, w2, a0); b0 = F3(v0, v1, v2, w0, w1, w2, b0);
                        s += full; t += full;
                        u0 = Load(s); u1 = Load(s + o1); u2 = Load(s + o2); v0 = Load(t); v1 = Load(t + o1); v2 = Load(t + o2);
                        a0 = F3(u0, u1, u2, w3, w4, w5, a0); b0 = F3(v0, v1, v2, w3, w4, w5, b0);
                        a1 = F3(u0, u1, u2, w0, w1, w2, a1); b1 = F3(v0, v1, v2, w0, w1, w2, b1);
                        s += full; t += full;
                        u0 = Load(s); u1 = Load(s + o1); u2 = Load(s + o2); v0 = Load(t); v1 = Load(t + o1); v2 = Load(t + o2);
                        a0 = F3(u0, u1, u2, w6, w7, w8, a0); b0 = F3(v0, v1, v2, w6, w7, w8, b0);
                        a1 = F3(u0, u1, u2, w3, w4, w5, a1); b1 = F3(v0, v1, v2, w3, w4, w5, b1);
                        a2 = F3(u0, u1, u2, w0, w1, w2, a2); b2 = F3(v0, v1, v2, w0, w1, w2, b2);
                        s += full; t += full;
                        u0 = Load(s); u1 = Load(s + o1); u2 = Load(s + o2); v0 = Load(t); v1 = Load(t + o1); v2 = Load(t + o2);
                        a1 = F3(u0, u1, u2, w6, w7, w8, a1); b1 = F3(v0, v1, v2, w6, w7, w8, b1);
                        a2 = F3(u0, u1, u2, w3, w4, w5, a2); b2 = F3(v0, v1, v2, w3, w4, w5, b2);
                        a3 = F3(u0, u1, u2, w0, w1, w2, a3); b3 = F3(v0, v1, v2, w0, w1, w2, b3);
                        s += full; t += full;
                        u0 = Load(s); u1 = Load(s + o1); u2 = Load(s + o2); v0 = Load(t); v1 = Load(t + o1); v2 = Load(t + o2);
                        a2 = F3(u0, u1, u2, w6, w7, w8, a2); b2 = F3(v0, v1, v2, w6, w7, w8, b2);
                        a3 = F3(u0, u1, u2, w3, w4, w5, a3); b3 = F3(v0, v1, v2, w3, w4, w5, b3);
                        s += full; t += full;
                        u0 = Load(s); u1 = Load(s + o1); u2 = Load(s + o2); v0 = Load(t); v1 = Load(t + o1); v2 = Load(t + o2);
                        a3 = F3(u0, u1, u2, w6, w7, w8, a3); b3 = F3(v0, v1, v2, w6, w7, w8, b3);
                    }
                    Store(yr, a0, b0, ow - ox, relu);
                    Store(yr + ow, a1, b1, ow - ox, relu);
                    Store(yr + 2 * ow, a2, b2, ow - ox, relu);
                    Store(yr + 3 * ow, a3, b3, ow - ox, relu);
                }
        // rows one at a time (row strides above 1, and the last rows): 64 columns, two accumulators each (taps of rows
        // 0-1 and of row 2) for eight chains
        for (; oy < oy1; oy++)
            for (int ox = 0; ox < ow; ox += 64)
            {
                float* yr = y + (long)oy * ow + ox;
                // row 2's taps in their own sums (e), added at the end
                Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, e0 = default, e1 = default, e2 = default, e3 = default;
                for (int c = 0; c < planes; c++)
                {
                    if (planes > 1) LoadWeights(w + 9 * c, out w0, out w1, out w2, out w3, out w4, out w5, out w6, out w7, out w8);
                    float* s0 = p + c * planeStride + oy * rowStep + ox;
                    float* s1 = ow - ox > 16 ? s0 + 16 : s0, s2 = ow - ox > 32 ? s0 + 32 : s0, s3 = ow - ox > 48 ? s0 + 48 : s0;
                    e0 = F3(Load(s0 + 2 * full), Load(s0 + 2 * full + o1), Load(s0 + 2 * full + o2), w6, w7, w8, e0);
                    e1 = F3(Load(s1 + 2 * full), Load(s1 + 2 * full + o1), Load(s1 + 2 * full + o2), w6, w7, w8, e1);
                    e2 = F3(Load(s2 + 2 * full), Load(s2 + 2 * full + o1), Load(s2 + 2 * full + o2), w6, w7, w8, e2);
                    e3 = F3(Load(s3 + 2 * full), Load(s3 + 2 * full + o1), Load(s3 + 2 * full + o2), w6, w7, w8, e3);
                    a0 = F3(Load(s0), Load(s0 + o1), Load(s0 + o2), w0, w1, w2, a0);
                    a1 = F3(Load(s1), Load(s1 + o1), Load(s1 + o2), w0, w1, w2, a1);
                    a2 = F3(Load(s2), Load(s2 + o1), Load(s2 + o2), w0, w1, w2, a2);
                    a3 = F3(Load(s3), Load(s3 + o1), Load(s3 + o2), w0, w1, w2, a3);
                    a0 = F3(Load(s0 + full), Load(s0 + full + o1), Load(s0 + full + o2), w3, w4, w5, a0);
                    a1 = F3(Load(s1 + full), Load(s1 + full + o1), Load(s1 + full + o2), w3, w4, w5, a1);
                    a2 = F3(Load(s2 + full), Load(s2 + full + o1), Load(s2 + full + o2), w3, w4, w5, a2);
                    a3 = F3(Load(s3 + full), Load(s3 + full + o1), Load(s3 + full + o2), w3, w4, w5, a3);
                }
                Store(yr, a0 + e0, a1 + e1, ow - ox, relu);
                Store(yr + 32, a2 + e2, a3 + e3, ow - ox - 32, relu);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load(float* p) => Avx512F.LoadVector512(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadWeights(float* w, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3,
        out Vector512<float> w4, out Vector512<float> w5, out Vector512<float> w6, out Vector512<float> w7, out Vector512<float> w8)
    {
        w0 = Vector512.Create(w[0]); w1 = Vector512.Create(w[1]); w2 = Vector512.Create(w[2]);
        w3 = Vector512.Create(w[3]); w4 = Vector512.Create(w[4]); w5 = Vector512.Create(w[5]);
        w6 = Vector512.Create(w[6]); w7 = Vector512.Create(w[7]); w8 = Vector512.Create(w[8]);
    }

    /// <summary>Lanes below <paramref name="n"/> on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Mask(int n)
        => Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(n)).AsSingle();

    /// <summary>acc + x0·k0 + x1·k1 + x2·k2, in that order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> F3(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2,
        Vector512<float> k0, Vector512<float> k1, Vector512<float> k2, Vector512<float> acc)
        => Avx512F.FusedMultiplyAdd(x2, k2, Avx512F.FusedMultiplyAdd(x1, k1, Avx512F.FusedMultiplyAdd(x0, k0, acc)));

    /// <summary>Stores the first <paramref name="n"/> (at most 32) of the 32 columns in (a, b), after max(·, 0) when asked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, Vector512<float> a, Vector512<float> b, int n, bool relu)
    {
        if (n <= 0) return;
        if (relu)
        {
            a = Avx512F.Max(a, Vector512<float>.Zero);
            b = Avx512F.Max(b, Vector512<float>.Zero);
        }
        if (n >= 32)
        {
            Avx512F.Store(y, a);
            Avx512F.Store(y + 16, b);
            return;
        }
        Avx512F.MaskStore(y, Mask(n), a);
        Avx512F.MaskStore(y + 16, Mask(n - 16), b);
    }
}
