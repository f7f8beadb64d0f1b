using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// Direct convolution with the output channels in the lanes, for a network's first layer (oneDNN's layout there):
/// a tile is 16 output positions along a row × 16 output channels, one zmm sum per position. Per tap, one vector of
/// the 16 channels' weights and 16 broadcasts of the input at the positions (stride 1 or 2 along the row, so no
/// column matrix and no phase planes), 16 FMAs; then the tile is transposed in registers, so that each channel's 16
/// positions store as one vector of its output row.
/// </summary>
internal static unsafe class LaneChannelKernels
{
    /// <summary>Output positions and output channels per tile.</summary>
    public const int Positions = 16, Channels = 16;

    /// <summary>The distance, in floats, between the inputs of neighbouring output positions (a constant per
    /// instantiation, so the 16 broadcasts address with fixed displacements).</summary>
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
    /// w[t·<paramref name="wTap"/> + c] · x[<paramref name="off"/>[t] + p·S] for channels c &lt; <paramref name="nCh"/> and
    /// positions p &lt; <paramref name="nPos"/> (S the stride), after max(·, 0) when asked. <paramref name="bias"/> holds
    /// 16 floats; positions past <paramref name="nPos"/> are computed (their inputs must be readable) and not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile16x16Avx512<TStride>(float* x, int* off, int taps, float* w, nint wTap, float* bias, float* y, long ov, int nPos, int nCh,
        bool relu) where TStride : struct, IColumnStride
    {
        nint d = TStride.Value;
        var b = Avx512F.LoadVector512(bias);
        Vector512<float> a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
        Vector512<float> a8 = b, a9 = b, a10 = b, a11 = b, a12 = b, a13 = b, a14 = b, a15 = b;
        for (int t = 0; t < taps; t++)
        {
            float* p = x + off[t];
            var v = Avx512F.LoadVector512(w + t * wTap);
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[0]), v, a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[d]), v, a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[2 * d]), v, a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[3 * d]), v, a3);
            a4 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[4 * d]), v, a4);
            a5 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[5 * d]), v, a5);
            a6 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[6 * d]), v, a6);
            a7 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[7 * d]), v, a7);
            a8 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[8 * d]), v, a8);
            a9 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[9 * d]), v, a9);
            a10 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[10 * d]), v, a10);
            a11 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[11 * d]), v, a11);
            a12 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[12 * d]), v, a12);
            a13 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[13 * d]), v, a13);
            a14 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[14 * d]), v, a14);
            a15 = Avx512F.FusedMultiplyAdd(Vector512.Create(p[15 * d]), v, a15);
        }
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
        var mask = nPos >= Positions ? Vector512<float>.AllBitsSet : Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
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
