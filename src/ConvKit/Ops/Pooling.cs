using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>
/// Max, average, adaptive and global pooling, max-unpooling, and their gradients, for 1, 2 and 3 spatial axes.
/// All ranks run one loop nest over (D, H, W) with unit leading axes (see <see cref="PoolDescriptor"/>); the
/// windows of each axis are precomputed as (first valid position, number of valid taps, divisor factor) so the
/// inner loops never test bounds. Work is split over the (N, C) planes in two chunks. Indices are flat within a
/// plane like PyTorch's (h·W + w for 2-d). The float 2×2 stride-2 max pooling of CNNs has its own kernel;
/// <see cref="MaxPoolReference{T}"/> and <see cref="AvgPoolReference{T}"/> are the plain-loop twins.
/// </summary>
internal static class Pooling
{
    /// <summary>The windows along one axis: for output o, taps at Lo[o] + t·Step for t &lt; Cnt[o]; Div[o] is the
    /// axis' factor of the averaging divisor.</summary>
    internal sealed class Axis
    {
        public required int[] Lo, Cnt, Div;
        public required int Step;
    }

    internal static Axis Sliding(int inSize, int outSize, int k, int s, int p, int d, bool countIncludePad)
    {
        var lo = new int[outSize]; var cnt = new int[outSize]; var div = new int[outSize];
        for (int o = 0; o < outSize; o++)
        {
            long start = (long)o * s - p;
            long tlo = start < 0 ? (-start + d - 1) / d : 0;
            long thi = inSize - 1 - start < 0 ? -1 : Math.Min(k - 1, (inSize - 1 - start) / d);
            cnt[o] = (int)Math.Max(0, thi - tlo + 1);
            lo[o] = (int)(start + tlo * d);
            // PyTorch's average divisor counts the padded window clipped to the padded input (ceil-mode overhang excluded)
            div[o] = countIncludePad ? (int)(Math.Min(start + k, inSize + p) - start) : cnt[o];
        }
        return new Axis { Lo = lo, Cnt = cnt, Div = div, Step = d };
    }

    /// <summary>Adaptive bins: start = floor(o·In/Out), end = ceil((o+1)·In/Out).</summary>
    internal static Axis Adaptive(int inSize, int outSize)
    {
        var lo = new int[outSize]; var cnt = new int[outSize];
        for (int o = 0; o < outSize; o++)
        {
            long a = (long)o * inSize / outSize;
            long b = ((long)(o + 1) * inSize + outSize - 1) / outSize;
            lo[o] = (int)a; cnt[o] = (int)(b - a);
        }
        return new Axis { Lo = lo, Cnt = cnt, Div = (int[])cnt.Clone(), Step = 1 };
    }

    /// <summary>Runs body over plane ranges, one per thread when there is enough work for a second core.</summary>
    internal static void ForPlanes(int planes, long workPerPlane, Action<int, int> body)
        => Kernels.VecOps.ParallelRanges(planes, workPerPlane, body);

    /// <summary>The geometry shared by all window-based kernels.</summary>
    internal sealed class Geometry
    {
        public required int Planes;
        public required int[] In3, Out3;
        public required Axis[] Ax; // D, H, W
        public int InPlane => In3[0] * In3[1] * In3[2];
        public int OutPlane => Out3[0] * Out3[1] * Out3[2];
        public long Taps => (long)Ax[0].Cnt.Max() * Ax[1].Cnt.Max() * Ax[2].Cnt.Max();
    }

    internal static Geometry SlidingGeometry(PoolDescriptor d, bool countIncludePad) => new()
    {
        Planes = d.Planes, In3 = d.In3, Out3 = d.Out3,
        Ax = [.. Enumerable.Range(0, 3).Select(a => Sliding(d.In3[a], d.Out3[a], d.K3[a], d.S3[a], d.P3[a], d.D3[a], countIncludePad))],
    };

    internal static Geometry AdaptiveGeometry(int planes, int[] in3, int[] out3) => new()
    {
        Planes = planes, In3 = in3, Out3 = out3,
        Ax = [.. Enumerable.Range(0, 3).Select(a => Adaptive(in3[a], out3[a]))],
    };

    // ------------------------------------------------------------------ max (sliding and adaptive)

