using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// 3×3 depthwise and grouped kernels (<c>ConvKit.Algorithms.DepthwiseAlgorithm</c>): over zero-bordered scratch planes
/// (with stride 2 along x each padded row stored as its even then its odd columns), or in place on the input rows for
/// depthwise layers with one column of left padding and grouped layers with padding 1. The nine weights of an input
/// plane stay in registers; eight independent accumulators hide the FMA latency. With row stride 1, four output rows
/// are computed together so each loaded input vector feeds up to three of them (18 loads for 36 FMAs per 16 columns,
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
    public static void PlanesAvx512(float* p, nint planeStride, int planes, nint full, nint rowStep, nint o1, nint o2, float* w, float bias,
        float* y, int oy0, int oy1, int ow, bool relu)
    {
        LoadWeights(w, out var w0, out var w1, out var w2, out var w3, out var w4, out var w5, out var w6, out var w7, out var w8);
        var vb = Vector512.Create(bias);
        int oy = oy0;
        float** rows = stackalloc float*[6];
        if (rowStep == full)
            for (; oy + 4 <= oy1; oy += 4)
                for (int ox = 0; ox < ow; ox += 32)
                {
                    // the second 16 columns repeat the first where fewer than 17 remain (stored once)
                    int ox2 = ow - ox > 16 ? ox + 16 : ox;
                    Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, b0 = vb, b1 = vb, b2 = vb, b3 = vb;
                    for (int i = 0; i < 6; i++) rows[i] = p + (oy + i) * full;
                    for (int c = 0; c < planes; c++)
                    {
                        if (planes > 1) LoadWeights(w + 9 * c, out w0, out w1, out w2, out w3, out w4, out w5, out w6, out w7, out w8);
                        FourRows(new PaddedTaps(o1, o2), rows, c * planeStride + ox, c * planeStride + ox2, w0, w1, w2, w3, w4, w5, w6, w7, w8,
                            ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                    }
                    float* yr = y + (long)oy * ow + ox;
                    StoreRows(yr, ow, ow - ox, 4, a0, b0, a1, b1, a2, b2, a3, b3, relu);
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

    /// <summary>
    /// Grouped 3×3 with stride 1 over the zero-bordered scratch planes of <see cref="PlanesAvx512"/> (row i at
    /// i·<paramref name="full"/>, taps kx at +0, +1, +2): rows [<paramref name="oy0"/>, <paramref name="oy1"/>) of
    /// <paramref name="kt"/> (1-4) output channels that read the same <paramref name="planes"/> input planes (weights
    /// <paramref name="ckv"/> floats apart from <paramref name="w"/>, outputs <paramref name="ov"/> apart from
    /// <paramref name="y"/>). A tile is four blocks of 16 outputs (one row × 64 columns, or 2 rows × 32 or 4 rows × 16 for
    /// narrow rows) × four channels in 16 zmm sums, so each loaded input vector feeds four channels: 4 loads and 4 weight
    /// broadcasts per 16 FMAs, where <see cref="PlanesAvx512"/>, one channel at a time, reloads each plane's weights per
    /// pass. Channels past <paramref name="kt"/> repeat the last, and rows past <paramref name="oy1"/> the first of the
    /// tile (computed, not stored); <paramref name="bias"/> may be null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ChannelTileAvx512(float* p, nint planeStride, int planes, nint full, float* w, nint ckv, int kt, float* bias,
        float* y, long ov, int oy0, int oy1, int ow, bool relu)
    {
        float* q0 = w, q1 = ChannelRow(w, ckv, kt, 1), q2 = ChannelRow(w, ckv, kt, 2), q3 = ChannelRow(w, ckv, kt, 3);
        Vector512<float> b0 = Vector512.Create(ChannelBias(bias, kt, 0)), b1 = Vector512.Create(ChannelBias(bias, kt, 1));
        Vector512<float> b2 = Vector512.Create(ChannelBias(bias, kt, 2)), b3 = Vector512.Create(ChannelBias(bias, kt, 3));
        // the four blocks: rows × columns of 16
        int rows = ow > 32 ? 1 : ow > 16 ? 2 : 4, cols = 4 / rows;
        int* rowOf = stackalloc int[4];
        for (int oy = oy0; oy < oy1; oy += rows)
            for (int ox = 0; ox < ow; ox += 16 * cols)
            {
                for (int i = 0; i < 4; i++)
                    rowOf[i] = oy + i / cols < oy1 ? i / cols : 0;
                // block i's offset from block 0
                nint o1 = rowOf[1] * full + 1 % cols * 16, o2 = rowOf[2] * full + 2 % cols * 16, o3 = rowOf[3] * full + 3 % cols * 16;
                Vector512<float> a00 = b0, a01 = b0, a02 = b0, a03 = b0, a10 = b1, a11 = b1, a12 = b1, a13 = b1;
                Vector512<float> a20 = b2, a21 = b2, a22 = b2, a23 = b2, a30 = b3, a31 = b3, a32 = b3, a33 = b3;
                for (int c = 0; c < planes; c++)
                {
                    float* r = p + c * planeStride + oy * full + ox;
                    int o = 9 * c;
                    for (int ky = 0; ky < 3; ky++, r += full, o += 3)
                    {
                        // the three taps of a row written out: the JIT does not unroll the loop, whose control cost about a twentieth
                        ChannelTap(r, o1, o2, o3, q0 + o, q1 + o, q2 + o, q3 + o, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11, ref a12, ref a13,
                            ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
                        ChannelTap(r + 1, o1, o2, o3, q0 + o + 1, q1 + o + 1, q2 + o + 1, q3 + o + 1, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11,
                            ref a12, ref a13, ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
                        ChannelTap(r + 2, o1, o2, o3, q0 + o + 2, q1 + o + 2, q2 + o + 2, q3 + o + 2, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11,
                            ref a12, ref a13, ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
                    }
                }
                StoreBlocks(y, ov, kt, oy, ox, ow, cols, rowOf, a00, a10, a20, a30, 0, relu);
                StoreBlocks(y, ov, kt, oy, ox, ow, cols, rowOf, a01, a11, a21, a31, 1, relu);
                StoreBlocks(y, ov, kt, oy, ox, ow, cols, rowOf, a02, a12, a22, a32, 2, relu);
                StoreBlocks(y, ov, kt, oy, ox, ow, cols, rowOf, a03, a13, a23, a33, 3, relu);
            }
    }

    /// <summary>
    /// <see cref="ChannelTileAvx512"/> read in place, for padding 1 on every side (so OW = <paramref name="iw"/>):
    /// output position q (flat over the rows) reads input q + (ky − 1)·<paramref name="iw"/> + kx − 1 of each plane,
    /// and a tile is four consecutive blocks of 16 positions × four channels, running on across rows. The taps kx = 0
    /// and 2 load under masks that zero the lanes in column 0 and column iw − 1 respectively (whose flat neighbour is
    /// the other edge of the next row), so no zero-bordered copy is made (the copy was a fifth of the time on
    /// ResNeXt's layer). Positions [<paramref name="q0"/>, <paramref name="q1"/>) are stored; when the range holds 64
    /// or more, the last tile is pulled back to end at q1. Every tile's input, q − iw − 1 to q + 64 + iw, must be
    /// readable: the caller runs the first and last output rows over a copy of the rows they read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ChannelTileInPlaceAvx512(float* x, nint planeStride, int planes, int iw, float* w, nint ckv, int kt, float* bias,
        float* y, long ov, int q0, int q1, bool relu)
    {
        float* w0 = w, w1 = ChannelRow(w, ckv, kt, 1), w2 = ChannelRow(w, ckv, kt, 2), w3 = ChannelRow(w, ckv, kt, 3);
        Vector512<float> b0 = Vector512.Create(ChannelBias(bias, kt, 0)), b1 = Vector512.Create(ChannelBias(bias, kt, 1));
        Vector512<float> b2 = Vector512.Create(ChannelBias(bias, kt, 2)), b3 = Vector512.Create(ChannelBias(bias, kt, 3));
        var width = Vector512.Create(iw);
        var last = width - Vector512<int>.One;
        bool pull = q1 - q0 >= 64;
        for (int q = q0; q < q1; q += 64)
        {
            int qt = pull ? Math.Min(q, q1 - 64) : q;
            // each lane's column: a block of 16 wraps at most once (iw ≥ 16)
            var c0 = Vector512.Create(qt % iw) + Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            c0 -= Vector512.GreaterThanOrEqual(c0, width) & width;
            var c1 = c0 + Vector512.Create(16); c1 -= Vector512.GreaterThanOrEqual(c1, width) & width;
            var c2 = c1 + Vector512.Create(16); c2 -= Vector512.GreaterThanOrEqual(c2, width) & width;
            var c3 = c2 + Vector512.Create(16); c3 -= Vector512.GreaterThanOrEqual(c3, width) & width;
            Vector512<float> l0 = (~Vector512.Equals(c0, Vector512<int>.Zero)).AsSingle(), l1 = (~Vector512.Equals(c1, Vector512<int>.Zero)).AsSingle();
            Vector512<float> l2 = (~Vector512.Equals(c2, Vector512<int>.Zero)).AsSingle(), l3 = (~Vector512.Equals(c3, Vector512<int>.Zero)).AsSingle();
            Vector512<float> r0 = (~Vector512.Equals(c0, last)).AsSingle(), r1 = (~Vector512.Equals(c1, last)).AsSingle();
            Vector512<float> r2 = (~Vector512.Equals(c2, last)).AsSingle(), r3 = (~Vector512.Equals(c3, last)).AsSingle();
            Vector512<float> a00 = b0, a01 = b0, a02 = b0, a03 = b0, a10 = b1, a11 = b1, a12 = b1, a13 = b1;
            Vector512<float> a20 = b2, a21 = b2, a22 = b2, a23 = b2, a30 = b3, a31 = b3, a32 = b3, a33 = b3;
            for (int c = 0; c < planes; c++)
            {
                float* r = x + c * planeStride + qt - iw;
                int o = 9 * c;
                for (int ky = 0; ky < 3; ky++, r += iw, o += 3)
                {
                    MaskedChannelTap(r - 1, l0, l1, l2, l3, w0 + o, w1 + o, w2 + o, w3 + o, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11,
                        ref a12, ref a13, ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
                    ChannelTap(r, 16, 32, 48, w0 + o + 1, w1 + o + 1, w2 + o + 1, w3 + o + 1, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11,
                        ref a12, ref a13, ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
                    MaskedChannelTap(r + 1, r0, r1, r2, r3, w0 + o + 2, w1 + o + 2, w2 + o + 2, w3 + o + 2, ref a00, ref a01, ref a02, ref a03,
                        ref a10, ref a11, ref a12, ref a13, ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
                }
            }
            float* yt = y + qt;
            StoreChannels(yt, ov, kt, q1 - qt, a00, a10, a20, a30, relu);
            StoreChannels(yt + 16, ov, kt, q1 - qt - 16, a01, a11, a21, a31, relu);
            StoreChannels(yt + 32, ov, kt, q1 - qt - 32, a02, a12, a22, a32, relu);
            StoreChannels(yt + 48, ov, kt, q1 - qt - 48, a03, a13, a23, a33, relu);
        }
    }

    /// <summary>The first <paramref name="n"/> (none when n ≤ 0) of a block's 16 positions for its <paramref name="kt"/> channels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreChannels(float* y, long ov, int kt, int n, Vector512<float> c0, Vector512<float> c1, Vector512<float> c2,
        Vector512<float> c3, bool relu)
    {
        if (n <= 0) return;
        Store16(y, c0, n, relu);
        if (kt > 1) Store16(y + ov, c1, n, relu);
        if (kt > 2) Store16(y + 2 * ov, c2, n, relu);
        if (kt > 3) Store16(y + 3 * ov, c3, n, relu);
    }

    /// <summary><see cref="ChannelTap"/> with the four blocks (16 floats apart) loaded under masks m0..m3 (masked lanes
    /// read as zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaskedChannelTap(float* s, Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3,
        float* q0, float* q1, float* q2, float* q3,
        ref Vector512<float> a00, ref Vector512<float> a01, ref Vector512<float> a02, ref Vector512<float> a03,
        ref Vector512<float> a10, ref Vector512<float> a11, ref Vector512<float> a12, ref Vector512<float> a13,
        ref Vector512<float> a20, ref Vector512<float> a21, ref Vector512<float> a22, ref Vector512<float> a23,
        ref Vector512<float> a30, ref Vector512<float> a31, ref Vector512<float> a32, ref Vector512<float> a33)
        => ChannelFmas(Masked(s, m0), Masked(s + 16, m1), Masked(s + 32, m2), Masked(s + 48, m3), q0, q1, q2, q3,
            ref a00, ref a01, ref a02, ref a03, ref a10, ref a11, ref a12, ref a13,
            ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);

    /// <summary>Channel <paramref name="i"/> of a four-channel tile's weights (<paramref name="ckv"/> floats apart):
    /// channels past <paramref name="kt"/> repeat the last.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* ChannelRow(float* w, nint ckv, int kt, int i) => w + Math.Min(i, kt - 1) * ckv;

    /// <summary>Channel <paramref name="i"/>'s bias (0 without one), channels past <paramref name="kt"/> repeating the last.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ChannelBias(float* bias, int kt, int i) => bias == null ? 0f : bias[Math.Min(i, kt - 1)];

    /// <summary>One tap of a <see cref="ChannelTileAvx512"/> tile: the four blocks at s, +o1, +o2, +o3 times the four
    /// channels' weights at q0..q3, into the 16 sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChannelTap(float* s, nint o1, nint o2, nint o3, float* q0, float* q1, float* q2, float* q3,
        ref Vector512<float> a00, ref Vector512<float> a01, ref Vector512<float> a02, ref Vector512<float> a03,
        ref Vector512<float> a10, ref Vector512<float> a11, ref Vector512<float> a12, ref Vector512<float> a13,
        ref Vector512<float> a20, ref Vector512<float> a21, ref Vector512<float> a22, ref Vector512<float> a23,
        ref Vector512<float> a30, ref Vector512<float> a31, ref Vector512<float> a32, ref Vector512<float> a33)
        => ChannelFmas(Avx512F.LoadVector512(s), Avx512F.LoadVector512(s + o1), Avx512F.LoadVector512(s + o2), Avx512F.LoadVector512(s + o3),
            q0, q1, q2, q3, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11, ref a12, ref a13,
            ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);

    /// <summary>The 16 FMAs of a four-block, four-channel tap: blocks x0..x3 times the channels' weights at q0..q3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChannelFmas(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        float* q0, float* q1, float* q2, float* q3,
        ref Vector512<float> a00, ref Vector512<float> a01, ref Vector512<float> a02, ref Vector512<float> a03,
        ref Vector512<float> a10, ref Vector512<float> a11, ref Vector512<float> a12, ref Vector512<float> a13,
        ref Vector512<float> a20, ref Vector512<float> a21, ref Vector512<float> a22, ref Vector512<float> a23,
        ref Vector512<float> a30, ref Vector512<float> a31, ref Vector512<float> a32, ref Vector512<float> a33)
    {
        var v = Vector512.Create(*q0);
        a00 = Avx512F.FusedMultiplyAdd(x0, v, a00); a01 = Avx512F.FusedMultiplyAdd(x1, v, a01);
        a02 = Avx512F.FusedMultiplyAdd(x2, v, a02); a03 = Avx512F.FusedMultiplyAdd(x3, v, a03);
        v = Vector512.Create(*q1);
        a10 = Avx512F.FusedMultiplyAdd(x0, v, a10); a11 = Avx512F.FusedMultiplyAdd(x1, v, a11);
        a12 = Avx512F.FusedMultiplyAdd(x2, v, a12); a13 = Avx512F.FusedMultiplyAdd(x3, v, a13);
        v = Vector512.Create(*q2);
        a20 = Avx512F.FusedMultiplyAdd(x0, v, a20); a21 = Avx512F.FusedMultiplyAdd(x1, v, a21);
        a22 = Avx512F.FusedMultiplyAdd(x2, v, a22); a23 = Avx512F.FusedMultiplyAdd(x3, v, a23);
        v = Vector512.Create(*q3);
        a30 = Avx512F.FusedMultiplyAdd(x0, v, a30); a31 = Avx512F.FusedMultiplyAdd(x1, v, a31);
        a32 = Avx512F.FusedMultiplyAdd(x2, v, a32); a33 = Avx512F.FusedMultiplyAdd(x3, v, a33);
    }

    /// <summary>Block <paramref name="i"/> of a <see cref="ChannelTileAvx512"/> tile, for its <paramref name="kt"/>
    /// channels: stored unless its row repeats the first (a row past the band's end).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBlocks(float* y, long ov, int kt, int oy, int ox, int ow, int cols, int* rowOf,
        Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3, int i, bool relu)
    {
        if (i >= cols && rowOf[i] == 0) return;
        int x0 = ox + i % cols * 16, n = ow - x0;
        if (n <= 0) return;
        float* yb = y + (long)(oy + rowOf[i]) * ow + x0;
        Store16(yb, c0, n, relu);
        if (kt > 1) Store16(yb + ov, c1, n, relu);
        if (kt > 2) Store16(yb + 2 * ov, c2, n, relu);
        if (kt > 3) Store16(yb + 3 * ov, c3, n, relu);
    }

    /// <summary>Stores the first <paramref name="n"/> (at least 1) of the 16 columns in a, after max(·, 0) when asked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store16(float* y, Vector512<float> a, int n, bool relu)
    {
        if (relu) a = Avx512F.Max(a, Vector512<float>.Zero);
        if (n >= 16) Avx512F.Store(y, a);
        else Avx512F.MaskStore(y, Columns(0, n), a);
    }

    /// <summary>
    /// A depthwise 3×3 plane with stride 1 and one column of left padding, read in place (the scratch copy cost nearly
    /// half the time): as <see cref="PlanesAvx512"/>, four output rows × 32 columns per pass, with the taps' columns
    /// loaded straight from the input rows: plain loads where a block's taps lie inside the row, and at the row's edges
    /// loads under masks that zero the columns outside [0, <paramref name="iw"/>) (masked lanes are not read); rows
    /// outside [0, <paramref name="ih"/>) read <paramref name="zeros"/> (at least <paramref name="ow"/> + 32 zero floats).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void StrideOneAvx512(float* x, int ih, int iw, int ph, float* zeros, float* w, float bias, float* y, int oh, int ow, bool relu)
    {
        if (ow == iw && ow > 16)
        {
            SameWidthStrideOne(x, ih, iw, ph, zeros, w, bias, y, oh, ow, relu);
            return;
        }
        if (ow <= 32)
        {
            NarrowStrideOne(x, ih, iw, ph, zeros, w, bias, y, oh, ow, relu);
            return;
        }
        LoadWeights(w, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3, out Vector512<float> w4,
            out Vector512<float> w5, out Vector512<float> w6, out Vector512<float> w7, out Vector512<float> w8);
        var vb = Vector512.Create(bias);
        // passes with every load masked (masks made per pass) took 1.5-2× the time of plain loads on a plane in L1: only
        // blocks at the row's edges are masked now (masks kept across the loop instead spilled the weights)
        float** rows = stackalloc float*[6];
        for (int oy = 0; oy < oh; oy += 4)
        {
            // padded row i of the pass is input row oy − ph + i (the zero row outside the image; output rows past oh
            // are computed and not stored)
            InputRows(rows, x, ih, iw, oy - ph, zeros);
            int valid = Math.Min(4, oh - oy);
            for (int ox = 0; ox < ow; ox += 32)
            {
                // the second 16 columns repeat the first where fewer than 17 remain (stored once)
                int ox2 = ow - ox > 16 ? ox + 16 : ox;
                Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, b0 = vb, b1 = vb, b2 = vb, b3 = vb;
                bool firstInside = ox + 17 <= iw, secondInside = ox2 + 17 <= iw;
                if (ox > 0 && secondInside)
                    FourRows(new InPlaceTaps<InsideBlock, InsideBlock>(default, default), rows, ox, ox2,
                        w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                else if (ox == 0 && firstInside && secondInside)
                    FourRows(new InPlaceTaps<LeftBlock, InsideBlock>(new(Columns(-1, iw)), default), rows, ox, ox2,
                        w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                else if (ox > 0 && firstInside)
                    FourRows(new InPlaceTaps<InsideBlock, EdgeBlock>(default, new(ox2, iw)), rows, ox, ox2,
                        w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                else
                    FourRows(new InPlaceTaps<EdgeBlock, EdgeBlock>(new(ox, iw), new(ox2, iw)),
                        rows, ox, ox2, w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                float* yr = y + (long)oy * ow + ox;
                StoreRows(yr, ow, ow - ox, valid, a0, b0, a1, b1, a2, b2, a3, b3, relu);
            }
        }
    }

    /// <summary>
    /// <see cref="StrideOneAvx512"/> where the output rows are as wide as the input's (padding one column each side) and
    /// wider than 16: no masks. Each block of 16 outputs lies wholly in the row, the last one ending at the row's end
    /// (it overlaps the block before, whose columns it stores again with the same values). Only the padding columns
    /// −1 and <paramref name="iw"/> fall outside: the first block shifts a zero into its left tap's columns, the last
    /// block into its right tap's. On MobileNet's 56-wide planes the masked loads and stores of the general path took
    /// about 40 % of the kernel's time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void SameWidthStrideOne(float* x, int ih, int iw, int ph, float* zeros, float* w, float bias, float* y, int oh, int ow, bool relu)
    {
        LoadWeights(w, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3, out Vector512<float> w4,
            out Vector512<float> w5, out Vector512<float> w6, out Vector512<float> w7, out Vector512<float> w8);
        var vb = Vector512.Create(bias);
        float** rows = stackalloc float*[6];
        for (int oy = 0; oy < oh; oy += 4)
        {
            InputRows(rows, x, ih, iw, oy - ph, zeros);
            int valid = Math.Min(4, oh - oy);
            for (int ox = 0; ox < ow; ox += 32)
            {
                // blocks at c1 and c2 = c1 + 16, pulled left to end at the row's end where fewer than 32 columns remain
                int c1 = Math.Max(0, Math.Min(ox, ow - 32)), c2 = Math.Min(ox + 16, ow - 16);
                Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, b0 = vb, b1 = vb, b2 = vb, b3 = vb;
                bool last = c2 == ow - 16;
                if (c1 > 0 && !last)
                    FourRows(new InPlaceTaps<InsideBlock, InsideBlock>(default, default), rows, c1, c2,
                        w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                else if (c1 > 0)
                    FourRows(new InPlaceTaps<InsideBlock, RightEndBlock>(default, default), rows, c1, c2,
                        w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                else if (!last)
                    FourRows(new InPlaceTaps<LeftEndBlock, InsideBlock>(default, default), rows, c1, c2,
                        w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                else
                    FourRows(new InPlaceTaps<LeftEndBlock, RightEndBlock>(default, default), rows, c1, c2,
                        w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                float* yr = y + (long)oy * ow;
                StoreBlockRows(yr + c1, ow, valid, a0, a1, a2, a3, relu);
                StoreBlockRows(yr + c2, ow, valid, b0, b1, b2, b3, relu);
            }
        }
    }

    /// <summary><see cref="StrideOneAvx512"/> for rows of at most 32 outputs: one strip, whose masks are made once
    /// rather than per pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void NarrowStrideOne(float* x, int ih, int iw, int ph, float* zeros, float* w, float bias, float* y, int oh, int ow, bool relu)
    {
        LoadWeights(w, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3, out Vector512<float> w4,
            out Vector512<float> w5, out Vector512<float> w6, out Vector512<float> w7, out Vector512<float> w8);
        var vb = Vector512.Create(bias);
        int ox2 = ow > 16 ? 16 : 0;
        var taps = new InPlaceTaps<EdgeBlock, EdgeBlock>(new(0, iw), new(ox2, iw));
        float** rows = stackalloc float*[6];
        for (int oy = 0; oy < oh; oy += 4)
        {
            InputRows(rows, x, ih, iw, oy - ph, zeros);
            Vector512<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb, b0 = vb, b1 = vb, b2 = vb, b3 = vb;
            FourRows(taps, rows, 0, ox2, w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
            int valid = Math.Min(4, oh - oy);
            float* yr = y + (long)oy * ow;
            StoreRows(yr, ow, ow, valid, a0, b0, a1, b1, a2, b2, a3, b3, relu);
        }
    }

    /// <summary>rows[i] = input row <paramref name="iy0"/> + i for i &lt; 6, or <paramref name="zeros"/> where that row lies
    /// outside [0, <paramref name="ih"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InputRows(float** rows, float* x, int ih, int iw, int iy0, float* zeros)
    {
        for (int i = 0; i < 6; i++)
            rows[i] = (uint)(iy0 + i) < (uint)ih ? x + (long)(iy0 + i) * iw : zeros;
    }

    /// <summary>The first <paramref name="valid"/> (1-4) of a pass's four output rows (<paramref name="ow"/> floats
    /// apart), the first <paramref name="n"/> of their 32 columns each (see <see cref="Store"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows(float* yr, int ow, int n, int valid, Vector512<float> a0, Vector512<float> b0, Vector512<float> a1,
        Vector512<float> b1, Vector512<float> a2, Vector512<float> b2, Vector512<float> a3, Vector512<float> b3, bool relu)
    {
        Store(yr, a0, b0, n, relu);
        if (valid > 1) Store(yr + ow, a1, b1, n, relu);
        if (valid > 2) Store(yr + 2 * ow, a2, b2, n, relu);
        if (valid > 3) Store(yr + 3 * ow, a3, b3, n, relu);
    }

    /// <summary>One block of 16 columns in the first <paramref name="valid"/> (1-4) of a pass's four output rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBlockRows(float* yr, int ow, int valid, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2,
        Vector512<float> a3, bool relu)
    {
        Store16(yr, a0, 16, relu);
        if (valid > 1) Store16(yr + ow, a1, 16, relu);
        if (valid > 2) Store16(yr + 2 * ow, a2, 16, relu);
        if (valid > 3) Store16(yr + 3 * ow, a3, 16, relu);
    }

    /// <summary>
    /// One pass of four output rows × two blocks of 16 columns (at <paramref name="ox"/> and <paramref name="ox2"/> floats
    /// past the row pointers) over one input plane: padded row i (at rows[i]) feeds output rows i − 2 .. i with the
    /// weights of ky = i − r, so each loaded vector serves up to three rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FourRows<T>(T taps, float** rows, nint ox, nint ox2,
        Vector512<float> w0, Vector512<float> w1, Vector512<float> w2, Vector512<float> w3, Vector512<float> w4, Vector512<float> w5,
        Vector512<float> w6, Vector512<float> w7, Vector512<float> w8,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3,
        ref Vector512<float> b0, ref Vector512<float> b1, ref Vector512<float> b2, ref Vector512<float> b3) where T : struct, ITapColumns
    {
        taps.First(rows[0] + ox, out var u0, out var u1, out var u2); taps.Second(rows[0] + ox2, out var v0, out var v1, out var v2);
        a0 = F3(u0, u1, u2, w0, w1, w2, a0); b0 = F3(v0, v1, v2, w0, w1, w2, b0);
        taps.First(rows[1] + ox, out u0, out u1, out u2); taps.Second(rows[1] + ox2, out v0, out v1, out v2);
        a0 = F3(u0, u1, u2, w3, w4, w5, a0); b0 = F3(v0, v1, v2, w3, w4, w5, b0);
        a1 = F3(u0, u1, u2, w0, w1, w2, a1); b1 = F3(v0, v1, v2, w0, w1, w2, b1);
        taps.First(rows[2] + ox, out u0, out u1, out u2); taps.Second(rows[2] + ox2, out v0, out v1, out v2);
        a0 = F3(u0, u1, u2, w6, w7, w8, a0); b0 = F3(v0, v1, v2, w6, w7, w8, b0);
        a1 = F3(u0, u1, u2, w3, w4, w5, a1); b1 = F3(v0, v1, v2, w3, w4, w5, b1);
        a2 = F3(u0, u1, u2, w0, w1, w2, a2); b2 = F3(v0, v1, v2, w0, w1, w2, b2);
        taps.First(rows[3] + ox, out u0, out u1, out u2); taps.Second(rows[3] + ox2, out v0, out v1, out v2);
        a1 = F3(u0, u1, u2, w6, w7, w8, a1); b1 = F3(v0, v1, v2, w6, w7, w8, b1);
        a2 = F3(u0, u1, u2, w3, w4, w5, a2); b2 = F3(v0, v1, v2, w3, w4, w5, b2);
        a3 = F3(u0, u1, u2, w0, w1, w2, a3); b3 = F3(v0, v1, v2, w0, w1, w2, b3);
        taps.First(rows[4] + ox, out u0, out u1, out u2); taps.Second(rows[4] + ox2, out v0, out v1, out v2);
        a2 = F3(u0, u1, u2, w6, w7, w8, a2); b2 = F3(v0, v1, v2, w6, w7, w8, b2);
        a3 = F3(u0, u1, u2, w3, w4, w5, a3); b3 = F3(v0, v1, v2, w3, w4, w5, b3);
        taps.First(rows[5] + ox, out u0, out u1, out u2); taps.Second(rows[5] + ox2, out v0, out v1, out v2);
        a3 = F3(u0, u1, u2, w6, w7, w8, a3); b3 = F3(v0, v1, v2, w6, w7, w8, b3);
    }

    /// <summary>The columns of taps kx = 0, 1, 2 for the 16 outputs whose row data starts at a pointer, in the first
    /// and in the second block of a pass. (Out parameters, not tuples: with tuples the JIT ran out of inlining budget
    /// in the four instantiations of the in-place kernel and called their constructors.)</summary>
    private interface ITapColumns
    {
        void First(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2);
        void Second(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2);
    }

    /// <summary>Zero-bordered scratch planes: plain loads at +0, +o1, +o2.</summary>
    private readonly struct PaddedTaps(nint o1, nint o2) : ITapColumns
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void First(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
        {
            x0 = Avx512F.LoadVector512(s); x1 = Avx512F.LoadVector512(s + o1); x2 = Avx512F.LoadVector512(s + o2);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Second(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2) => First(s, out x0, out x1, out x2);
    }

    /// <summary>How one block of 16 columns at s loads its taps' columns −1, 0, +1 from an input row in place.</summary>
    private interface IBlockTaps
    {
        void Load(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2);
    }

    /// <summary>A block whose taps read only columns inside the row (first column ≥ 1, last column + 1 &lt; width): plain
    /// loads.</summary>
    private readonly struct InsideBlock : IBlockTaps
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
        {
            x0 = Avx512F.LoadVector512(s - 1); x1 = Avx512F.LoadVector512(s); x2 = Avx512F.LoadVector512(s + 1);
        }
    }

    /// <summary>The row's first block, inside on the right: only tap kx = 0 (column −1, the padding) is masked.</summary>
    private readonly struct LeftBlock(Vector512<float> m0) : IBlockTaps
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
        {
            x0 = Avx512F.MaskLoad(s - 1, m0, Vector512<float>.Zero); x1 = Avx512F.LoadVector512(s); x2 = Avx512F.LoadVector512(s + 1);
        }
    }

    /// <summary>The block at the row's start (column 0): tap kx = 0's columns are tap 1's shifted right by one lane, the
    /// padding zero shifted in.</summary>
    private readonly struct LeftEndBlock : IBlockTaps
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
        {
            x1 = Avx512F.LoadVector512(s); x2 = Avx512F.LoadVector512(s + 1);
            x0 = Avx512F.AlignRight32(x1.AsUInt32(), Vector512<uint>.Zero, 15).AsSingle();
        }
    }

    /// <summary>The block ending at the row's end: tap kx = 2's columns are tap 1's shifted left by one lane, the padding
    /// zero shifted in.</summary>
    private readonly struct RightEndBlock : IBlockTaps
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
        {
            x0 = Avx512F.LoadVector512(s - 1); x1 = Avx512F.LoadVector512(s);
            x2 = Avx512F.AlignRight32(Vector512<uint>.Zero, x1.AsUInt32(), 1).AsSingle();
        }
    }

    /// <summary>Any other block: every tap under its mask of the columns inside the row (masked lanes are not read).</summary>
    private readonly struct EdgeBlock(Vector512<float> m0, Vector512<float> m1, Vector512<float> m2) : IBlockTaps
    {
        /// <summary>The masks of the block starting at column <paramref name="c"/> of a row <paramref name="iw"/> wide.</summary>
        public EdgeBlock(int c, int iw) : this(Columns(c - 1, iw), Columns(c, iw), Columns(c + 1, iw)) { }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2)
        {
            x0 = Avx512F.MaskLoad(s - 1, m0, Vector512<float>.Zero); x1 = Avx512F.MaskLoad(s, m1, Vector512<float>.Zero);
            x2 = Avx512F.MaskLoad(s + 1, m2, Vector512<float>.Zero);
        }
    }

    /// <summary>Input rows in place: the first block loads as <typeparamref name="TFirst"/>, the second as
    /// <typeparamref name="TSecond"/>.</summary>
    private readonly struct InPlaceTaps<TFirst, TSecond>(TFirst first, TSecond second) : ITapColumns
        where TFirst : struct, IBlockTaps where TSecond : struct, IBlockTaps
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void First(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2) => first.Load(s, out x0, out x1, out x2);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Second(float* s, out Vector512<float> x0, out Vector512<float> x1, out Vector512<float> x2) => second.Load(s, out x0, out x1, out x2);
    }

    /// <summary>
    /// Backward-weights of one depthwise 3×3 plane read in place (the transpose of <see cref="StrideOneAvx512"/> and
    /// <see cref="StrideTwoAvx512"/>, <paramref name="stride"/> 1 or 2, one column of left padding): gw[ky·3 + kx] +=
    /// Σ over output positions of gy · x at the tap, in nine zmm sums, each gy vector loaded once for all nine taps
    /// (gy lanes past <paramref name="ow"/> load as zero). The input must be finite: a zero gradient lane meets the
    /// input columns past the last window.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightGradAvx512(float* x, int ih, int iw, int ph, int stride, float* gy, int oh, int ow, float* gw)
    {
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default, s8 = default;
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odd = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        if (stride == 1)
            // columns outer: the three taps' masks are the same down a column of vectors
            for (int ox = 0; ox < ow; ox += 16)
            {
                Vector512<float> m0 = Columns(ox - 1, iw), m1 = Columns(ox, iw), m2 = Columns(ox + 1, iw);
                for (int oy = 0; oy < oh; oy++)
                {
                    var v = LoadPart(gy + (long)oy * ow + ox, ow - ox);
                    float* r = x + (long)(oy - ph) * iw + ox;
                    if ((uint)(oy - ph) < (uint)ih)
                    {
                        s0 = Avx512F.FusedMultiplyAdd(Masked(r - 1, m0), v, s0); s1 = Avx512F.FusedMultiplyAdd(Masked(r, m1), v, s1);
                        s2 = Avx512F.FusedMultiplyAdd(Masked(r + 1, m2), v, s2);
                    }
                    r += iw;
                    if ((uint)(oy - ph + 1) < (uint)ih)
                    {
                        s3 = Avx512F.FusedMultiplyAdd(Masked(r - 1, m0), v, s3); s4 = Avx512F.FusedMultiplyAdd(Masked(r, m1), v, s4);
                        s5 = Avx512F.FusedMultiplyAdd(Masked(r + 1, m2), v, s5);
                    }
                    r += iw;
                    if ((uint)(oy - ph + 2) < (uint)ih)
                    {
                        s6 = Avx512F.FusedMultiplyAdd(Masked(r - 1, m0), v, s6); s7 = Avx512F.FusedMultiplyAdd(Masked(r, m1), v, s7);
                        s8 = Avx512F.FusedMultiplyAdd(Masked(r + 1, m2), v, s8);
                    }
                }
            }
        else
            for (int oy = 0; oy < oh; oy++)
            {
                int iy = 2 * oy - ph;
                float* r0 = (uint)iy < (uint)ih ? x + (long)iy * iw : null;
                float* r1 = (uint)(iy + 1) < (uint)ih ? x + (long)(iy + 1) * iw : null;
                float* r2 = (uint)(iy + 2) < (uint)ih ? x + (long)(iy + 2) * iw : null;
                Vector512<float> q0 = default, q1 = default, q2 = default, t0, t1, t2;
                float* gr = gy + (long)oy * ow;
                for (int ox = 0; ox < ow; ox += 16)
                {
                    var v = LoadPart(gr + ox, ow - ox);
                    int c = 2 * ox;
                    if (r0 != null)
                    {
                        (t0, t1, t2) = StrideTwoColumns(r0 + c, iw - c, ref q0, even, odd);
                        s0 = Avx512F.FusedMultiplyAdd(t0, v, s0); s1 = Avx512F.FusedMultiplyAdd(t1, v, s1); s2 = Avx512F.FusedMultiplyAdd(t2, v, s2);
                    }
                    if (r1 != null)
                    {
                        (t0, t1, t2) = StrideTwoColumns(r1 + c, iw - c, ref q1, even, odd);
                        s3 = Avx512F.FusedMultiplyAdd(t0, v, s3); s4 = Avx512F.FusedMultiplyAdd(t1, v, s4); s5 = Avx512F.FusedMultiplyAdd(t2, v, s5);
                    }
                    if (r2 != null)
                    {
                        (t0, t1, t2) = StrideTwoColumns(r2 + c, iw - c, ref q2, even, odd);
                        s6 = Avx512F.FusedMultiplyAdd(t0, v, s6); s7 = Avx512F.FusedMultiplyAdd(t1, v, s7); s8 = Avx512F.FusedMultiplyAdd(t2, v, s8);
                    }
                }
            }
        gw[0] += Vector512.Sum(s0); gw[1] += Vector512.Sum(s1); gw[2] += Vector512.Sum(s2);
        gw[3] += Vector512.Sum(s3); gw[4] += Vector512.Sum(s4); gw[5] += Vector512.Sum(s5);
        gw[6] += Vector512.Sum(s6); gw[7] += Vector512.Sum(s7); gw[8] += Vector512.Sum(s8);
    }

    /// <summary>
    /// Backward-data of one depthwise 3×3 input plane with stride 2 and one column of left padding, written in place
    /// (the adjoint of <see cref="StrideTwoAvx512"/>): each gx row gathers from the gy rows whose windows cover it (one
    /// or two of the taps' rows by parity), summed over the <paramref name="kg"/> output channels that read the plane
    /// (gy planes <paramref name="gyPlane"/> floats apart, nine weights each). Per 32 gx columns, the even ones take
    /// tap kx = 1 of gy[j] and the odd ones kx = 2 of gy[j] and kx = 0 of gy[j + 1], interleaved by two permutes; gy
    /// lanes past <paramref name="ow"/> load as zero, so the weights must be finite.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DataGradStrideTwoAvx512(float* gy, long gyPlane, int kg, int oh, int ow, int ph, float* w, float* gx, int ih, int iw)
    {
        var lowHalf = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var highHalf = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        for (int iy = 0; iy < ih; iy++)
        {
            float* xr = gx + (long)iy * iw;
            for (int ix = 0; ix < iw; ix += 32)
            {
                int j0 = ix / 2;
                Vector512<float> e = default, o = default;
                for (int k = 0; k < kg; k++)
                    // the taps' rows ky with iy = 2·oy − ph + ky for an output row oy
                    for (int ky = (iy + ph) & 1; ky < 3; ky += 2)
                    {
                        int oy = (iy + ph - ky) >> 1;
                        if ((uint)oy >= (uint)oh) continue;
                        float* gr = gy + k * gyPlane + (long)oy * ow + j0;
                        float* wk = w + 9 * k + 3 * ky;
                        var g0 = LoadPart(gr, ow - j0);
                        var g1 = LoadPart(gr + 1, ow - j0 - 1);
                        e = Avx512F.FusedMultiplyAdd(g0, Vector512.Create(wk[1]), e);
                        o = Avx512F.FusedMultiplyAdd(g1, Vector512.Create(wk[0]), Avx512F.FusedMultiplyAdd(g0, Vector512.Create(wk[2]), o));
                    }
                int n = iw - ix;
                var lo = Avx512F.PermuteVar16x32x2(e, lowHalf, o);
                var hi = Avx512F.PermuteVar16x32x2(e, highHalf, o);
                if (n >= 32)
                {
                    Avx512F.Store(xr + ix, lo);
                    Avx512F.Store(xr + ix + 16, hi);
                }
                else
                {
                    Avx512F.MaskStore(xr + ix, Columns(0, n), lo);
                    Avx512F.MaskStore(xr + ix + 16, Columns(0, n - 16), hi);
                }
            }
        }
    }

    /// <summary>Lanes whose column start + lane lies in [0, <paramref name="iw"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Columns(int start, int iw)
    {
        var col = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) + Vector512.Create(start);
        return (Vector512.GreaterThanOrEqual(col, Vector512<int>.Zero) & Vector512.LessThan(col, Vector512.Create(iw))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Masked(float* p, Vector512<float> mask) => Avx512F.MaskLoad(p, mask, Vector512<float>.Zero);

    /// <summary>
    /// A depthwise 3×3 plane with stride 2 and one column of left padding (MobileNet's downsampling layers), read in
    /// place: no scratch copy, whose de-interleaving cost four fifths of the time. Per input row and 16 outputs, two
    /// loads (32 columns) are split into even and odd columns by two permutes (taps kx = 1 and 2); tap kx = 0 is the odd
    /// columns shifted by one, the first from the previous 16 (the padding zero at the row start). Columns past
    /// <paramref name="iw"/> load as zero (masked), rows outside [0, <paramref name="ih"/>) are skipped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void StrideTwoAvx512(float* x, int ih, int iw, int ph, float* w, float bias, float* y, int oh, int ow, bool relu)
    {
        LoadWeights(w, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3, out Vector512<float> w4,
            out Vector512<float> w5, out Vector512<float> w6, out Vector512<float> w7, out Vector512<float> w8);
        var vb = Vector512.Create(bias);
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odd = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (int oy = 0; oy < oh; oy++)
        {
            int iy = 2 * oy - ph;
            float* r0 = (uint)iy < (uint)ih ? x + (long)iy * iw : null;
            float* r1 = (uint)(iy + 1) < (uint)ih ? x + (long)(iy + 1) * iw : null;
            float* r2 = (uint)(iy + 2) < (uint)ih ? x + (long)(iy + 2) * iw : null;
            // the rows two output rows ahead are prefetched (0.92-0.96× the time: the input does not fit L2)
            float* pf3 = iy + 6 < ih && iy + 5 >= 0 ? x + (long)(iy + 5) * iw : null;
            // each row's odd columns of the previous 16 outputs: the padding column before the first
            Vector512<float> q0 = default, q1 = default, q2 = default;
            float* yr = y + (long)oy * ow;
            for (int ox = 0; ox < ow; ox += 16)
            {
                int c = 2 * ox;
                var acc = vb;
                if (pf3 != null)
                {
                    Sse.Prefetch0(pf3 + c); Sse.Prefetch0(pf3 + c + 16);
                    Sse.Prefetch0(pf3 + iw + c); Sse.Prefetch0(pf3 + iw + c + 16);
                }
                if (r0 != null) acc = StrideTwoTaps(r0 + c, iw - c, ref q0, w0, w1, w2, acc, even, odd);
                if (r1 != null) acc = StrideTwoTaps(r1 + c, iw - c, ref q1, w3, w4, w5, acc, even, odd);
                if (r2 != null) acc = StrideTwoTaps(r2 + c, iw - c, ref q2, w6, w7, w8, acc, even, odd);
                if (relu) acc = Avx512F.Max(acc, Vector512<float>.Zero);
                if (ow - ox >= 16) Avx512F.Store(yr + ox, acc);
                else Avx512F.MaskStore(yr + ox, Columns(0, ow - ox), acc);
            }
        }
    }

    /// <summary>
    /// The AVX2 twin of <see cref="StrideTwoAvx512"/> (same arguments), 8 outputs per vector. The even and odd columns of
    /// 16 loaded ones (taps kx = 1 and 2), and the odd ones of the 16 loaded two columns earlier (kx = 0), are split by
    /// in-lane shuffles only, which leave the 8 outputs in the order 0 1 4 5 2 3 6 7; the sums are put back in order
    /// by one lane permute before the store, rather than each tap's columns before its FMA (three permutes per input
    /// row: in-lane and cross-lane shuffles share a port on Intel cores). Edge vectors load under masks (masked lanes
    /// are not read).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void StrideTwoAvx2(float* x, int ih, int iw, int ph, float* w, float bias, float* y, int oh, int ow, bool relu)
    {
        LoadWeights256(w, out Vector256<float> w0, out Vector256<float> w1, out Vector256<float> w2, out Vector256<float> w3, out Vector256<float> w4,
            out Vector256<float> w5, out Vector256<float> w6, out Vector256<float> w7, out Vector256<float> w8);
        var vb = Vector256.Create(bias);
        for (int oy = 0; oy < oh; oy++)
        {
            int iy = 2 * oy - ph;
            float* r0 = (uint)iy < (uint)ih ? x + (long)iy * iw : null;
            float* r1 = (uint)(iy + 1) < (uint)ih ? x + (long)(iy + 1) * iw : null;
            float* r2 = (uint)(iy + 2) < (uint)ih ? x + (long)(iy + 2) * iw : null;
            float* yr = y + (long)oy * ow;
            for (int ox = 0; ox < ow; ox += 8)
            {
                int c = 2 * ox;
                // two partial sums: taps kx = 0, 1 and kx = 2, for two FMA chains
                Vector256<float> acc = vb, odd = Vector256<float>.Zero;
                // written out for both kinds of block, so each is compiled with its loads
                if (c >= 2 && c + 16 <= iw)
                {
                    if (r0 != null) StrideTwoRow(r0 + c, iw - c, c, true, w0, w1, w2, ref acc, ref odd);
                    if (r1 != null) StrideTwoRow(r1 + c, iw - c, c, true, w3, w4, w5, ref acc, ref odd);
                    if (r2 != null) StrideTwoRow(r2 + c, iw - c, c, true, w6, w7, w8, ref acc, ref odd);
                }
                else
                {
                    if (r0 != null) StrideTwoRow(r0 + c, iw - c, c, false, w0, w1, w2, ref acc, ref odd);
                    if (r1 != null) StrideTwoRow(r1 + c, iw - c, c, false, w3, w4, w5, ref acc, ref odd);
                    if (r2 != null) StrideTwoRow(r2 + c, iw - c, c, false, w6, w7, w8, ref acc, ref odd);
                }
                acc = Avx2.Permute4x64(Avx.Add(acc, odd).AsDouble(), 0xD8).AsSingle();
                if (relu) acc = Avx.Max(acc, Vector256<float>.Zero);
                if (ow - ox >= 8) Avx.Store(yr + ox, acc);
                else Avx.MaskStore(yr + ox, Columns256(0, ow - ox), acc);
            }
        }
    }

    /// <summary>The nine weights of a 3×3 plane, each broadcast to a ymm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadWeights256(float* w, out Vector256<float> w0, out Vector256<float> w1, out Vector256<float> w2, out Vector256<float> w3,
        out Vector256<float> w4, out Vector256<float> w5, out Vector256<float> w6, out Vector256<float> w7, out Vector256<float> w8)
    {
        w0 = Vector256.Create(w[0]); w1 = Vector256.Create(w[1]); w2 = Vector256.Create(w[2]);
        w3 = Vector256.Create(w[3]); w4 = Vector256.Create(w[4]); w5 = Vector256.Create(w[5]);
        w6 = Vector256.Create(w[6]); w7 = Vector256.Create(w[7]); w8 = Vector256.Create(w[8]);
    }

    /// <summary>One input row's three taps of <see cref="StrideTwoAvx2"/> (see <see cref="StrideTwoColumns256"/>) into the
    /// two partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StrideTwoRow(float* s, int n, int c, bool inside, Vector256<float> k0, Vector256<float> k1, Vector256<float> k2,
        ref Vector256<float> acc, ref Vector256<float> odd)
    {
        StrideTwoColumns256(s, n, c, inside, out var left, out var even, out var oddColumns);
        acc = Fma.MultiplyAdd(left, k0, acc);
        acc = Fma.MultiplyAdd(even, k1, acc);
        odd = Fma.MultiplyAdd(oddColumns, k2, odd);
    }

    /// <summary>
    /// The input columns of a stride-2 row's taps kx = 0, 1, 2 for the 8 outputs whose windows start at column c − 1
    /// (s at column <paramref name="c"/>, <paramref name="n"/> columns of the row from it): the odd columns of the 16
    /// from c − 2, the even and the odd ones of the 16 from c, split by in-lane shuffles, so the lanes hold outputs
    /// 0 1 4 5 2 3 6 7. Plain loads when <paramref name="inside"/> (c ≥ 2 and n ≥ 16), else masked.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StrideTwoColumns256(float* s, int n, int c, bool inside, out Vector256<float> left, out Vector256<float> even,
        out Vector256<float> odd)
    {
        Vector256<float> a, b, p, q;
        if (inside)
        {
            a = Avx.LoadVector256(s); b = Avx.LoadVector256(s + 8); p = Avx.LoadVector256(s - 2); q = Avx.LoadVector256(s + 6);
        }
        else
        {
            a = LoadPart(s, n, 0); b = LoadPart(s + 8, n - 8, 0); p = LoadPart(s - 2, n + 2, 2 - c); q = LoadPart(s + 6, n - 6, 0);
        }
        left = Avx.Shuffle(p, q, 0xDD);
        even = Avx.Shuffle(a, b, 0x88);
        odd = Avx.Shuffle(a, b, 0xDD);
    }

    /// <summary>The floats at p whose lane l satisfies <paramref name="skip"/> ≤ l &lt; <paramref name="n"/> (8 lanes), zero
    /// elsewhere; masked lanes are not read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LoadPart(float* p, int n, int skip)
    {
        if (n >= 8 && skip <= 0) return Avx.LoadVector256(p);
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        return Avx.MaskLoad(p, (Vector256.GreaterThanOrEqual(lane, Vector256.Create(skip)) & Vector256.LessThan(lane, Vector256.Create(n))).AsSingle());
    }

    /// <summary>
    /// The AVX2 twin of <see cref="ChannelTileAvx512"/> (same arguments): a tile is two blocks of 8 outputs (one row ×
    /// 16 columns, or 2 rows × 8 for rows of at most 8) × four channels in 8 ymm sums; per tap 2 loads and 4 weight
    /// broadcasts feed 8 FMAs, and 11 of the 16 registers are live.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ChannelTileAvx2(float* p, nint planeStride, int planes, nint full, float* w, nint ckv, int kt, float* bias,
        float* y, long ov, int oy0, int oy1, int ow, bool relu)
    {
        float* q0 = w, q1 = ChannelRow(w, ckv, kt, 1), q2 = ChannelRow(w, ckv, kt, 2), q3 = ChannelRow(w, ckv, kt, 3);
        Vector256<float> b0 = Vector256.Create(ChannelBias(bias, kt, 0)), b1 = Vector256.Create(ChannelBias(bias, kt, 1));
        Vector256<float> b2 = Vector256.Create(ChannelBias(bias, kt, 2)), b3 = Vector256.Create(ChannelBias(bias, kt, 3));
        bool twoRows = ow <= 8;
        for (int oy = oy0; oy < oy1; oy += twoRows ? 2 : 1)
            for (int ox = 0; ox < ow; ox += twoRows ? 8 : 16)
            {
                // the second block: the next 8 columns, or the next row (computed and not stored past the band's end:
                // the padded planes have a row to spare)
                bool second = twoRows ? oy + 1 < oy1 : ox + 8 < ow;
                nint o1 = twoRows ? full : 8;
                Vector256<float> a00 = b0, a01 = b0, a10 = b1, a11 = b1, a20 = b2, a21 = b2, a30 = b3, a31 = b3;
                for (int c = 0; c < planes; c++)
                {
                    float* r = p + c * planeStride + oy * full + ox;
                    int o = 9 * c;
                    for (int ky = 0; ky < 3; ky++, r += full, o += 3)
                    {
                        ChannelTap256(r, o1, q0 + o, q1 + o, q2 + o, q3 + o, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31);
                        ChannelTap256(r + 1, o1, q0 + o + 1, q1 + o + 1, q2 + o + 1, q3 + o + 1, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31);
                        ChannelTap256(r + 2, o1, q0 + o + 2, q1 + o + 2, q2 + o + 2, q3 + o + 2, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31);
                    }
                }
                float* yb = y + (long)oy * ow + ox;
                int n = Math.Min(8, ow - ox);
                StoreChannels256(yb, ov, kt, n, a00, a10, a20, a30, relu);
                if (second)
                {
                    if (twoRows) StoreChannels256(yb + ow, ov, kt, n, a01, a11, a21, a31, relu);
                    else StoreChannels256(yb + 8, ov, kt, Math.Min(8, ow - ox - 8), a01, a11, a21, a31, relu);
                }
            }
    }

    /// <summary>
    /// The AVX2 twin of <see cref="ChannelTileInPlaceAvx512"/> (same arguments and requirements, tiles of two blocks of 8
    /// positions): 8 ymm sums, 2 loads and 4 weight broadcasts per tap as in <see cref="ChannelTileAvx2"/>, and the four
    /// edge masks in registers, 15 of the 16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ChannelTileInPlaceAvx2(float* x, nint planeStride, int planes, int iw, float* w, nint ckv, int kt, float* bias,
        float* y, long ov, int q0, int q1, bool relu)
    {
        float* w0 = w, w1 = ChannelRow(w, ckv, kt, 1), w2 = ChannelRow(w, ckv, kt, 2), w3 = ChannelRow(w, ckv, kt, 3);
        Vector256<float> b0 = Vector256.Create(ChannelBias(bias, kt, 0)), b1 = Vector256.Create(ChannelBias(bias, kt, 1));
        Vector256<float> b2 = Vector256.Create(ChannelBias(bias, kt, 2)), b3 = Vector256.Create(ChannelBias(bias, kt, 3));
        var width = Vector256.Create(iw);
        var last = width - Vector256<int>.One;
        bool pull = q1 - q0 >= 16;
        for (int q = q0; q < q1; q += 16)
        {
            int qt = pull ? Math.Min(q, q1 - 16) : q;
            // each lane's column: a block of 8 wraps at most once (iw ≥ 16)
            var c0 = Vector256.Create(qt % iw) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            c0 -= Vector256.GreaterThanOrEqual(c0, width) & width;
            var c1 = c0 + Vector256.Create(8); c1 -= Vector256.GreaterThanOrEqual(c1, width) & width;
            Vector256<float> l0 = (~Vector256.Equals(c0, Vector256<int>.Zero)).AsSingle(), l1 = (~Vector256.Equals(c1, Vector256<int>.Zero)).AsSingle();
            Vector256<float> r0 = (~Vector256.Equals(c0, last)).AsSingle(), r1 = (~Vector256.Equals(c1, last)).AsSingle();
            Vector256<float> a00 = b0, a01 = b0, a10 = b1, a11 = b1, a20 = b2, a21 = b2, a30 = b3, a31 = b3;
            for (int c = 0; c < planes; c++)
            {
                float* r = x + c * planeStride + qt - iw;
                int o = 9 * c;
                for (int ky = 0; ky < 3; ky++, r += iw, o += 3)
                {
                    ChannelFmas256(Avx.MaskLoad(r - 1, l0), Avx.MaskLoad(r + 7, l1), w0 + o, w1 + o, w2 + o, w3 + o,
                        ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31);
                    ChannelTap256(r, 8, w0 + o + 1, w1 + o + 1, w2 + o + 1, w3 + o + 1, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31);
                    ChannelFmas256(Avx.MaskLoad(r + 1, r0), Avx.MaskLoad(r + 9, r1), w0 + o + 2, w1 + o + 2, w2 + o + 2, w3 + o + 2,
                        ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31);
                }
            }
            float* yt = y + qt;
            if (q1 - qt > 0) StoreChannels256(yt, ov, kt, Math.Min(8, q1 - qt), a00, a10, a20, a30, relu);
            if (q1 - qt > 8) StoreChannels256(yt + 8, ov, kt, Math.Min(8, q1 - qt - 8), a01, a11, a21, a31, relu);
        }
    }

    /// <summary>One tap of a <see cref="ChannelTileAvx2"/> tile: the blocks at s and s + o1 times the four channels'
    /// weights at q0..q3, into the 8 sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChannelTap256(float* s, nint o1, float* q0, float* q1, float* q2, float* q3,
        ref Vector256<float> a00, ref Vector256<float> a01, ref Vector256<float> a10, ref Vector256<float> a11,
        ref Vector256<float> a20, ref Vector256<float> a21, ref Vector256<float> a30, ref Vector256<float> a31)
        => ChannelFmas256(Avx.LoadVector256(s), Avx.LoadVector256(s + o1), q0, q1, q2, q3, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21,
            ref a30, ref a31);

    /// <summary>The 8 FMAs of a two-block, four-channel tap: blocks x0 and x1 times the channels' weights at q0..q3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChannelFmas256(Vector256<float> x0, Vector256<float> x1, float* q0, float* q1, float* q2, float* q3,
        ref Vector256<float> a00, ref Vector256<float> a01, ref Vector256<float> a10, ref Vector256<float> a11,
        ref Vector256<float> a20, ref Vector256<float> a21, ref Vector256<float> a30, ref Vector256<float> a31)
    {
        var v = Vector256.Create(*q0);
        a00 = Fma.MultiplyAdd(x0, v, a00); a01 = Fma.MultiplyAdd(x1, v, a01);
        v = Vector256.Create(*q1);
        a10 = Fma.MultiplyAdd(x0, v, a10); a11 = Fma.MultiplyAdd(x1, v, a11);
        v = Vector256.Create(*q2);
        a20 = Fma.MultiplyAdd(x0, v, a20); a21 = Fma.MultiplyAdd(x1, v, a21);
        v = Vector256.Create(*q3);
        a30 = Fma.MultiplyAdd(x0, v, a30); a31 = Fma.MultiplyAdd(x1, v, a31);
    }

    /// <summary>The first <paramref name="n"/> columns of a block for the tile's <paramref name="kt"/> channels
    /// (<paramref name="ov"/> floats apart).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreChannels256(float* y, long ov, int kt, int n, Vector256<float> c0, Vector256<float> c1, Vector256<float> c2,
        Vector256<float> c3, bool relu)
    {
        Store256(y, c0, n, relu);
        if (kt > 1) Store256(y + ov, c1, n, relu);
        if (kt > 2) Store256(y + 2 * ov, c2, n, relu);
        if (kt > 3) Store256(y + 3 * ov, c3, n, relu);
    }

    /// <summary>
    /// The AVX2 twin of <see cref="WeightGradAvx512"/> (same arguments and requirements), in nine ymm sums. Stride 1:
    /// blocks of 8 columns, plain loads where the taps lie inside the row, masked at its edges. Stride 2: the input
    /// columns split by in-lane shuffles as in <see cref="StrideTwoAvx2"/>, so each gy vector is permuted once into
    /// their order (the sum over lanes does not mind it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightGradAvx2(float* x, int ih, int iw, int ph, int stride, float* gy, int oh, int ow, float* gw)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default, s8 = default;
        if (stride == 1)
        {
            var masks = stackalloc Vector256<float>[3];
            // columns outer: a block's kind and masks are the same down its column
            for (int ox = 0; ox < ow; ox += 8)
            {
                if (ox > 0 && ox + 9 <= iw)
                    WeightGradColumn(default(Inside256), x, ih, iw, ph, gy, oh, ow, ox, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7, ref s8);
                else
                    WeightGradColumn(Edge256.At(masks, ox, iw), x, ih, iw, ph, gy, oh, ow, ox, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7, ref s8);
            }
        }
        else
            for (int oy = 0; oy < oh; oy++)
            {
                int iy = 2 * oy - ph;
                float* r0 = (uint)iy < (uint)ih ? x + (long)iy * iw : null;
                float* r1 = (uint)(iy + 1) < (uint)ih ? x + (long)(iy + 1) * iw : null;
                float* r2 = (uint)(iy + 2) < (uint)ih ? x + (long)(iy + 2) * iw : null;
                float* gr = gy + (long)oy * ow;
                for (int ox = 0; ox < ow; ox += 8)
                {
                    var v = Avx2.Permute4x64(LoadPart(gr + ox, ow - ox, 0).AsDouble(), 0xD8).AsSingle();
                    int c = 2 * ox, n = iw - c;
                    if (c >= 2 && n >= 16)
                    {
                        if (r0 != null) StrideTwoGrad(r0 + c, n, c, true, v, ref s0, ref s1, ref s2);
                        if (r1 != null) StrideTwoGrad(r1 + c, n, c, true, v, ref s3, ref s4, ref s5);
                        if (r2 != null) StrideTwoGrad(r2 + c, n, c, true, v, ref s6, ref s7, ref s8);
                    }
                    else
                    {
                        if (r0 != null) StrideTwoGrad(r0 + c, n, c, false, v, ref s0, ref s1, ref s2);
                        if (r1 != null) StrideTwoGrad(r1 + c, n, c, false, v, ref s3, ref s4, ref s5);
                        if (r2 != null) StrideTwoGrad(r2 + c, n, c, false, v, ref s6, ref s7, ref s8);
                    }
                }
            }
        gw[0] += Vector256.Sum(s0); gw[1] += Vector256.Sum(s1); gw[2] += Vector256.Sum(s2);
        gw[3] += Vector256.Sum(s3); gw[4] += Vector256.Sum(s4); gw[5] += Vector256.Sum(s5);
        gw[6] += Vector256.Sum(s6); gw[7] += Vector256.Sum(s7); gw[8] += Vector256.Sum(s8);
    }

    /// <summary>One column of 8 gy lanes of <see cref="WeightGradAvx2"/> with stride 1, down every output row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightGradColumn<T>(T t, float* x, int ih, int iw, int ph, float* gy, int oh, int ow, int ox,
        ref Vector256<float> s0, ref Vector256<float> s1, ref Vector256<float> s2, ref Vector256<float> s3, ref Vector256<float> s4,
        ref Vector256<float> s5, ref Vector256<float> s6, ref Vector256<float> s7, ref Vector256<float> s8) where T : struct, IBlockTaps256
    {
        for (int oy = 0; oy < oh; oy++)
        {
            var v = LoadPart(gy + (long)oy * ow + ox, ow - ox, 0);
            float* r = x + (long)(oy - ph) * iw + ox;
            if ((uint)(oy - ph) < (uint)ih)
            {
                s0 = Fma.MultiplyAdd(t.Load0(r), v, s0); s1 = Fma.MultiplyAdd(t.Load1(r), v, s1); s2 = Fma.MultiplyAdd(t.Load2(r), v, s2);
            }
            r += iw;
            if ((uint)(oy - ph + 1) < (uint)ih)
            {
                s3 = Fma.MultiplyAdd(t.Load0(r), v, s3); s4 = Fma.MultiplyAdd(t.Load1(r), v, s4); s5 = Fma.MultiplyAdd(t.Load2(r), v, s5);
            }
            r += iw;
            if ((uint)(oy - ph + 2) < (uint)ih)
            {
                s6 = Fma.MultiplyAdd(t.Load0(r), v, s6); s7 = Fma.MultiplyAdd(t.Load1(r), v, s7); s8 = Fma.MultiplyAdd(t.Load2(r), v, s8);
            }
        }
    }

    /// <summary>One input row's three taps of <see cref="WeightGradAvx2"/> with stride 2: the columns of
    /// <see cref="StrideTwoColumns256"/> times the permuted gy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StrideTwoGrad(float* s, int n, int c, bool inside, Vector256<float> v, ref Vector256<float> a, ref Vector256<float> b,
        ref Vector256<float> d)
    {
        StrideTwoColumns256(s, n, c, inside, out var left, out var even, out var odd);
        a = Fma.MultiplyAdd(left, v, a);
        b = Fma.MultiplyAdd(even, v, b);
        d = Fma.MultiplyAdd(odd, v, d);
    }

    /// <summary>
    /// The AVX2 twin of <see cref="DataGradStrideTwoAvx512"/> (same arguments and requirements): per 16 gx columns, 8
    /// even and 8 odd sums interleaved by two unpacks and two lane permutes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DataGradStrideTwoAvx2(float* gy, long gyPlane, int kg, int oh, int ow, int ph, float* w, float* gx, int ih, int iw)
    {
        for (int iy = 0; iy < ih; iy++)
        {
            float* xr = gx + (long)iy * iw;
            for (int ix = 0; ix < iw; ix += 16)
            {
                int j0 = ix / 2;
                Vector256<float> e = default, o = default;
                for (int k = 0; k < kg; k++)
                    // the taps' rows ky with iy = 2·oy − ph + ky for an output row oy
                    for (int ky = (iy + ph) & 1; ky < 3; ky += 2)
                    {
                        int oy = (iy + ph - ky) >> 1;
                        if ((uint)oy >= (uint)oh) continue;
                        float* gr = gy + k * gyPlane + (long)oy * ow + j0;
                        float* wk = w + 9 * k + 3 * ky;
                        var g0 = LoadPart(gr, ow - j0, 0);
                        var g1 = LoadPart(gr + 1, ow - j0 - 1, 0);
                        e = Fma.MultiplyAdd(g0, Vector256.Create(wk[1]), e);
                        o = Fma.MultiplyAdd(g1, Vector256.Create(wk[0]), Fma.MultiplyAdd(g0, Vector256.Create(wk[2]), o));
                    }
                Vector256<float> lo = Avx.UnpackLow(e, o), hi = Avx.UnpackHigh(e, o);
                Vector256<float> first = Avx.Permute2x128(lo, hi, 0x20), second = Avx.Permute2x128(lo, hi, 0x31);
                int n = iw - ix;
                if (n >= 16)
                {
                    Avx.Store(xr + ix, first);
                    Avx.Store(xr + ix + 8, second);
                }
                else
                {
                    Avx.MaskStore(xr + ix, Columns256(0, n), first);
                    Avx.MaskStore(xr + ix + 8, Columns256(0, n - 8), second);
                }
            }
        }
    }

    /// <summary>
    /// The AVX2 twin of <see cref="StrideOneAvx512"/> (same arguments): four output rows × 8 columns per pass, each
    /// loaded input vector fed at once to the up to three output rows it serves, so the nine weights, four sums and
    /// the loaded vector fit the 16 ymm registers. Blocks whose taps lie inside the row load plainly; the row's edge
    /// blocks load under masks kept in memory (masked lanes are not read).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void StrideOneAvx2(float* x, int ih, int iw, int ph, float* zeros, float* w, float bias, float* y, int oh, int ow, bool relu)
    {
        LoadWeights256(w, out Vector256<float> w0, out Vector256<float> w1, out Vector256<float> w2, out Vector256<float> w3, out Vector256<float> w4,
            out Vector256<float> w5, out Vector256<float> w6, out Vector256<float> w7, out Vector256<float> w8);
        var vb = Vector256.Create(bias);
        float** rows = stackalloc float*[6];
        var masks = stackalloc Vector256<float>[3];
        for (int oy = 0; oy < oh; oy += 4)
        {
            InputRows(rows, x, ih, iw, oy - ph, zeros);
            int valid = Math.Min(4, oh - oy);
            for (int ox = 0; ox < ow; ox += 8)
            {
                Vector256<float> a0 = vb, a1 = vb, a2 = vb, a3 = vb;
                if (ox > 0 && ox + 9 <= iw)
                    FourRows256(default(Inside256), rows, ox, w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3);
                else
                    FourRows256(Edge256.At(masks, ox, iw), rows, ox, w0, w1, w2, w3, w4, w5, w6, w7, w8, ref a0, ref a1, ref a2, ref a3);
                float* yr = y + (long)oy * ow + ox;
                int n = ow - ox;
                Store256(yr, a0, n, relu);
                if (valid > 1) Store256(yr + ow, a1, n, relu);
                if (valid > 2) Store256(yr + 2 * ow, a2, n, relu);
                if (valid > 3) Store256(yr + 3 * ow, a3, n, relu);
            }
        }
    }

    /// <summary>
    /// One pass of <see cref="StrideOneAvx2"/>: padded row i feeds output rows i − 2 .. i (of the four) with the weights
    /// of ky = i − r.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FourRows256<T>(T t, float** rows, nint ox,
        Vector256<float> w0, Vector256<float> w1, Vector256<float> w2, Vector256<float> w3, Vector256<float> w4, Vector256<float> w5,
        Vector256<float> w6, Vector256<float> w7, Vector256<float> w8,
        ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
        where T : struct, IBlockTaps256
    {
        float* s = rows[0] + ox;
        var v = t.Load0(s); a0 = Fma.MultiplyAdd(v, w0, a0);
        v = t.Load1(s); a0 = Fma.MultiplyAdd(v, w1, a0);
        v = t.Load2(s); a0 = Fma.MultiplyAdd(v, w2, a0);
        s = rows[1] + ox;
        v = t.Load0(s); a0 = Fma.MultiplyAdd(v, w3, a0); a1 = Fma.MultiplyAdd(v, w0, a1);
        v = t.Load1(s); a0 = Fma.MultiplyAdd(v, w4, a0); a1 = Fma.MultiplyAdd(v, w1, a1);
        v = t.Load2(s); a0 = Fma.MultiplyAdd(v, w5, a0); a1 = Fma.MultiplyAdd(v, w2, a1);
        s = rows[2] + ox;
        v = t.Load0(s); a0 = Fma.MultiplyAdd(v, w6, a0); a1 = Fma.MultiplyAdd(v, w3, a1); a2 = Fma.MultiplyAdd(v, w0, a2);
        v = t.Load1(s); a0 = Fma.MultiplyAdd(v, w7, a0); a1 = Fma.MultiplyAdd(v, w4, a1); a2 = Fma.MultiplyAdd(v, w1, a2);
        v = t.Load2(s); a0 = Fma.MultiplyAdd(v, w8, a0); a1 = Fma.MultiplyAdd(v, w5, a1); a2 = Fma.MultiplyAdd(v, w2, a2);
        s = rows[3] + ox;
        v = t.Load0(s); a1 = Fma.MultiplyAdd(v, w6, a1); a2 = Fma.MultiplyAdd(v, w3, a2); a3 = Fma.MultiplyAdd(v, w0, a3);
        v = t.Load1(s); a1 = Fma.MultiplyAdd(v, w7, a1); a2 = Fma.MultiplyAdd(v, w4, a2); a3 = Fma.MultiplyAdd(v, w1, a3);
        v = t.Load2(s); a1 = Fma.MultiplyAdd(v, w8, a1); a2 = Fma.MultiplyAdd(v, w5, a2); a3 = Fma.MultiplyAdd(v, w2, a3);
        s = rows[4] + ox;
        v = t.Load0(s); a2 = Fma.MultiplyAdd(v, w6, a2); a3 = Fma.MultiplyAdd(v, w3, a3);
        v = t.Load1(s); a2 = Fma.MultiplyAdd(v, w7, a2); a3 = Fma.MultiplyAdd(v, w4, a3);
        v = t.Load2(s); a2 = Fma.MultiplyAdd(v, w8, a2); a3 = Fma.MultiplyAdd(v, w5, a3);
        s = rows[5] + ox;
        v = t.Load0(s); a3 = Fma.MultiplyAdd(v, w6, a3);
        v = t.Load1(s); a3 = Fma.MultiplyAdd(v, w7, a3);
        v = t.Load2(s); a3 = Fma.MultiplyAdd(v, w8, a3);
    }

    /// <summary>How one block of 8 columns at s loads its taps' columns −1, 0, +1 from an input row in place.</summary>
    private interface IBlockTaps256
    {
        Vector256<float> Load0(float* s);
        Vector256<float> Load1(float* s);
        Vector256<float> Load2(float* s);
    }

    /// <summary>A block whose taps read only columns inside the row: plain loads.</summary>
    private readonly struct Inside256 : IBlockTaps256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector256<float> Load0(float* s) => Avx.LoadVector256(s - 1);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector256<float> Load1(float* s) => Avx.LoadVector256(s);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector256<float> Load2(float* s) => Avx.LoadVector256(s + 1);
    }

    /// <summary>A block at the row's edges: tap kx under masks[kx] (from memory, so they hold no register).</summary>
    private readonly struct Edge256(Vector256<float>* masks) : IBlockTaps256
    {
        /// <summary>The block at column <paramref name="c"/> of a row <paramref name="iw"/> wide, its masks written to
        /// <paramref name="masks"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Edge256 At(Vector256<float>* masks, int c, int iw)
        {
            masks[0] = Columns256(c - 1, iw); masks[1] = Columns256(c, iw); masks[2] = Columns256(c + 1, iw);
            return new Edge256(masks);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector256<float> Load0(float* s) => Avx.MaskLoad(s - 1, masks[0]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector256<float> Load1(float* s) => Avx.MaskLoad(s, masks[1]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector256<float> Load2(float* s) => Avx.MaskLoad(s + 1, masks[2]);
    }

    /// <summary>Lane j set where column <paramref name="c"/> + j lies in [0, <paramref name="iw"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Columns256(int c, int iw)
    {
        var col = Vector256.Create(c) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        return (Vector256.GreaterThanOrEqual(col, Vector256<int>.Zero) & Vector256.LessThan(col, Vector256.Create(iw))).AsSingle();
    }

    /// <summary>Stores the first <paramref name="n"/> (at least 1) of the 8 columns in a, after max(·, 0) when asked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* y, Vector256<float> a, int n, bool relu)
    {
        if (relu) a = Avx.Max(a, Vector256<float>.Zero);
        if (n >= 8) Avx.Store(y, a);
        else Avx.MaskStore(y, Columns256(0, n), a);
    }

    /// <summary>acc + left·k0 + even·k1 + odd·k2 for the 32 columns at s (see <see cref="StrideTwoColumns"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StrideTwoTaps(float* s, int n, ref Vector512<float> prevOdd, Vector512<float> k0, Vector512<float> k1,
        Vector512<float> k2, Vector512<float> acc, Vector512<int> even, Vector512<int> odd)
    {
        var (left, e, o) = StrideTwoColumns(s, n, ref prevOdd, even, odd);
        return Avx512F.FusedMultiplyAdd(o, k2, Avx512F.FusedMultiplyAdd(e, k1, Avx512F.FusedMultiplyAdd(left, k0, acc)));
    }

    /// <summary>The three taps' columns of 16 stride-2 outputs from the 32 input columns at s (n of them inside the
    /// row): even (kx = 1), odd (kx = 2), and the odd shifted by one after <paramref name="prevOdd"/>'s last (kx = 0);
    /// <paramref name="prevOdd"/> becomes odd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> Left, Vector512<float> Even, Vector512<float> Odd) StrideTwoColumns(float* s, int n, ref Vector512<float> prevOdd,
        Vector512<int> even, Vector512<int> odd)
    {
        var lo = LoadPart(s, n);
        var hi = LoadPart(s + 16, n - 16);
        var e = Avx512F.PermuteVar16x32x2(lo, even, hi);
        var o = Avx512F.PermuteVar16x32x2(lo, odd, hi);
        var left = Avx512F.AlignRight32(o.AsInt32(), prevOdd.AsInt32(), 15).AsSingle();
        prevOdd = o;
        return (left, e, o);
    }

    /// <summary>The first <paramref name="n"/> floats at <paramref name="p"/> (all 16 when n ≥ 16, none when n ≤ 0), zero
    /// past them; masked lanes are not read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LoadPart(float* p, int n)
        => n >= 16 ? Avx512F.LoadVector512(p) : n <= 0 ? Vector512<float>.Zero : Avx512F.MaskLoad(p, Columns(0, n), Vector512<float>.Zero);

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
        Avx512F.MaskStore(y, Columns(0, n), a);
        Avx512F.MaskStore(y + 16, Columns(0, n - 16), b);
    }
}
