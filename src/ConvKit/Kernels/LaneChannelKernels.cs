using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// Direct convolution with the output channels in the lanes, for a network's first layer (oneDNN's layout there):
/// a tile is 14 output positions along a row × 32 output channels, two zmm sums per position (28 of the 32
/// registers). Per tap, two vectors of the 32 channels' weights and 14 broadcasts of the input at the positions
/// (stride 1 or 2 along the row, so no column matrix and no phase planes), each feeding two FMAs; then each half of
/// the tile is transposed in registers, so that each channel's positions store as one vector of its output row.
/// A tile of 16 positions × 16 channels, one broadcast per FMA (17 loads per 16 FMAs), ran ResNet-50's conv1 at
/// 164 GFLOP/s on one Zen 5 core where this one runs 206 (319 and 395 on two), alternated runs.
/// </summary>
internal static unsafe class LaneChannelKernels
{
    /// <summary>Output positions and output channels per tile of <see cref="Tile14x32Avx512{TStride}"/>.</summary>
    public const int Positions = 14, Channels = 32;

    /// <summary>Output positions per tile of <see cref="Tile6x16Avx2{TStride}"/>.</summary>
    public const int PositionsAvx2 = 6;

    /// <summary>The distance, in floats, between the inputs of neighbouring output positions (a constant per
    /// instantiation, so the broadcasts address with fixed displacements).</summary>
    public interface IColumnStride
    {
        static abstract int Value { get; }
    }

    /// <summary>Stride 1 along the row.</summary>
    public readonly struct StrideOne : IColumnStride
    {
        /// <inheritdoc/>
        public static int Value => 1;
    }

    /// <summary>Stride 2 along the row.</summary>
    public readonly struct StrideTwo : IColumnStride
    {
        /// <inheritdoc/>
        public static int Value => 2;
    }