    /// <summary>Max over every window; records flat in-plane indices when <paramref name="indices"/> is given.</summary>
    internal static Tensor<T> Max<T>(Geometry g, Tensor<T> x, int[] outShape, int[]? indices) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Activations.Uninit<T>(outShape);
        var xd = x.Data; int xo = x.Offset; var yd = y.Data;
        ForPlanes(g.Planes, g.OutPlane * g.Taps, (p0, p1) => MaxPlanes(g, xd, xo, yd, indices, p0, p1));
        return y;
    }

    private static void MaxPlanes<T>(Geometry g, T[] xd, int xo, T[] yd, int[]? idx, int p0, int p1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int IH = g.In3[1], IW = g.In3[2], inPlane = g.InPlane, outPlane = g.OutPlane;
        Axis ad = g.Ax[0], ah = g.Ax[1], aw = g.Ax[2];
        int sd = ad.Step, sh = ah.Step, sw = aw.Step;
        for (int p = p0; p < p1; p++)
        {
            var xp = xd.AsSpan(xo + p * inPlane, inPlane);
            int o = p * outPlane;
            for (int od = 0; od < g.Out3[0]; od++)
                for (int oh = 0; oh < g.Out3[1]; oh++)
                    for (int ow = 0; ow < g.Out3[2]; ow++, o++)
                    {
                        // pass 1: the NaN-propagating maximum without data-dependent branches;
                        // pass 2: PyTorch's argmax (strictly greater wins, so the first element equal to the
                        // maximum, or the last NaN), a scan whose only unpredictable branch is its exit
                        T best = T.NegativeInfinity;
                        int cd = ad.Cnt[od], ch = ah.Cnt[oh], cw = aw.Cnt[ow], ld = ad.Lo[od], lh = ah.Lo[oh], lw = aw.Lo[ow];
                        for (int a = 0, id = ld; a < cd; a++, id += sd)
                            for (int b = 0, ih = lh; b < ch; b++, ih += sh)
                            {
                                int row = (id * IH + ih) * IW;
                                for (int c = 0, iw = lw; c < cw; c++, iw += sw) best = T.Max(best, xp[row + iw]);
                            }
                        int bi = -1;
                        if (T.IsNaN(best))
                        {
                            for (int a = 0, id = ld; a < cd; a++, id += sd)
                                for (int b = 0, ih = lh; b < ch; b++, ih += sh)
                                {
                                    int row = (id * IH + ih) * IW;
                                    for (int c = 0, iw = lw; c < cw; c++, iw += sw)
                                        if (T.IsNaN(xp[row + iw])) bi = row + iw;
                                }
                        }
                        else
                        {
                            for (int a = 0, id = ld; a < cd && bi < 0; a++, id += sd)
                                for (int b = 0, ih = lh; b < ch && bi < 0; b++, ih += sh)
                                {
                                    int row = (id * IH + ih) * IW;
                                    for (int c = 0, iw = lw; c < cw; c++, iw += sw)
                                        if (xp[row + iw] == best) { bi = row + iw; break; }
                                }
                        }
                        if (bi >= 0) best = xp[bi]; // the element itself (keeps the sign of a zero as PyTorch does)
                        yd[o] = best;
                        if (idx is not null) idx[o] = bi;
                    }
        }
    }

    /// <summary>True when the float 2×2 / stride-2 kernel applies (no padding, dilation 1, no partial windows).</summary>
    internal static bool Is2x2(PoolDescriptor d) =>
        d.K3[0] == 1 && d.S3[0] == 1 && d.P3[0] == 0 && d.K3[1] == 2 && d.K3[2] == 2 && d.S3[1] == 2 && d.S3[2] == 2
        && d.P3[1] == 0 && d.P3[2] == 0 && d.D3[1] == 1 && d.D3[2] == 1 && 2 * d.Out3[1] <= d.In3[1] && 2 * d.Out3[2] <= d.In3[2];

    /// <summary>2×2 stride-2 max pooling on float planes with indices (the CNN workhorse).</summary>
    internal static Tensor<float> MaxPool2x2(PoolDescriptor d, Tensor<float> x, int[]? indices)
    {
        var y = Activations.Uninit<float>(d.OutputShape);
        var xd = x.Data; int xo = x.Offset; var yd = y.Data;
        int IH = d.In3[1], IW = d.In3[2], OH = d.Out3[1], OW = d.Out3[2], planes = d.Planes * d.In3[0];
        ForPlanes(planes, 4L * OH * OW, (p0, p1) => MaxPool2x2Planes(xd, xo, yd, indices, p0, p1, IH, IW, OH, OW));
        if (indices is not null && d.In3[0] > 1) // 3-d with unit depth kernel: indices count whole D·H·W planes
            for (int p = 0; p < d.Planes; p++)
                for (int dd = 0; dd < d.In3[0]; dd++)
                {
                    int o = (p * d.In3[0] + dd) * OH * OW;
                    for (int i = 0; i < OH * OW; i++) indices[o + i] += dd * IH * IW;
                }
        return y;
    }

    private static void MaxPool2x2Planes(float[] xd, int xo, float[] yd, int[]? indices, int p0, int p1, int IH, int IW, int OH, int OW)
    {
        ref float xr = ref MemoryMarshal.GetArrayDataReference(xd);
        ref float yr = ref MemoryMarshal.GetArrayDataReference(yd);
        for (int p = p0; p < p1; p++)
            for (int oh = 0; oh < OH; oh++)
            {
                int r0 = 2 * oh * IW, xb = xo + p * IH * IW, o = (p * OH + oh) * OW;
                ref float a0 = ref Unsafe.Add(ref xr, xb + r0);
                ref float a1 = ref Unsafe.Add(ref a0, IW);
                int ow = 0;
                if (Avx2.IsSupported && OW >= 8)
                {
                    for (; ow <= OW - 8; ow += 8)
                        MaxPool2x2Avx2(ref Unsafe.Add(ref a0, 2 * ow), ref Unsafe.Add(ref a1, 2 * ow), ref Unsafe.Add(ref yr, o + ow), indices, o + ow, r0 + 2 * ow, IW);
                    if (ow < OW) // the remainder as one block overlapping the previous one (same values rewritten)
                    {
                        ow = OW - 8;
                        MaxPool2x2Avx2(ref Unsafe.Add(ref a0, 2 * ow), ref Unsafe.Add(ref a1, 2 * ow), ref Unsafe.Add(ref yr, o + ow), indices, o + ow, r0 + 2 * ow, IW);
                        ow = OW;
                    }
                }
                else if (Avx2.IsSupported && OW >= 4)
                {
                    MaxPool2x2Sse(ref a0, ref a1, ref Unsafe.Add(ref yr, o), indices, o, r0, IW);
                    ow = OW - 4;
                    MaxPool2x2Sse(ref Unsafe.Add(ref a0, 2 * ow), ref Unsafe.Add(ref a1, 2 * ow), ref Unsafe.Add(ref yr, o + ow), indices, o + ow, r0 + 2 * ow, IW);
                    ow = OW;
                }
                for (; ow < OW; ow++)
                {
                    int c = 2 * ow;
                    float best = Unsafe.Add(ref a0, c); int bi = r0 + c;
                    float v = Unsafe.Add(ref a0, c + 1);
                    if (v > best || float.IsNaN(v)) { best = v; bi = r0 + c + 1; }
                    v = Unsafe.Add(ref a1, c);
                    if (v > best || float.IsNaN(v)) { best = v; bi = r0 + IW + c; }
                    v = Unsafe.Add(ref a1, c + 1);
                    if (v > best || float.IsNaN(v)) { best = v; bi = r0 + IW + c + 1; }
                    Unsafe.Add(ref yr, o + ow) = best;
                    if (indices is not null) indices[o + ow] = bi;
                }
            }
    }

    /// <summary>Four 2×2 windows at once (rows of 8 to 15 inputs), same order rules as <see cref="MaxPool2x2Avx2"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaxPool2x2Sse(ref float row0, ref float row1, ref float dst, int[]? indices, int o, int baseIndex, int rowStride)
    {
        var (b0, c0) = PairMax(Vector128.LoadUnsafe(ref row0), Vector128.LoadUnsafe(ref row0, 4));
        var (b1, c1) = PairMax(Vector128.LoadUnsafe(ref row1), Vector128.LoadUnsafe(ref row1, 4));
        var m = Vector128.GreaterThan(b1, b0) | ~Vector128.Equals(b1, b1);
        Vector128.ConditionalSelect(m, b1, b0).StoreUnsafe(ref dst);
        if (indices is null) return;
        var off = Vector128.ConditionalSelect(m.AsInt32(), c1 + Vector128.Create(rowStride), c0);
        (off + Vector128.Create(baseIndex) + Vector128.Create(0, 2, 4, 6)).StoreUnsafe(ref indices[o]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<float> Max, Vector128<int> Odd) PairMax(Vector128<float> lo, Vector128<float> hi)
    {
        var ev = Sse.Shuffle(lo, hi, 0b10_00_10_00);
        var od = Sse.Shuffle(lo, hi, 0b11_01_11_01);
        var m = Vector128.GreaterThan(od, ev) | ~Vector128.Equals(od, od);
        return (Vector128.ConditionalSelect(m, od, ev), m.AsInt32() & Vector128<int>.One);
    }

    /// <summary>Eight 2×2 windows at once. Pairs within each row are reduced first, then the two rows, which
    /// keeps PyTorch's row-major scan order: the first of equal values wins, and the last NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaxPool2x2Avx2(ref float row0, ref float row1, ref float dst, int[]? indices, int o, int baseIndex, int rowStride)
    {
        var (b0, c0) = PairMax(Vector256.LoadUnsafe(ref row0), Vector256.LoadUnsafe(ref row0, 8));
        var (b1, c1) = PairMax(Vector256.LoadUnsafe(ref row1), Vector256.LoadUnsafe(ref row1, 8));
        var m = Vector256.GreaterThan(b1, b0) | ~Vector256.Equals(b1, b1);
        Vector256.ConditionalSelect(m, b1, b0).StoreUnsafe(ref dst);
        if (indices is null) return;
        var off = Vector256.ConditionalSelect(m.AsInt32(), c1 + Vector256.Create(rowStride), c0);
        (off + Vector256.Create(baseIndex) + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14)).StoreUnsafe(ref indices[o]);
    }

    /// <summary>Max of adjacent pairs of 16 floats (lo, hi) in order, and 1 where the odd element won.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Max, Vector256<int> Odd) PairMax(Vector256<float> lo, Vector256<float> hi)
    {
        // shuffle gives [e0 e1 e4 e5 | e2 e3 e6 e7] in 64-bit pairs; the permute restores the order
        var ev = Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
        var od = Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();
        var m = Vector256.GreaterThan(od, ev) | ~Vector256.Equals(od, od);
        return (Vector256.ConditionalSelect(m, od, ev), m.AsInt32() & Vector256<int>.One);
    }

    /// <summary>Max pooling forward (fast path for float where it applies).</summary>
    internal static Tensor<T> MaxPool<T>(PoolDescriptor d, Tensor<T> x, int[]? indices) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(x, d.InputShape, "input");
        if (typeof(T) == typeof(float) && Is2x2(d))
            return (Tensor<T>)(object)MaxPool2x2(d, (Tensor<float>)(object)x, indices);
        return Max(SlidingGeometry(d, false), x, d.OutputShape, indices);
    }

    /// <summary>Plain-loop twin of max pooling straight from the definition (window positions with dilation,
    /// skipping the implicit −∞ padding).</summary>
    internal static (Tensor<T>, int[]) MaxPoolReference<T>(PoolDescriptor d, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = new Tensor<T>(d.OutputShape);
        var idx = new int[y.Length];
        var xs = x.AsSpan(); var ys = y.AsSpan();
        int o = 0;
        for (int p = 0; p < d.Planes; p++)
            for (int od = 0; od < d.Out3[0]; od++)
                for (int oh = 0; oh < d.Out3[1]; oh++)
                    for (int ow = 0; ow < d.Out3[2]; ow++, o++)
                    {
                        T best = T.NegativeInfinity; int bi = -1;
                        for (int kd = 0; kd < d.K3[0]; kd++)
                            for (int kh = 0; kh < d.K3[1]; kh++)
                                for (int kw = 0; kw < d.K3[2]; kw++)
                                {
                                    int id = od * d.S3[0] - d.P3[0] + kd * d.D3[0];
                                    int ih = oh * d.S3[1] - d.P3[1] + kh * d.D3[1];
                                    int iw = ow * d.S3[2] - d.P3[2] + kw * d.D3[2];
                                    if (id < 0 || id >= d.In3[0] || ih < 0 || ih >= d.In3[1] || iw < 0 || iw >= d.In3[2]) continue;
                                    int f = (id * d.In3[1] + ih) * d.In3[2] + iw;
                                    T v = xs[p * d.InPlane + f];
                                    if (bi < 0 || v > best || T.IsNaN(v)) { best = v; bi = f; }
                                }
                        ys[o] = best; idx[o] = bi;
                    }
        return (y, idx);
    }

    /// <summary>Gradient of any max pooling: scatters gradOutput into the input positions its indices name.</summary>
    internal static Tensor<T> MaxBackward<T>(Tensor<T> gradOutput, int[] inputShape, int[] indices, int[] expectedOutShape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(indices);
        CheckShape(gradOutput, expectedOutShape, "gradOutput");
        if (indices.Length != gradOutput.Length)
            throw new ArgumentException($"indices: {indices.Length} indices for a gradient of shape {ShapeMath.Format(gradOutput.Shape)}.", nameof(indices));
        if (typeof(T) == typeof(float) && TryMaxBackward2x2((Tensor<float>)(object)gradOutput, inputShape, indices) is { } fast)
            return (Tensor<T>)(object)fast;
        var gx = new Tensor<T>(inputShape);
        int planes = inputShape[0] * inputShape[1];
        if (planes == 0) return gx;
        int inPlane = gx.Length / planes, outPlane = gradOutput.Length / planes;
        foreach (int i in indices)
            if (i < -1 || i >= inPlane)
                throw new ArgumentException($"indices: index {i} is outside the input plane of {inPlane} elements (input {ShapeMath.Format(inputShape)}).", nameof(indices));
        var gd = gradOutput.Data; int go = gradOutput.Offset; var xd = gx.Data;
        ForPlanes(planes, outPlane, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                int ib = p * inPlane, ob = p * outPlane;
                for (int o = 0; o < outPlane; o++)
                {
                    int i = indices[ob + o];
                    if (i >= 0) xd[ib + i] += gd[go + ob + o];
                }
            }
        });
        return gx;
    }

    /// <summary>The gradient of a 2-d max pooling whose output is half the input (2×2 windows tiling the input)
    /// when every index lies in its own 2×2 window: each window's four gradients are written at once, so the
    /// input gradient needs no separate zeroing pass. Null when the layout does not fit (the general path runs).</summary>
    private static Tensor<float>? TryMaxBackward2x2(Tensor<float> g, int[] inputShape, int[] indices)
    {
        if (inputShape.Length != 4 || g.Rank != 4) return null;
        int IH = inputShape[2], IW = inputShape[3], OH = g.Size(2), OW = g.Size(3);
        int planes = inputShape[0] * inputShape[1];
        if (OH != IH / 2 || OW != IW / 2 || OH == 0 || OW == 0 || planes == 0 || indices.Length != g.Length) return null;
        var gx = Activations.Uninit<float>(inputShape);
        var gd = g.Data; int go = g.Offset; var xd = gx.Data;
        int bad = 0;
        ForPlanes(planes, 4L * OH * OW, (p0, p1) =>
        {
            if (!MaxBackward2x2Planes(gd, go, xd, indices, p0, p1, IH, IW, OH, OW)) Volatile.Write(ref bad, 1);
        });
        return bad == 0 ? gx : null;
    }

    private static bool MaxBackward2x2Planes(float[] gd, int go, float[] xd, int[] indices, int p0, int p1, int IH, int IW, int OH, int OW)
    {
        for (int p = p0; p < p1; p++)
        {
            var dst = xd.AsSpan(p * IH * IW, IH * IW);
            for (int oh = 0; oh < OH; oh++)
            {
                int o = (p * OH + oh) * OW, r0 = 2 * oh * IW;
                var row0 = dst.Slice(r0, IW);
                var row1 = dst.Slice(r0 + IW, IW);
                int ow = 0;
                if (Avx2.IsSupported && OW >= 8)
                {
                    for (; ow <= OW - 8; ow += 8)
                        if (!MaxBackward2x2Avx2(ref indices[o + ow], ref gd[go + o + ow], ref row0[2 * ow], ref row1[2 * ow], r0 + 2 * ow, IW)) return false;
                    if (ow < OW)
                    {
                        ow = OW - 8;
                        if (!MaxBackward2x2Avx2(ref indices[o + ow], ref gd[go + o + ow], ref row0[2 * ow], ref row1[2 * ow], r0 + 2 * ow, IW)) return false;
                        ow = OW;
                    }
                }
                else if (Avx2.IsSupported && OW >= 4)
                {
                    if (!MaxBackward2x2Sse(ref indices[o], ref gd[go + o], ref row0[0], ref row1[0], r0, IW)) return false;
                    ow = OW - 4;
                    if (!MaxBackward2x2Sse(ref indices[o + ow], ref gd[go + o + ow], ref row0[2 * ow], ref row1[2 * ow], r0 + 2 * ow, IW)) return false;
                    ow = OW;
                }
                for (; ow < OW; ow++)
                {
                    int rel = indices[o + ow] - (r0 + 2 * ow);
                    float v = gd[go + o + ow];
                    if (rel != 0 && rel != 1 && rel != IW && rel != IW + 1) return false;
                    row0[2 * ow] = rel == 0 ? v : 0f;
                    row0[2 * ow + 1] = rel == 1 ? v : 0f;
                    row1[2 * ow] = rel == IW ? v : 0f;
                    row1[2 * ow + 1] = rel == IW + 1 ? v : 0f;
                }
                if ((IW & 1) != 0) { row0[IW - 1] = 0; row1[IW - 1] = 0; }
            }
            if ((IH & 1) != 0) dst.Slice((IH - 1) * IW, IW).Clear();
        }
        return true;
    }

    /// <summary>Gradients of eight 2×2 windows: each window's value goes to the position its index names, zeros
    /// elsewhere; false when an index is outside its window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool MaxBackward2x2Avx2(ref int idx, ref float g, ref float row0, ref float row1, int baseIndex, int rowStride)
    {
        var rel = Vector256.LoadUnsafe(ref idx) - (Vector256.Create(baseIndex) + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14));
        var v = Vector256.LoadUnsafe(ref g);
        var m0 = Vector256.Equals(rel, Vector256<int>.Zero);
        var m1 = Vector256.Equals(rel, Vector256<int>.One);
        var m2 = Vector256.Equals(rel, Vector256.Create(rowStride));
        var m3 = Vector256.Equals(rel, Vector256.Create(rowStride + 1));
        if (!Vector256.EqualsAll(m0 | m1 | m2 | m3, Vector256<int>.AllBitsSet)) return false;
        Interleave(v & m0.AsSingle(), v & m1.AsSingle(), ref row0);
        Interleave(v & m2.AsSingle(), v & m3.AsSingle(), ref row1);
        return true;
    }

    /// <summary>Four-window version of <see cref="MaxBackward2x2Avx2"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool MaxBackward2x2Sse(ref int idx, ref float g, ref float row0, ref float row1, int baseIndex, int rowStride)
    {
        var rel = Vector128.LoadUnsafe(ref idx) - (Vector128.Create(baseIndex) + Vector128.Create(0, 2, 4, 6));
        var v = Vector128.LoadUnsafe(ref g);
        var m0 = Vector128.Equals(rel, Vector128<int>.Zero);
        var m1 = Vector128.Equals(rel, Vector128<int>.One);
        var m2 = Vector128.Equals(rel, Vector128.Create(rowStride));
        var m3 = Vector128.Equals(rel, Vector128.Create(rowStride + 1));
        if (!Vector128.EqualsAll(m0 | m1 | m2 | m3, Vector128<int>.AllBitsSet)) return false;
        var e = v & m0.AsSingle(); var o = v & m1.AsSingle();
        Sse.UnpackLow(e, o).StoreUnsafe(ref row0);
        Sse.UnpackHigh(e, o).StoreUnsafe(ref row0, 4);
        e = v & m2.AsSingle(); o = v & m3.AsSingle();
        Sse.UnpackLow(e, o).StoreUnsafe(ref row1);
        Sse.UnpackHigh(e, o).StoreUnsafe(ref row1, 4);
        return true;
    }

    /// <summary>Stores [e0 o0 e1 o1 … e7 o7] (16 floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(Vector256<float> e, Vector256<float> o, ref float dst)
    {
        var lo = Avx.UnpackLow(e, o);   // e0 o0 e1 o1 | e4 o4 e5 o5
        var hi = Avx.UnpackHigh(e, o);  // e2 o2 e3 o3 | e6 o6 e7 o7
        Avx.Permute2x128(lo, hi, 0x20).StoreUnsafe(ref dst);
        Avx.Permute2x128(lo, hi, 0x31).StoreUnsafe(ref dst, 8);
    }

    // ------------------------------------------------------------------ average (sliding and adaptive)

    /// <summary>Mean over every window with the divisor PyTorch uses (or <paramref name="divisorOverride"/>).</summary>
    internal static Tensor<T> Avg<T>(Geometry g, Tensor<T> x, int[] outShape, int divisorOverride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Activations.Uninit<T>(outShape);
        var xd = x.Data; int xo = x.Offset; var yd = y.Data;
        ForPlanes(g.Planes, g.OutPlane * g.Taps, (p0, p1) =>
        {
            int IH = g.In3[1], IW = g.In3[2], inPlane = g.InPlane, outPlane = g.OutPlane;
            Axis ad = g.Ax[0], ah = g.Ax[1], aw = g.Ax[2];
            for (int p = p0; p < p1; p++)
            {
                var xp = xd.AsSpan(xo + p * inPlane, inPlane);
                int o = p * outPlane;
                for (int od = 0; od < g.Out3[0]; od++)
                    for (int oh = 0; oh < g.Out3[1]; oh++)
                        for (int ow = 0; ow < g.Out3[2]; ow++, o++)
                        {
                            T sum = T.Zero;
                            for (int a = 0, id = ad.Lo[od]; a < ad.Cnt[od]; a++, id++)
                                for (int b = 0, ih = ah.Lo[oh]; b < ah.Cnt[oh]; b++, ih++)
                                {
                                    var row = xp.Slice((id * IH + ih) * IW + aw.Lo[ow], aw.Cnt[ow]);
                                    for (int c = 0; c < row.Length; c++) sum += row[c];
                                }
                            int div = divisorOverride != 0 ? divisorOverride : ad.Div[od] * ah.Div[oh] * aw.Div[ow];
                            yd[o] = sum / T.CreateTruncating(div);
                        }
            }
        });
        return y;
    }

    /// <summary>Gradient of <see cref="Avg{T}"/>: every window position receives gradOutput / divisor.</summary>
    internal static Tensor<T> AvgBackward<T>(Geometry g, Tensor<T> gradOutput, int[] inputShape, int divisorOverride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gx = new Tensor<T>(inputShape);
        var gd = gradOutput.Data; int go = gradOutput.Offset; var xd = gx.Data;
        ForPlanes(g.Planes, g.OutPlane * g.Taps, (p0, p1) =>
        {
            int IH = g.In3[1], IW = g.In3[2], inPlane = g.InPlane, outPlane = g.OutPlane;
            Axis ad = g.Ax[0], ah = g.Ax[1], aw = g.Ax[2];
            for (int p = p0; p < p1; p++)
            {
                var xp = xd.AsSpan(p * inPlane, inPlane);
                int o = p * outPlane;
                for (int od = 0; od < g.Out3[0]; od++)
                    for (int oh = 0; oh < g.Out3[1]; oh++)
                        for (int ow = 0; ow < g.Out3[2]; ow++, o++)
                        {
                            int div = divisorOverride != 0 ? divisorOverride : ad.Div[od] * ah.Div[oh] * aw.Div[ow];
                            T v = gd[go + o] / T.CreateTruncating(div);
                            for (int a = 0, id = ad.Lo[od]; a < ad.Cnt[od]; a++, id++)
                                for (int b = 0, ih = ah.Lo[oh]; b < ah.Cnt[oh]; b++, ih++)
                                {
                                    var row = xp.Slice((id * IH + ih) * IW + aw.Lo[ow], aw.Cnt[ow]);
                                    for (int c = 0; c < row.Length; c++) row[c] += v;
                                }
                        }
            }
        });
        return gx;
    }

    /// <summary>Plain-loop twin of average pooling, straight from PyTorch's definition of the divisor.</summary>
    internal static Tensor<T> AvgPoolReference<T>(PoolDescriptor d, Tensor<T> x, bool countIncludePad, int divisorOverride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = new Tensor<T>(d.OutputShape);
        var xs = x.AsSpan(); var ys = y.AsSpan();
        int o = 0;
        for (int p = 0; p < d.Planes; p++)
            for (int od = 0; od < d.Out3[0]; od++)
                for (int oh = 0; oh < d.Out3[1]; oh++)
                    for (int ow = 0; ow < d.Out3[2]; ow++, o++)
                    {
                        int[] s = [od * d.S3[0] - d.P3[0], oh * d.S3[1] - d.P3[1], ow * d.S3[2] - d.P3[2]];
                        int[] e = new int[3];
                        int poolSize = 1, count = 0;
                        for (int a = 0; a < 3; a++) { e[a] = Math.Min(s[a] + d.K3[a], d.In3[a] + d.P3[a]); poolSize *= e[a] - s[a]; }
                        double sum = 0;
                        for (int id = Math.Max(s[0], 0); id < Math.Min(e[0], d.In3[0]); id++)
                            for (int ih = Math.Max(s[1], 0); ih < Math.Min(e[1], d.In3[1]); ih++)
                                for (int iw = Math.Max(s[2], 0); iw < Math.Min(e[2], d.In3[2]); iw++)
                                {
                                    sum += double.CreateTruncating(xs[p * d.InPlane + (id * d.In3[1] + ih) * d.In3[2] + iw]);
                                    count++;
                                }
                        int div = divisorOverride != 0 ? divisorOverride : countIncludePad ? poolSize : count;
                        ys[o] = T.CreateTruncating(sum / div);
                    }
        return y;
    }

    // ------------------------------------------------------------------ unpooling

    /// <summary>The output spatial sizes of max-unpooling: (in − 1)·stride − 2·padding + kernel, or
    /// <paramref name="outputSize"/> (its last rank values) when it lies strictly within one stride of that.</summary>
    internal static int[] UnpoolOutputShape(int rank, int[] inShape, Dims kernelSize, Dims stride, Dims padding, int[]? outputSize,
        out int[] k, out int[] s, out int[] p)
    {
        if (kernelSize.IsDefault) throw new ArgumentException("kernelSize: required.", nameof(kernelSize));
        k = kernelSize.Expand(rank, nameof(kernelSize), 1, 1);
        s = stride.IsDefault || stride.Values.Length == 0 ? (int[])k.Clone() : stride.Expand(rank, nameof(stride), 1, 1);
        p = padding.Expand(rank, nameof(padding), 0, 0);
        var shape = (int[])inShape.Clone();
        if (outputSize is not null && outputSize.Length != rank && outputSize.Length != rank + 2)
            throw new ArgumentException($"outputSize: expected {rank} or {rank + 2} values, got {ShapeMath.Format(outputSize)}.", nameof(outputSize));
        for (int i = 0; i < rank; i++)
        {
            long dflt = (long)(inShape[2 + i] - 1) * s[i] - 2L * p[i] + k[i];
            long o = dflt;
            if (outputSize is not null)
            {
                o = outputSize[outputSize.Length - rank + i];
                if (!(dflt - s[i] < o && o < dflt + s[i]))
                    throw new ArgumentException($"outputSize: {ShapeMath.Format(outputSize)} must lie strictly between {dflt - s[i]} and {dflt + s[i]} on spatial axis {i} " +
                        $"(input {ShapeMath.Format(inShape)}, kernel {ShapeMath.Format(k)}, stride {ShapeMath.Format(s)}, padding {ShapeMath.Format(p)}).", nameof(outputSize));
            }
            if (o < 1 || o > int.MaxValue)
                throw new ArgumentException($"kernelSize: unpooling input {ShapeMath.Format(inShape)} with kernel {ShapeMath.Format(k)}, stride {ShapeMath.Format(s)}, " +
                    $"padding {ShapeMath.Format(p)} gives output size {o} on spatial axis {i}.", nameof(kernelSize));
            shape[2 + i] = (int)o;
        }
        ShapeMath.Numel(shape, "output");
        return shape;
    }

    /// <summary>Max-unpooling: zeros of <paramref name="outShape"/> with every input value written at its index.</summary>
    internal static Tensor<T> Unpool<T>(Tensor<T> x, int[] indices, int[] outShape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Length != x.Length)
            throw new ArgumentException($"indices: {indices.Length} indices for an input of shape {ShapeMath.Format(x.Shape)}.", nameof(indices));
        var y = new Tensor<T>(outShape);
        int planes = outShape[0] * outShape[1];
        if (planes == 0) return y;
        int inPlane = x.Length / planes, outPlane = y.Length / planes;
        var xs = x.AsSpan(); var ys = y.AsSpan();
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < inPlane; i++)
            {
                int j = indices[p * inPlane + i];
                if ((uint)j >= (uint)outPlane)
                    throw new ArgumentException($"indices: index {j} is outside the output plane of {outPlane} elements (output {ShapeMath.Format(outShape)}).", nameof(indices));
                ys[p * outPlane + j] = xs[p * inPlane + i];
            }
        return y;
    }

    /// <summary>Gradient of <see cref="Unpool{T}"/>: gathers gradOutput at the indices.</summary>
    internal static Tensor<T> UnpoolBackward<T>(Tensor<T> gradOutput, int[] indices, int[] inputShape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(indices);
        var gx = new Tensor<T>(inputShape);
        if (indices.Length != gx.Length)
            throw new ArgumentException($"indices: {indices.Length} indices for an input of shape {ShapeMath.Format(inputShape)}.", nameof(indices));
        int planes = inputShape[0] * inputShape[1];
        if (planes == 0) return gx;
        if (gradOutput.Rank != inputShape.Length || gradOutput.Size(0) != inputShape[0] || gradOutput.Size(1) != inputShape[1])
            throw new ArgumentException($"gradOutput: shape {ShapeMath.Format(gradOutput.Shape)} does not match input {ShapeMath.Format(inputShape)} in batch and channels.", nameof(gradOutput));
        int inPlane = gx.Length / planes, outPlane = gradOutput.Length / planes;
        var gs = gradOutput.AsSpan(); var xs = gx.AsSpan();
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < inPlane; i++)
            {
                int j = indices[p * inPlane + i];
                if ((uint)j >= (uint)outPlane)
                    throw new ArgumentException($"indices: index {j} is outside the output plane of {outPlane} elements.", nameof(indices));
                xs[p * inPlane + i] = gs[p * outPlane + j];
            }
        return gx;
    }

    // ------------------------------------------------------------------ helpers

    internal static void CheckShape<T>(Tensor<T> t, ReadOnlySpan<int> expected, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (!t.Shape.SequenceEqual(expected))
            throw new ArgumentException($"{name}: expected shape {ShapeMath.Format(expected)}, got {ShapeMath.Format(t.Shape)}.", name);
    }

    /// <summary>Indices given as a floating-point tensor (from .npy files) to ints, checking they are integers.</summary>
    internal static int[] ToIndices<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = t.AsSpan();
        var r = new int[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            double v = double.CreateTruncating(s[i]);
            if (v != Math.Floor(v) || v < int.MinValue || v > int.MaxValue)
                throw new ArgumentException($"indices: element {i} ({v}) is not an integer index.", "indices");
            r[i] = (int)v;
        }
        return r;
    }

    internal static Tensor<T> IndicesTensor<T>(int[] idx, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new Tensor<T>(shape.ToArray());
        var s = t.AsSpan();
        for (int i = 0; i < idx.Length; i++) s[i] = T.CreateTruncating(idx[i]);
        return t;
    }
}

