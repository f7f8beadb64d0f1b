using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Convolution as an implicit GEMM (forward and backward-weights), for stride 1 in 1-d and 2-d: no column matrix.
/// The input is copied once into zero-bordered planes of Wp = OW + (KW-1)·DW columns; on that grid output (oy, ox)
/// sits at flattened position oy·Wp + ox and its tap (c, ky, kx) at that position plus c·plane + ky·DH·Wp + kx·DW,
/// so row t of the lowered input is the padded input itself shifted by one offset per t. Forward: the GEMM's
/// micro-kernels read those B rows through the offset table (<see cref="OffsetRows"/>), compute the Wp − OW columns
/// per row past the image and drop them when the result is copied out. Backward-weights: gWᵀ is the product of the
/// shifted input, read in place as A (a tap's channels one plane apart), with gYᵀ on the same grid (zero in the
/// dropped columns). Both trade the im2col pass (9 floats written and read per input float for a 3×3 kernel) for
/// the dropped columns.
/// </summary>
public sealed class ImplicitGemmAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;

    /// <summary>The algorithm for every shape it can run (forced).</summary>
    public static ImplicitGemmAlgorithm Instance { get; } = new(false);

    /// <summary>The planner's entry: a GEMM depth of at least 32, at least 8 output channels, and few of the computed
    /// columns dropped (see <see cref="TryPlan"/>).</summary>
    public static ImplicitGemmAlgorithm Preferred { get; } = new(true);

    private ImplicitGemmAlgorithm(bool heuristic) => _heuristic = heuristic;

    /// <inheritdoc/>
    public string Name => "implicit_gemm";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (direction == ConvDirection.BackwardData || !Fma.IsSupported || core.Rank > 2 || core.Groups != 1) return null;
        var g = new ConvGeometry(core);
        if (g.SH != 1 || g.SW != 1) return null;
        // the padded planes are addressed with int offsets; larger inputs take the lowering
        var (wp, hp) = Plan.Grid(g);
        if (g.C * hp * wp + 2 * wp + 64 > int.MaxValue || (long)g.K * (g.OH * wp + 32) > int.MaxValue) return null;
        if (_heuristic)
        {
            // Dropped columns allowed: a quarter with full-rate AVX-512 (ResNet-50 res4 and DeepLab drop an eighth and
            // ran 1.4x and 1.0x the lowering's speed), a tenth with AVX2 (there the same two ran 0.94x and 0.97x). Tiny
            // outputs always: the lowering's last column tile is as empty (res5, 49 positions: 1.37x with AVX2).
            int columns = Plan.ColumnsOf(g);
            double dropped = (double)(columns - g.OV) / columns;
            bool tiny = direction == ConvDirection.Forward && (long)g.N * g.OV <= 64;
            if (g.CKV < 32 || g.K < 8 || (dropped > (GemmCore.WideFmaPays ? 0.25 : 0.10) && !tiny)) return null;
        }
        // backward-weights ends with a transpose of gW, a pass that few positions per weight do not amortise
        // (ResNet-50 res5, 49 positions: 2.1 against the lowering's 1.2 ms)
        if (_heuristic && direction == ConvDirection.BackwardWeight && (long)g.N * g.OV < 256) return null;
        return new Plan(core, direction);
    }

    private sealed unsafe class Plan : ConvPlan
    {
        // Width of one tile of output positions (two zmm).
        private const int Tile = 2 * GemmCore.NR;
        private readonly int _wp, _hp, _len;
        private readonly long _plane, _padded;
        // Offset of GEMM row t = (c, ky, kx) in the padded planes; fixed by the geometry, so computed once.
        private readonly int[] _toff;

        public Plan(ConvDescriptor d, ConvDirection dir) : base("implicit_gemm", d, dir)
        {
            var g = G;
            (long wp, long hp) = Grid(g);
            (_wp, _hp) = ((int)wp, (int)hp);
            _plane = (long)_hp * _wp;
            _len = g.OH * _wp;
            Columns = ColumnsOf(g);
            // the last tile reads up to Columns − len + (KW−1)·DW floats past the last plane
            _padded = g.C * _plane + Slack;
            _toff = GC.AllocateArray<int>(g.CKV, pinned: true);
            for (int c = 0, t = 0; c < g.C; c++)
                for (int ky = 0; ky < g.KH; ky++)
                    for (int kx = 0; kx < g.KW; kx++, t++)
                        _toff[t] = checked((int)(c * _plane) + ky * g.DH * _wp + kx * g.DW);
        }

        /// <summary>Computed output positions per image: OH rows of Wp, rounded up to whole tiles.</summary>
        public int Columns { get; }

        /// <summary>Width and height of the padded planes: the output's extent plus the dilated kernel's.</summary>
        public static (long Width, long Height) Grid(in ConvGeometry g) => (g.OW + (long)(g.KW - 1) * g.DW, g.OH + (long)(g.KH - 1) * g.DH);

        /// <summary><see cref="Columns"/> of a geometry, before a plan is built.</summary>
        public static int ColumnsOf(in ConvGeometry g) => GemmCore.RoundUp(g.OH * (int)Grid(g).Width, Tile);

        private int Slack => Columns - _len + (G.KW - 1) * G.DW + 16;

        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* bias = bs) fixed (float* y = ys)
            {
                var g = G;
                int threads = Threads, m = g.K, depth = g.CKV, cols = Columns;
                int* toff = (int*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_toff));
                // Weights multiply few columns: read them in place rather than pack them (a pass over all of them).
                bool direct = (long)g.N * cols < 2048;
                long paSize = GemmCore.PackedASize(m, depth);
                float* packed = direct ? null : Workspace.Get(Workspace.PackedWeights, paSize);
                if (!direct) GemmCore.PackAFull(false, m, depth, 1f, w, depth, packed);
                var ops = new Operands(w, packed, toff, bias, relu);
                nint px = (nint)x, py = (nint)y;
                if (ItemsPerThread(g.N, threads))
                {
                    // whole images per thread
                    VecOps.ParallelItems(g.N, threads, (_, n) =>
                    {
                        float* xp = Workspace.Get(Workspace.Columns, _padded);
                        float* cf = Workspace.Get(Workspace.Scratch, (long)m * cols);
                        Image(ops, (float*)px, n, xp, cf, (float*)py, 0, m, 0, cols);
                    });
                    return;
                }
                // Few images: each is padded once, then its rows (when the columns are few) or columns are split.
                float* xpad = Workspace.Get(Workspace.Columns, _padded);
                float* cflat = Workspace.Get(Workspace.Scratch, (long)m * cols);
                int tiles = cols / Tile;
                bool byRows = tiles < 4 * threads && m >= 24 * threads;
                int parts = threads <= 1 ? 1 : byRows ? threads : Math.Min(threads, tiles);
                int unit = byRows ? 2 * GemmCore.MR : Tile, total = byRows ? m : cols;
                int per = GemmCore.RoundUp((total + parts - 1) / parts, unit);
                int img = 0;
                nint pxp = (nint)xpad, pcf = (nint)cflat;
                Action<int, int> part = (_, p) =>
                {
                    int lo = p * per, hi = Math.Min(total, lo + per);
                    if (lo >= hi) return;
                    if (byRows) Image(ops, null, img, (float*)pxp, (float*)pcf, (float*)py, lo, hi, 0, cols);
                    else Image(ops, null, img, (float*)pxp, (float*)pcf, (float*)py, 0, m, lo, hi);
                };
                for (img = 0; img < g.N; img++)
                {
                    Im2col.PadPlanes(g, x + (long)img * g.C * g.IV, g.C, _hp, _wp, xpad, Slack);
                    VecOps.ParallelItems(parts, parts, part);
                }
            }
        }

        private protected override void RunBackwardWeight(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, Span<float> gws)
        {
            // gWᵀ[(c, tap), k] = Σ_p Xpad[c·plane + off(tap) + p] · gYpad[k, p] over the positions p of the padded grid
            // (gY zero in the dropped columns): A is the padded input read in place, twelve channels of one tap per
            // tile (row stride: one plane), B is gYᵀ packed in panels of 32 channels. Batches of images go to the
            // threads whole, each summing into its own gWᵀ while its image is still in cache; one image's rows of
            // gWᵀ are split over threads instead, after its padding and packing.
            fixed (float* x = xs) fixed (float* gy = gys) fixed (float* gw = gws)
            {
                // the dropped columns (gY zero) meet input columns that no valid position reads: an infinity there
                // would give 0·∞ = NaN where the true gradient is finite, so such inputs take the lowering
                if (!VecOps.AllFinite(x, xs.Length))
                {
                    Lowering.BackwardWeight(xs, gys, gws);
                    return;
                }
                var g = G;
                int threads = Threads, kPad = GemmCore.RoundUp(g.K, Tile), positions = _len;
                int cTiles = (g.C + 2 * GemmCore.MR - 1) / (2 * GemmCore.MR), units = g.KV * cTiles;
                long perImage = _padded + (long)positions * kPad, outLen = (long)g.CKV * kPad;
                nint px = (nint)x, pgy = (nint)gy;
                float* outT;
                bool byImage = ItemsPerThread(g.N, threads);
                if (byImage)
                {
                    outT = Workspace.Get(Workspace.Partials, outLen * threads);
                    System.Runtime.InteropServices.NativeMemory.Clear(outT, (nuint)(outLen * threads * 4));
                    nint pparts = (nint)outT;
                    VecOps.ParallelStatic(g.N, threads, (part, n) =>
                    {
                        float* xp = Workspace.Get(Workspace.Columns, perImage);
                        PrepareImage((float*)px, (float*)pgy, n, xp, kPad);
                        WeightGradRows(xp, 1, perImage, false, (float*)pparts + part * outLen, kPad, 0, units, cTiles);
                    });
                    for (int t = 1; t < threads; t++) VecOps.AddInPlace(outT, outT + t * outLen, outLen);
                }
                else
                {
                    int batch = (int)Math.Clamp((2L << 20) / perImage, 1, g.N);
                    float* buf = Workspace.Get(Workspace.Columns, perImage * batch);
                    outT = Workspace.Get(Workspace.Scratch, outLen);
                    int parts = Math.Min(threads, units);
                    nint pbuf = (nint)buf, pout = (nint)outT;
                    for (int n0 = 0; n0 < g.N; n0 += batch)
                    {
                        int cnt = Math.Min(batch, g.N - n0), first = n0;
                        VecOps.ParallelItems(cnt, Math.Min(threads, cnt), (_, i) =>
                            PrepareImage((float*)px, (float*)pgy, first + i, (float*)pbuf + i * perImage, kPad));
                        VecOps.ParallelItems(parts, parts, (_, part) =>
                            WeightGradRows((float*)pbuf, cnt, perImage, first == 0, (float*)pout, kPad,
                                (int)((long)units * part / parts), (int)((long)units * (part + 1) / parts), cTiles));
                    }
                }
                // gW = (gWᵀ)ᵀ; the channels past K (the padding of the last panel) are left out
                VecOps.TransposeParallel(outT, g.CKV, g.K, kPad, gw);
            }
        }

        /// <summary>Image n's padded input planes at <paramref name="xp"/>, followed by its packed gYᵀ.</summary>
        private void PrepareImage(float* x, float* gy, int n, float* xp, int kPad)
        {
            var g = G;
            Im2col.PadPlanes(g, x + (long)n * g.C * g.IV, g.C, _hp, _wp, xp, Slack);
            PackGradT(gy + (long)n * g.K * g.OV, xp + _padded, kPad);
        }

        /// <summary>gYᵀ of one image on the padded grid, in panels of 32 channels: panel q holds rows p (positions,
        /// zero in the dropped columns) of 32 floats, channels past K zero.</summary>
        private void PackGradT(float* gy, float* dst, int kPad)
        {
            for (int k0 = 0; k0 < kPad; k0 += Tile)
                Im2col.GridGradT(G, gy, _wp, k0, Tile, 0, _len, dst + (long)k0 * _len);
        }

        /// <summary>Row units [u0, u1) (a unit: one tap × up to twelve channels) of gWᵀ, accumulated over
        /// <paramref name="cnt"/> padded images; overwritten first when <paramref name="fresh"/>.</summary>
        private void WeightGradRows(float* buf, int cnt, long perImage, bool fresh, float* outT, int kPad, int u0, int u1, int cTiles)
        {
            var g = G;
            int positions = _len, rowsTile = 2 * GemmCore.MR, ldc = g.KV * kPad;
            bool wide = GemmCore.UseAvx512;
            for (int i = 0; i < cnt; i++)
            {
                float* xp = buf + i * perImage, gT = xp + _padded;
                for (int pc = 0; pc < positions; pc += GemmCore.KC)
                {
                    int kc = Math.Min(GemmCore.KC, positions - pc);
                    float beta = fresh && i == 0 && pc == 0 ? 0f : 1f;
                    for (int k0 = 0; k0 < kPad; k0 += Tile)
                    {
                        float* b0 = gT + (long)k0 * positions + (long)pc * Tile;
                        for (int u = u0; u < u1; u++)
                        {
                            int tap = u / cTiles, c0 = u % cTiles * rowsTile, mr = Math.Min(rowsTile, g.C - c0);
                            int ky = tap / g.KW, kx = tap - ky * g.KW;
                            float* a = xp + c0 * _plane + ky * g.DH * _wp + kx * g.DW + pc;
                            // row (c, tap) of gWᵀ, so that one transpose gives gW's layout
                            float* c = outT + ((long)c0 * g.KV + tap) * kPad + k0;
                            if (wide && mr == rowsTile)
                                GemmCore.Kernel12x32Avx512(kc, a, a + GemmCore.MR * _plane, (nint)_plane, 1, new StridedRows(b0, Tile), GemmCore.NR, c, ldc, beta, null, false);
                            else
                                for (int r = 0; r < mr; r += GemmCore.MR)
                                {
                                    int mr6 = Math.Min(GemmCore.MR, mr - r);
                                    if (wide)
                                        GemmCore.Kernel6x32Avx512(kc, a + r * _plane, (nint)_plane, 1, mr6, new StridedRows(b0, Tile), GemmCore.NR, c + (long)r * ldc, ldc, beta, null, false);
                                    else
                                        for (int h = 0; h < Tile; h += GemmCore.NR)
                                            GemmCore.Kernel6x16Fma(kc, a + r * _plane, (nint)_plane, 1, mr6, new StridedRows(b0 + h, Tile), c + (long)r * ldc + h, ldc, beta, null, false);
                                }
                        }
                    }
                }
            }
        }

        /// <summary>What every part of one call shares: weights (in place or packed), the offset table, the epilogue.</summary>
        private readonly struct Operands(float* w, float* packed, int* toff, float* bias, bool relu)
        {
            public readonly float* W = w, Packed = packed, Bias = bias;
            public readonly int* Toff = toff;
            public readonly bool Relu = relu;
        }

        /// <summary>
        /// Output rows [m0, m1) × computed columns [j0, j1) of image <paramref name="n"/>: pads the input into
        /// <paramref name="xp"/> first when <paramref name="x"/> is given, accumulates into <paramref name="cf"/>
        /// (rows of <see cref="Columns"/>) over k-blocks, then copies the valid positions to y.
        /// </summary>
        private void Image(in Operands o, float* x, int n, float* xp, float* cf, float* y, int m0, int m1, int j0, int j1)
        {
            var g = G;
            if (x != null) Im2col.PadPlanes(g, x + (long)n * g.C * g.IV, g.C, _hp, _wp, xp, Slack);
            int depth = g.CKV, ldc = Columns, mPad = GemmCore.RoundUp(g.K, GemmCore.MR);
            for (int pc = 0; pc < depth; pc += GemmCore.KC)
            {
                int kc = Math.Min(GemmCore.KC, depth - pc);
                float beta = pc == 0 ? 0f : 1f;
                bool last = pc + kc >= depth;
                float* biasBlk = last ? o.Bias : null;
                bool relu = last && o.Relu;
                int* tk = o.Toff + pc;
                // A element (r, p) of this k-block at a[r·ars + p·aps]; row r's start aRow floats per row further
                bool packed = o.Packed != null;
                float* a = packed ? o.Packed + (long)pc * mPad : o.W + pc;
                nint ars = packed ? 1 : depth, aps = packed ? GemmCore.MR : 1, aRow = packed ? kc : depth;
                for (int j = j0; j < j1; j += Tile)
                {
                    float* bj = xp + j, cj = cf + j;
                    int i = m0;
                    if (GemmCore.UseAvx512)
                        for (; i + 2 * GemmCore.MR <= m1; i += 2 * GemmCore.MR)
                            GemmCore.Kernel12x32Avx512(kc, a + i * aRow, a + (i + GemmCore.MR) * aRow, ars, aps, new OffsetRows(bj, tk), GemmCore.NR,
                                cj + (long)i * ldc, ldc, beta, biasBlk == null ? null : biasBlk + i, relu);
                    for (; i < m1; i += GemmCore.MR)
                    {
                        float* bi = biasBlk == null ? null : biasBlk + i;
                        int mr = Math.Min(GemmCore.MR, m1 - i);
                        if (GemmCore.UseAvx512)
                            GemmCore.Kernel6x32Avx512(kc, a + i * aRow, ars, aps, mr, new OffsetRows(bj, tk), GemmCore.NR, cj + (long)i * ldc, ldc, beta, bi, relu);
                        else
                            // AVX2: 6×16 tiles, two per 32 columns
                            for (int h = 0; h < Tile; h += GemmCore.NR)
                                GemmCore.Kernel6x16Fma(kc, a + i * aRow, ars, aps, mr, new OffsetRows(bj + h, tk), cj + (long)i * ldc + h, ldc, beta, bi, relu);
                    }
                }
            }
            // valid positions: columns [0, OW) of each Wp-row that lies in [j0, j1)
            float* yn = y + (long)n * g.K * g.OV;
            for (int k = m0; k < m1; k++)
                for (int oy = j0 / _wp; oy < g.OH && oy * _wp < j1; oy++)
                {
                    int s = Math.Max(j0, oy * _wp), e = Math.Min(j1, oy * _wp + g.OW);
                    if (s < e)
                        Buffer.MemoryCopy(cf + (long)k * ldc + s, yn + (long)k * g.OV + oy * g.OW + (s - oy * _wp), (e - s) * 4L, (e - s) * 4L);
                }
        }
    }
}