    /// <summary>
    /// One tile: y[c·<paramref name="ov"/> + p] = bias[c] + Σ over the <paramref name="taps"/> taps t of
    /// w[32·t + c] · x[<paramref name="off"/>[t] + p·S] for channels c &lt; <paramref name="nCh"/> and positions
    /// p &lt; <paramref name="nPos"/> (S the stride), after max(·, 0) when asked. <paramref name="bias"/> holds 32 floats;
    /// positions past <paramref name="nPos"/> are computed (their inputs must be readable) and not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile14x32Avx512<TStride>(float* x, int* off, int taps, float* w, float* bias, float* y, long ov, int nPos, int nCh,
        bool relu) where TStride : struct, IColumnStride
    {
        nint d = TStride.Value;
        var b = Avx512F.LoadVector512(bias);
        var c = Avx512F.LoadVector512(bias + 16);
        Vector512<float> a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b, a8 = b, a9 = b, a10 = b, a11 = b, a12 = b, a13 = b;
        Vector512<float> c0 = c, c1 = c, c2 = c, c3 = c, c4 = c, c5 = c, c6 = c, c7 = c, c8 = c, c9 = c, c10 = c, c11 = c, c12 = c, c13 = c;
        for (int t = 0; t < taps; t++)
        {
            float* p = x + off[t];
            var v = Avx512F.LoadVector512(w + Channels * t);
            var u = Avx512F.LoadVector512(w + Channels * t + 16);
            var s = Vector512.Create(p[0]); a0 = Avx512F.FusedMultiplyAdd(s, v, a0); c0 = Avx512F.FusedMultiplyAdd(s, u, c0);
            s = Vector512.Create(p[d]); a1 = Avx512F.FusedMultiplyAdd(s, v, a1); c1 = Avx512F.FusedMultiplyAdd(s, u, c1);
            s = Vector512.Create(p[2 * d]); a2 = Avx512F.FusedMultiplyAdd(s, v, a2); c2 = Avx512F.FusedMultiplyAdd(s, u, c2);
            s = Vector512.Create(p[3 * d]); a3 = Avx512F.FusedMultiplyAdd(s, v, a3); c3 = Avx512F.FusedMultiplyAdd(s, u, c3);
            s = Vector512.Create(p[4 * d]); a4 = Avx512F.FusedMultiplyAdd(s, v, a4); c4 = Avx512F.FusedMultiplyAdd(s, u, c4);
            s = Vector512.Create(p[5 * d]); a5 = Avx512F.FusedMultiplyAdd(s, v, a5); c5 = Avx512F.FusedMultiplyAdd(s, u, c5);
            s = Vector512.Create(p[6 * d]); a6 = Avx512F.FusedMultiplyAdd(s, v, a6); c6 = Avx512F.FusedMultiplyAdd(s, u, c6);
            s = Vector512.Create(p[7 * d]); a7 = Avx512F.FusedMultiplyAdd(s, v, a7); c7 = Avx512F.FusedMultiplyAdd(s, u, c7);
            s = Vector512.Create(p[8 * d]); a8 = Avx512F.FusedMultiplyAdd(s, v, a8); c8 = Avx512F.FusedMultiplyAdd(s, u, c8);
            s = Vector512.Create(p[9 * d]); a9 = Avx512F.FusedMultiplyAdd(s, v, a9); c9 = Avx512F.FusedMultiplyAdd(s, u, c9);
            s = Vector512.Create(p[10 * d]); a10 = Avx512F.FusedMultiplyAdd(s, v, a10); c10 = Avx512F.FusedMultiplyAdd(s, u, c10);
            s = Vector512.Create(p[11 * d]); a11 = Avx512F.FusedMultiplyAdd(s, v, a11); c11 = Avx512F.FusedMultiplyAdd(s, u, c11);
            s = Vector512.Create(p[12 * d]); a12 = Avx512F.FusedMultiplyAdd(s, v, a12); c12 = Avx512F.FusedMultiplyAdd(s, u, c12);
            s = Vector512.Create(p[13 * d]); a13 = Avx512F.FusedMultiplyAdd(s, v, a13); c13 = Avx512F.FusedMultiplyAdd(s, u, c13);
        }
        Vector512<float> z0 = default, z1 = default, z2 = default, z3 = default;
        TransposeStore(ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7, ref a8, ref a9, ref a10, ref a11, ref a12, ref a13,
            ref z0, ref z1, y, ov, nPos, Math.Min(nCh, 16), relu);
        if (nCh > 16)
            TransposeStore(ref c0, ref c1, ref c2, ref c3, ref c4, ref c5, ref c6, ref c7, ref c8, ref c9, ref c10, ref c11, ref c12, ref c13,
                ref z2, ref z3, y + 16 * ov, ov, nPos, nCh - 16, relu);
    }

    /// <summary>
    /// The AVX2 tile: 6 output positions × 16 channels (one half of a block of <see cref="Channels"/>, its weights at
    /// <paramref name="w"/> + 32·t), two ymm sums per position, 12 of the 16 registers; per tap two weight loads and six
    /// broadcasts for 12 FMAs. Then each 8 channels' sums are transposed in registers and each channel's six positions
    /// stored as four and two floats. As <see cref="Tile14x32Avx512{TStride}"/> otherwise; <paramref name="bias"/> holds
    /// 16 floats and at most 16 channels are stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile6x16Avx2<TStride>(float* x, int* off, int taps, float* w, float* bias, float* y, long ov, int nPos, int nCh,
        bool relu) where TStride : struct, IColumnStride
    {
        nint d = TStride.Value;
        var b = Avx.LoadVector256(bias);
        var c = Avx.LoadVector256(bias + 8);
        Vector256<float> a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, c0 = c, c1 = c, c2 = c, c3 = c, c4 = c, c5 = c;
        for (int t = 0; t < taps; t++)
        {
            float* p = x + off[t];
            var v = Avx.LoadVector256(w + Channels * t);
            var u = Avx.LoadVector256(w + Channels * t + 8);
            var s = Vector256.Create(p[0]); a0 = Fma.MultiplyAdd(s, v, a0); c0 = Fma.MultiplyAdd(s, u, c0);
            s = Vector256.Create(p[d]); a1 = Fma.MultiplyAdd(s, v, a1); c1 = Fma.MultiplyAdd(s, u, c1);
            s = Vector256.Create(p[2 * d]); a2 = Fma.MultiplyAdd(s, v, a2); c2 = Fma.MultiplyAdd(s, u, c2);
            s = Vector256.Create(p[3 * d]); a3 = Fma.MultiplyAdd(s, v, a3); c3 = Fma.MultiplyAdd(s, u, c3);
            s = Vector256.Create(p[4 * d]); a4 = Fma.MultiplyAdd(s, v, a4); c4 = Fma.MultiplyAdd(s, u, c4);
            s = Vector256.Create(p[5 * d]); a5 = Fma.MultiplyAdd(s, v, a5); c5 = Fma.MultiplyAdd(s, u, c5);
        }
        TransposeStore6(a0, a1, a2, a3, a4, a5, y, ov, nPos, Math.Min(nCh, 8), relu);
        if (nCh > 8) TransposeStore6(c0, c1, c2, c3, c4, c5, y + 8 * ov, ov, nPos, nCh - 8, relu);
    }

    /// <summary>Six position sums of 8 channels each, transposed (as an 8 × 8 whose last two rows are zero) and stored as
    /// the first <paramref name="nCh"/> channels' rows of <paramref name="nPos"/> (at most 6) positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeStore6(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3, Vector256<float> r4,
        Vector256<float> r5, float* y, long ov, int nPos, int nCh, bool relu)
    {
        if (relu)
        {
            r0 = Avx.Max(r0, Vector256<float>.Zero); r1 = Avx.Max(r1, Vector256<float>.Zero); r2 = Avx.Max(r2, Vector256<float>.Zero);
            r3 = Avx.Max(r3, Vector256<float>.Zero); r4 = Avx.Max(r4, Vector256<float>.Zero); r5 = Avx.Max(r5, Vector256<float>.Zero);
        }
        // interleave floats, then pairs, within 128-bit lanes; then the lanes: channel k's positions 0-3 in the low
        // lane of one vector, 4-5 in the low lane of another
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        // u0..u3: positions 0-3 of channels (0, 4), (1, 5), (2, 6), (3, 7) in (low, high) lanes; v0..v3 positions 4-5
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var v0 = Avx.Shuffle(t4, Vector256<float>.Zero, 0x44); var v1 = Avx.Shuffle(t4, Vector256<float>.Zero, 0xEE);
        var v2 = Avx.Shuffle(t5, Vector256<float>.Zero, 0x44); var v3 = Avx.Shuffle(t5, Vector256<float>.Zero, 0xEE);
        Store6(y, 0, u0.GetLower(), v0.GetLower(), 0 < nCh, nPos); Store6(y, ov, u1.GetLower(), v1.GetLower(), 1 < nCh, nPos);
        Store6(y, 2 * ov, u2.GetLower(), v2.GetLower(), 2 < nCh, nPos); Store6(y, 3 * ov, u3.GetLower(), v3.GetLower(), 3 < nCh, nPos);
        Store6(y, 4 * ov, u0.GetUpper(), v0.GetUpper(), 4 < nCh, nPos); Store6(y, 5 * ov, u1.GetUpper(), v1.GetUpper(), 5 < nCh, nPos);
        Store6(y, 6 * ov, u2.GetUpper(), v2.GetUpper(), 6 < nCh, nPos); Store6(y, 7 * ov, u3.GetUpper(), v3.GetUpper(), 7 < nCh, nPos);
    }

    /// <summary>One channel's positions: 0-3 in <paramref name="lo"/>, 4-5 in the low half of <paramref name="hi"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store6(float* y, long at, Vector128<float> lo, Vector128<float> hi, bool store, int nPos)
    {
        if (!store) return;
        float* p = y + at;
        if (nPos >= 6)
        {
            Sse.Store(p, lo);
            Sse.StoreLow(p + 4, hi);
            return;
        }
        for (int i = 0; i < nPos; i++) p[i] = i < 4 ? lo.GetElement(i) : hi.GetElement(i - 4);
    }

    /// <summary>The end of a tile: its 16 position sums (channels in the lanes) transposed in registers and stored as
    /// the first <paramref name="nCh"/> channels' rows, <paramref name="nPos"/> positions each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeStore(ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3,
        ref Vector512<float> a4, ref Vector512<float> a5, ref Vector512<float> a6, ref Vector512<float> a7, ref Vector512<float> a8,
        ref Vector512<float> a9, ref Vector512<float> a10, ref Vector512<float> a11, ref Vector512<float> a12, ref Vector512<float> a13,
        ref Vector512<float> a14, ref Vector512<float> a15, float* y, long ov, int nPos, int nCh, bool relu)
    {
        // rows (positions) × lanes (channels) → rows (channels) × lanes (positions): interleave floats, then pairs,
        // within 128-bit blocks, then transpose the 4 × 4 blocks of 128 bits
        Interleave(ref a0, ref a1); Interleave(ref a2, ref a3); Interleave(ref a4, ref a5); Interleave(ref a6, ref a7);
        Interleave(ref a8, ref a9); Interleave(ref a10, ref a11); Interleave(ref a12, ref a13); Interleave(ref a14, ref a15);
        Pairs(ref a0, ref a2); Pairs(ref a1, ref a3); Pairs(ref a4, ref a6); Pairs(ref a5, ref a7);
        Pairs(ref a8, ref a10); Pairs(ref a9, ref a11); Pairs(ref a12, ref a14); Pairs(ref a13, ref a15);
        // block L of a[4g], a[4g + 2], a[4g + 1], a[4g + 3] now holds positions 4g..4g+3 of channel 4L + 0, 1, 2, 3;
        // the block transposes gather each channel's four blocks (channel c then in a0, a2, a1, a3, a4, a6, ... as
        // stored below)
        Blocks(ref a0, ref a4, ref a8, ref a12); Blocks(ref a2, ref a6, ref a10, ref a14);
        Blocks(ref a1, ref a5, ref a9, ref a13); Blocks(ref a3, ref a7, ref a11, ref a15);
        var mask = nPos >= 16 ? Vector512<float>.AllBitsSet : Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            Vector512.Create(nPos)).AsSingle();
        Store(y, 0 * ov, a0, nCh > 0, mask, relu); Store(y, 1 * ov, a2, nCh > 1, mask, relu);
        Store(y, 2 * ov, a1, nCh > 2, mask, relu); Store(y, 3 * ov, a3, nCh > 3, mask, relu);
        Store(y, 4 * ov, a4, nCh > 4, mask, relu); Store(y, 5 * ov, a6, nCh > 5, mask, relu);
        Store(y, 6 * ov, a5, nCh > 6, mask, relu); Store(y, 7 * ov, a7, nCh > 7, mask, relu);
        Store(y, 8 * ov, a8, nCh > 8, mask, relu); Store(y, 9 * ov, a10, nCh > 9, mask, relu);
        Store(y, 10 * ov, a9, nCh > 10, mask, relu); Store(y, 11 * ov, a11, nCh > 11, mask, relu);
        Store(y, 12 * ov, a12, nCh > 12, mask, relu); Store(y, 13 * ov, a14, nCh > 13, mask, relu);
        Store(y, 14 * ov, a13, nCh > 14, mask, relu); Store(y, 15 * ov, a15, nCh > 15, mask, relu);
    }

    /// <summary>(r, s) → (floats 0, 1 of each 128-bit block of r and s interleaved, floats 2, 3 interleaved).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(ref Vector512<float> r, ref Vector512<float> s)
    {
        var lo = Avx512F.UnpackLow(r, s);
        s = Avx512F.UnpackHigh(r, s);
        r = lo;
    }

    /// <summary>(r, s) → (the low pairs of each block of r and s, the high pairs), as 64-bit units.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pairs(ref Vector512<float> r, ref Vector512<float> s)
    {
        var lo = Avx512F.UnpackLow(r.AsDouble(), s.AsDouble()).AsSingle();
        s = Avx512F.UnpackHigh(r.AsDouble(), s.AsDouble()).AsSingle();
        r = lo;
    }

    /// <summary>The 4 × 4 transpose of 128-bit blocks: block L of (p, q, r, s) becomes the L-th vector's blocks
    /// 0-3, in that order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Blocks(ref Vector512<float> p, ref Vector512<float> q, ref Vector512<float> r, ref Vector512<float> s)
    {
        var v0 = Avx512F.Shuffle4x128(p, q, 0x44);
        var v1 = Avx512F.Shuffle4x128(p, q, 0xEE);
        var v2 = Avx512F.Shuffle4x128(r, s, 0x44);
        var v3 = Avx512F.Shuffle4x128(r, s, 0xEE);
        p = Avx512F.Shuffle4x128(v0, v2, 0x88);
        q = Avx512F.Shuffle4x128(v0, v2, 0xDD);
        r = Avx512F.Shuffle4x128(v1, v3, 0x88);
        s = Avx512F.Shuffle4x128(v1, v3, 0xDD);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, long at, Vector512<float> v, bool store, Vector512<float> mask, bool relu)
    {
        if (!store) return;
        if (relu) v = Avx512F.Max(v, Vector512<float>.Zero);
        Avx512F.MaskStore(y + at, mask, v);
    }
}
