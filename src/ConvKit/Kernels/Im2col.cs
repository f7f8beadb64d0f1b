using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvKit.Kernels;

/// <summary>
/// Lowering between an image and the GEMM column matrix, for one group of one image and a window of output
/// positions: column matrix row (c, kz, ky, kx), column j = output position j0 + t. <see cref="Gather"/> builds it
/// (forward, backward-weights); <see cref="ScatterAdd"/> folds it back (col2im, backward-data).
/// Runs of output x are processed together so stride-1 rows become contiguous copies.
/// </summary>
internal static unsafe class Im2col
{
    /// <summary>
    /// Copies <paramref name="planes"/> input planes (IH×IW, 2-d geometry) into zero-bordered planes of
    /// <paramref name="hp"/> rows of <paramref name="wp"/> floats at <paramref name="dst"/> (input row iy at row
    /// iy + PH, column PW), followed by <paramref name="slack"/> zeros that kernels reading whole vectors past the
    /// last plane may touch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PadPlanes(in ConvGeometry g, float* x, int planes, int hp, int wp, float* dst, int slack)
    {
        long plane = (long)hp * wp;
        for (int c = 0; c < planes; c++)
            PadRows(g, x + (long)c * g.IH * g.IW, wp, dst + c * plane, 0, hp);
        new Span<float>(dst + planes * plane, slack).Clear();
    }

    /// <summary>Rows [<paramref name="r0"/>, <paramref name="r1"/>) of one zero-bordered plane of <paramref name="wp"/>
    /// floats per row (see <see cref="PadPlanes"/>) from input plane <paramref name="x"/>.</summary>
    public static void PadRows(in ConvGeometry g, float* x, int wp, float* dst, int r0, int r1)
    {
        for (int i = r0; i < r1; i++)
        {
            float* d = dst + (long)i * wp;
            int iy = i - g.PH;
            int n = (uint)iy < (uint)g.IH ? Math.Min(g.IW, wp - g.PW) : 0;
            new Span<float>(d, Math.Min(g.PW, wp)).Clear();
            if (n > 0) new ReadOnlySpan<float>(x + (long)iy * g.IW, n).CopyTo(new Span<float>(d + g.PW, n));
            int used = Math.Min(wp, g.PW + n);
            new Span<float>(d + used, wp - used).Clear();
        }
    }

    /// <summary>
    /// gYᵀ on an implicit GEMM's grid of <paramref name="wp"/> columns per output row: dst[(p − p0)·lanes + j] =
    /// gy[k0 + j, position p] for grid positions p in [p0, p1) and j &lt; <paramref name="lanes"/>, zero in the columns
    /// past OW of each row and for channels past K. The implicit GEMMs' backward-weights multiply it with the input
    /// read in place on the same grid.
    /// </summary>
    public static void GridGradT(in ConvGeometry g, float* gy, int wp, int k0, int lanes, int p0, int p1, float* dst)
    {
        int kn = Math.Min(lanes, g.K - k0);
        if (kn < lanes || g.OW < wp) new Span<float>(dst, (p1 - p0) * lanes).Clear();
        for (int oy = p0 / wp; oy * wp < p1; oy++)
        {
            int s = Math.Max(p0, oy * wp), e = Math.Min(p1, oy * wp + g.OW);
            if (s < e)
                VecOps.Transpose(gy + (long)k0 * g.OV + oy * g.OW + (s - oy * wp), kn, e - s, dst + (long)(s - p0) * lanes, 0, kn, g.OV, lanes);
        }
    }