/// <summary>The pooling family as named operators: max_poolNd (attr return_indices adds the int64 indices output),
/// avg_poolNd, adaptive_avg_poolNd, adaptive_max_poolNd, max_unpoolNd, and grad.&lt;name&gt; for each gradient with
/// respect to the input (inputs grad_output and input; grad.max_pool / grad.adaptive_max_pool recompute the indices
/// from input unless an <c>indices</c> input is given; grad.max_unpool takes indices).</summary>
internal static class PoolOps
{
    private static int RankOf(string op) => op[^2] - '0';

    [Op("max_pool1d"), Op("max_pool2d"), Op("max_pool3d")]
    public static Tensor<T>[] MaxPool<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = RankOf(c.Op);
        bool ri = c.Bool("return_indices", false);
        var (y, idx) = Functional.MaxPool(r, c.Input("input"), c.Dims("kernel_size"), c.Dims("stride"), c.Dims("padding"), c.Dims("dilation"),
            c.Bool("ceil_mode", false), ri);
        if (!ri) return [y];
        c.IntegerOutputs.Add(1);
        return [y, Pooling.IndicesTensor<T>(idx!, y.Shape)];
    }

    [Op("grad.max_pool1d"), Op("grad.max_pool2d"), Op("grad.max_pool3d")]
    public static Tensor<T>[] MaxPoolGrad<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = RankOf(c.Op);
        var x = c.Input("input");
        var given = c.OptionalInput("indices");
        var idx = given is not null ? Pooling.ToIndices(given)
            : Functional.MaxPool(r, x, c.Dims("kernel_size"), c.Dims("stride"), c.Dims("padding"), c.Dims("dilation"), c.Bool("ceil_mode", false), true).Indices!;
        return [Functional.MaxPoolBackward(r, c.Input("grad_output"), x, idx)];
    }

    [Op("avg_pool1d"), Op("avg_pool2d"), Op("avg_pool3d")]
    public static Tensor<T>[] AvgPool<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.AvgPool(RankOf(c.Op), c.Input("input"), c.Dims("kernel_size"), c.Dims("stride"), c.Dims("padding"), c.Bool("ceil_mode", false),
            c.Bool("count_include_pad", true), c.Has("divisor_override") ? c.Int("divisor_override", 0) : null)];

    [Op("grad.avg_pool1d"), Op("grad.avg_pool2d"), Op("grad.avg_pool3d")]
    public static Tensor<T>[] AvgPoolGrad<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.AvgPoolBackward(RankOf(c.Op), c.Input("grad_output"), c.Input("input"), c.Dims("kernel_size"), c.Dims("stride"), c.Dims("padding"),
            c.Bool("ceil_mode", false), c.Bool("count_include_pad", true), c.Has("divisor_override") ? c.Int("divisor_override", 0) : null)];

    [Op("adaptive_avg_pool1d"), Op("adaptive_avg_pool2d"), Op("adaptive_avg_pool3d")]
    public static Tensor<T>[] AdaptiveAvg<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.AdaptiveAvgPool(RankOf(c.Op), c.Input("input"), c.Dims("output_size"))];

    [Op("grad.adaptive_avg_pool1d"), Op("grad.adaptive_avg_pool2d"), Op("grad.adaptive_avg_pool3d")]
    public static Tensor<T>[] AdaptiveAvgGrad<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.AdaptiveAvgPoolBackward(RankOf(c.Op), c.Input("grad_output"), c.Input("input"))];

    [Op("adaptive_max_pool1d"), Op("adaptive_max_pool2d"), Op("adaptive_max_pool3d")]
    public static Tensor<T>[] AdaptiveMax<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (y, idx) = Functional.AdaptiveMaxPool(RankOf(c.Op), c.Input("input"), c.Dims("output_size"));
        if (!c.Bool("return_indices", false)) return [y];
        c.IntegerOutputs.Add(1);
        return [y, Pooling.IndicesTensor<T>(idx, y.Shape)];
    }

    [Op("grad.adaptive_max_pool1d"), Op("grad.adaptive_max_pool2d"), Op("grad.adaptive_max_pool3d")]
    public static Tensor<T>[] AdaptiveMaxGrad<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = RankOf(c.Op);
        var x = c.Input("input"); var gy = c.Input("grad_output");
        var given = c.OptionalInput("indices");
        var idx = given is not null ? Pooling.ToIndices(given) : Functional.AdaptiveMaxPool(r, x, new Dims(gy.Shape[^r..].ToArray())).Indices;
        return [Functional.MaxPoolBackward(r, gy, x, idx)];
    }

    [Op("max_unpool1d"), Op("max_unpool2d"), Op("max_unpool3d")]
    public static Tensor<T>[] MaxUnpool<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.MaxUnpool(RankOf(c.Op), c.Input("input"), Pooling.ToIndices(c.Input("indices")), c.Dims("kernel_size"), c.Dims("stride"),
            c.Dims("padding"), c.Ints("output_size"))];

    [Op("grad.max_unpool1d"), Op("grad.max_unpool2d"), Op("grad.max_unpool3d")]
    public static Tensor<T>[] MaxUnpoolGrad<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.MaxUnpoolBackward(RankOf(c.Op), c.Input("grad_output"), c.Input("input"), Pooling.ToIndices(c.Input("indices")))];
}