    /// <summary>col[(c - c0)·KV + kidx][t] = x[c, iz, iy, ix] (0 outside), for c in [c0, c1), t in [0, cw); column
    /// rows are <paramref name="ld"/> floats apart (cw when 0), so several images can be lowered side by side.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gather(in ConvGeometry g, float* x, int c0, int c1, int j0, int cw, float* col, int ld = 0)
    {
        if (ld == 0) ld = cw;
        if (g.SW == 1 && g.OD == 1 && g.KD == 1 && g.ID == 1 && g.PD == 0 && j0 % g.OW == 0 && cw % g.OW == 0)
        {
            GatherRows(g, x, c0, c1, j0 / g.OW, cw / g.OW, col, ld);
            return;
        }
        int ohw = g.OH * g.OW;
        for (int c = c0; c < c1; c++)
        {
            float* xc = x + (long)c * g.IV;
            for (int kz = 0; kz < g.KD; kz++)
            for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
            {
                float* dst = col + ((long)(c - c0) * g.KV + (kz * g.KH + ky) * g.KW + kx) * ld;
                int oz = j0 / ohw, rem = j0 - oz * ohw, oy = rem / g.OW, ox = rem - oy * g.OW;
                int done = 0;
                while (done < cw)
                {
                    int run = Math.Min(g.OW - ox, cw - done);
                    int iz = oz * g.SD - g.PD + kz * g.DD, iy = oy * g.SH - g.PH + ky * g.DH;
                    float* d = dst + done;
                    if ((uint)iz >= (uint)g.ID || (uint)iy >= (uint)g.IH)
                        new Span<float>(d, run).Clear();
                    else
                    {
                        float* src = xc + ((long)iz * g.IH + iy) * g.IW;
                        int ix0 = ox * g.SW - g.PW + kx * g.DW;
                        if (g.SW == 1)
                        {
                            // valid t: 0 <= ix0 + t < IW
                            int lo = Math.Clamp(-ix0, 0, run), hi = Math.Clamp(g.IW - ix0, lo, run);
                            for (int t = 0; t < lo; t++) d[t] = 0f;
                            if (hi > lo)
                            {
                                if (hi - lo <= 64) VecOps.CopyShort(d + lo, src + ix0 + lo, hi - lo);
                                else new ReadOnlySpan<float>(src + ix0 + lo, hi - lo).CopyTo(new Span<float>(d + lo, hi - lo));
                            }
                            for (int t = hi; t < run; t++) d[t] = 0f;
                        }
                        else
                        {
                            int sw = g.SW, iw = g.IW;
                            int t = 0, ix = ix0;
                            // left border, then (stride 2) a de-interleaving vector copy while 16 inputs are in bounds
                            for (; t < run && ix < 0; t++, ix += sw) d[t] = 0f;
                            if (sw == 2 && Avx2.IsSupported)
                                for (; t + 8 <= run && ix + 16 <= iw; t += 8, ix += 16)
                                {
                                    var v0 = Avx.LoadVector256(src + ix);
                                    var v1 = Avx.LoadVector256(src + ix + 8);
                                    var ev = Avx2.Permute4x64(Avx.Shuffle(v0, v1, 0x88).AsDouble(), 0xD8).AsSingle();
                                    Avx.Store(d + t, ev);
                                }
                            for (; t < run; t++, ix += sw)
                                d[t] = (uint)ix < (uint)iw ? src[ix] : 0f;
                        }
                    }
                    done += run;
                    ox = 0;
                    if (++oy == g.OH) { oy = 0; oz++; }
                }
            }
        }
    }

    /// <summary>
    /// <see cref="Gather"/> for whole output rows of a 1-d/2-d stride-1 (horizontally) convolution: the in-bounds span
    /// [lo, hi) of a row depends only on kx, so each row is zeros, one short copy, zeros, with no per-run bookkeeping.
    /// Small images (rows of 7-28 outputs) spend most of their lowering time in that bookkeeping otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherRows(in ConvGeometry g, float* x, int c0, int c1, int oy0, int rows, float* col, int ld)
    {
        int ow = g.OW;
        for (int c = c0; c < c1; c++)
        {
            float* xc = x + (long)c * g.IV;
            for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
            {
                float* dst = col + ((long)(c - c0) * g.KV + ky * g.KW + kx) * ld;
                int ix0 = kx * g.DW - g.PW;
                int lo = Math.Clamp(-ix0, 0, ow), hi = Math.Clamp(g.IW - ix0, lo, ow), len = hi - lo;
                for (int r = 0; r < rows; r++, dst += ow)
                {
                    int iy = (oy0 + r) * g.SH - g.PH + ky * g.DH;
                    if ((uint)iy >= (uint)g.IH)
                    {
                        for (int t = 0; t < ow; t++) dst[t] = 0f;
                        continue;
                    }
                    for (int t = 0; t < lo; t++) dst[t] = 0f;
                    float* src = xc + (long)iy * g.IW + ix0;
                    if (len <= 64) VecOps.CopyShort(dst + lo, src + lo, len);
                    else new ReadOnlySpan<float>(src + lo, len).CopyTo(new Span<float>(dst + lo, len));
                    for (int t = hi; t < ow; t++) dst[t] = 0f;
                }
            }
        }
    }

    /// <summary>x[c, iz, iy, ix] += col[(c - c0)·KV + kidx][t] for every in-bounds tap: the adjoint of <see cref="Gather"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScatterAdd(in ConvGeometry g, float* col, int c0, int c1, int j0, int cw, float* x)
    {
        if (g.SW == 1 && g.OD == 1 && g.KD == 1 && g.ID == 1 && g.PD == 0 && j0 % g.OW == 0 && cw % g.OW == 0)
        {
            ScatterAddRows(g, col, c0, c1, j0 / g.OW, cw / g.OW, x);
            return;
        }
        int ohw = g.OH * g.OW;
        for (int c = c0; c < c1; c++)
        {
            float* xc = x + (long)c * g.IV;
            for (int kz = 0; kz < g.KD; kz++)
            for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
            {
                float* srcRow = col + ((long)(c - c0) * g.KV + (kz * g.KH + ky) * g.KW + kx) * cw;
                int oz = j0 / ohw, rem = j0 - oz * ohw, oy = rem / g.OW, ox = rem - oy * g.OW;
                int done = 0;
                while (done < cw)
                {
                    int run = Math.Min(g.OW - ox, cw - done);
                    int iz = oz * g.SD - g.PD + kz * g.DD, iy = oy * g.SH - g.PH + ky * g.DH;
                    if ((uint)iz < (uint)g.ID && (uint)iy < (uint)g.IH)
                    {
                        float* s = srcRow + done;
                        float* dst = xc + ((long)iz * g.IH + iy) * g.IW;
                        int ix0 = ox * g.SW - g.PW + kx * g.DW;
                        if (g.SW == 1)
                        {
                            int lo = Math.Clamp(-ix0, 0, run), hi = Math.Clamp(g.IW - ix0, lo, run);
                            if (hi > lo) VecOps.AddInPlace(dst + ix0 + lo, s + lo, hi - lo);
                        }
                        else if (g.SW == 2 && Avx.IsSupported)
                            AddStride2(dst, ix0, s, run, g.IW);
                        else
                        {
                            int sw = g.SW, iw = g.IW;
                            for (int t = 0, ix = ix0; t < run; t++, ix += sw)
                                if ((uint)ix < (uint)iw) dst[ix] += s[t];
                        }
                    }
                    done += run;
                    ox = 0;
                    if (++oy == g.OH) { oy = 0; oz++; }
                }
            }
        }
    }

    /// <summary>
    /// row[ix0 + 2t] += s[t] for t in [0, n) where 0 ≤ ix0 + 2t &lt; width: four sources at a time spread over the even
    /// lanes of eight (the odd lanes add zero; the scalar loop did one element per load, add and store). The vectors
    /// stay inside the row, so they never touch another thread's plane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddStride2(float* row, int ix0, float* s, int n, int width)
    {
        int t = Math.Max(0, (1 - ix0) / 2), end = Math.Min(n, (width - ix0 + 1) / 2);
        for (; t + 4 <= end && ix0 + 2 * t + 8 <= width; t += 4)
        {
            var v = Sse.LoadVector128(s + t);
            float* d = row + ix0 + 2 * t;
            Avx.Store(d, Avx.Add(Avx.LoadVector256(d), Vector256.Create(Sse.UnpackLow(v, Vector128<float>.Zero), Sse.UnpackHigh(v, Vector128<float>.Zero))));
        }
        for (; t < end; t++) row[ix0 + 2 * t] += s[t];
    }

    /// <summary><see cref="ScatterAdd"/> for whole output rows of a 1-d/2-d stride-1 convolution (see <see cref="GatherRows"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScatterAddRows(in ConvGeometry g, float* col, int c0, int c1, int oy0, int rows, float* x)
    {
        int ow = g.OW, cw = rows * ow;
        for (int c = c0; c < c1; c++)
        {
            float* xc = x + (long)c * g.IV;
            for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
            {
                float* s = col + ((long)(c - c0) * g.KV + ky * g.KW + kx) * cw;
                int ix0 = kx * g.DW - g.PW;
                int lo = Math.Clamp(-ix0, 0, ow), hi = Math.Clamp(g.IW - ix0, lo, ow), len = hi - lo;
                for (int r = 0; r < rows; r++, s += ow)
                {
                    int iy = (oy0 + r) * g.SH - g.PH + ky * g.DH;
                    if ((uint)iy < (uint)g.IH && len > 0)
                        VecOps.AddShort(xc + (long)iy * g.IW + ix0 + lo, s + lo, len);
                }
            }
        }
    }
}
