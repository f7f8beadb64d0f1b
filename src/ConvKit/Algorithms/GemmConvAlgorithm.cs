using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Convolution as matrix multiplication, per image and group. Forward: Y[Kg, OV] = W[Kg, Cg·KV] · col[Cg·KV, OV];
/// backward-data: col = Wᵀ · gY, folded back by col2im; backward-weights: gW = Σ gY · colᵀ. The column matrix is
/// built in chunks of output positions sized to stay in cache (never the whole image), and weights are packed for
/// the micro-kernel once per call. With <c>pointwise</c> (1×1 kernel, stride 1, no padding) the input itself is the
/// column matrix: no lowering at all. Work is spread over threads by image/group/chunk, or, when there are too few
/// such items, inside the GEMM.
/// </summary>
public sealed class GemmConvAlgorithm : IConvAlgorithm
{
    private readonly bool _pointwise;

    /// <summary>The general im2col + GEMM algorithm (any stride, dilation, groups, padding, rank).</summary>
    public static GemmConvAlgorithm Im2col { get; } = new(false);
    /// <summary>The 1×1 stride-1 unpadded case as a direct GEMM on the input.</summary>
    public static GemmConvAlgorithm Pointwise { get; } = new(true);

    private GemmConvAlgorithm(bool pointwise) => _pointwise = pointwise;

    /// <summary>Test hook: force (true/false) in-place weight reads, or leave them to the heuristic (null). Both paths
    /// give the same results, so a concurrent reader is only affected in speed.</summary>
    internal static bool? ForceDirectA { get; set; }

    /// <summary>Whether the forward GEMM reads the column chunk in place instead of packing it again. On: measured
    /// on Zen 4 (2 threads) 5-15 % faster on ResNet-50 res2, 4-7 % on the CIFAR batch and up to 12 % on conv1, the
    /// same elsewhere (on an Ice Lake Xeon it had measured mixed). Tests switch it to cover both paths.</summary>
    internal static bool UseDirectB { get; set; } = true;

    /// <inheritdoc/>
    public string Name => _pointwise ? "gemm_1x1" : "im2col_gemm";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        var g = new ConvGeometry(core);
        if (_pointwise && !g.IsPointwise) return null;
        return new Plan(Name, core, direction, _pointwise);
    }

    private sealed unsafe class Plan : ConvPlan
    {
        private readonly bool _direct;
        private readonly int _cw, _chunks;
        // Backward-data may run its chunks in two waves over all channels (see ScatterInWaves).
        private readonly bool _waves;
        // Images lowered side by side into one column matrix (forward and backward-weights of small images): a GEMM
        // over 196 columns (14×14) wastes a third of its last micro-tiles and re-reads C for a short depth.
        private readonly int _nb;

        public Plan(string name, ConvDescriptor d, ConvDirection dir, bool direct) : base(name, d, dir)
        {
            _direct = direct;
            // Column chunk: about 256 KB of lowered input for forward/backward-data (stays in L2 while the GEMM walks
            // it, and gives two threads enough chunks to balance: with 768 KB chunks a 56×56 layer had 9 and ran no
            // faster on 2 threads than on 1); larger for backward-weights, where the chunk is the reduction depth:
            // 4 MB for one image (few, deep items: ResNet-50's layers ran 1.4-1.6x slower with 1 MB, whose odd item
            // counts split each GEMM over threads instead), 1 MB for a batch of small images side by side (the
            // Fashion-MNIST and CIFAR batches 1.15-1.2x faster than with 4 MB, whose columns left L2).
            long bw = G.N == 1 ? 1 << 20 : 1 << 18;
            long target = dir == ConvDirection.BackwardWeight ? bw : 1 << 16;
            int cw = (int)Math.Clamp(target / Math.Max(1, G.CKV), 64, int.MaxValue);
            cw = GemmCore.RoundUp(cw, GemmCore.NR);
            if (direct && dir != ConvDirection.BackwardWeight) cw = Math.Max(cw, 512);
            // Small images go side by side up to about 768 KB of columns per GEMM.
            int batchCols = (int)Math.Min(int.MaxValue, (dir == ConvDirection.BackwardWeight ? bw : 3 << 16) / Math.Max(1, G.CKV));
            _nb = !direct && dir != ConvDirection.BackwardData && G.N > 1 && batchCols >= 2 * G.OV ? Math.Min(G.N, batchCols / G.OV) : 1;
            // the same number of chunks, of equal width: with two items of 464 and 320 columns (DeepLab's backward-
            // weights) one thread waited for the other a fifth of the time
            int chunks = (G.OV + cw - 1) / cw;
            _cw = Math.Min(GemmCore.RoundUp((G.OV + chunks - 1) / chunks, GemmCore.NR), G.OV);
            _chunks = (G.OV + _cw - 1) / _cw;
            _waves = !direct && dir == ConvDirection.BackwardData && WavesKeepApart(G, _cw, _chunks);
        }

        /// <summary>Lowers images [n0, n0 + cnt) of group <paramref name="grp"/> side by side: col[CKV, cnt·OV].</summary>
        private void GatherImages(float* x, int n0, int cnt, int grp, float* col)
        {
            var g = G;
            int width = cnt * g.OV;
            for (int i = 0; i < cnt; i++)
                Kernels.Im2col.Gather(g, x + ((long)(n0 + i) * g.C + grp * g.Cg) * g.IV, 0, g.Cg, 0, g.OV, col + (long)i * g.OV, width);
        }

        /// <summary>Copies rows [Kg] of images [n0, n0 + cnt) between the image tensor t[N, K, OV] and a side-by-side
        /// matrix m[Kg, cnt·OV] (toMatrix: t → m).</summary>
        private void Interleave(float* t, int n0, int cnt, int grp, float* m, bool toMatrix)
        {
            var g = G;
            int width = cnt * g.OV;
            for (int i = 0; i < cnt; i++)
                for (int k = 0; k < g.Kg; k++)
                {
                    float* a = t + ((long)(n0 + i) * g.K + grp * g.Kg + k) * g.OV, b = m + (long)k * width + (long)i * g.OV;
                    if (toMatrix) Buffer.MemoryCopy(a, b, g.OV * 4L, g.OV * 4L);
                    else Buffer.MemoryCopy(b, a, g.OV * 4L, g.OV * 4L);
                }
        }

        /// <summary>
        /// Weights multiply only N·OV columns; when that is small, packing them (a full extra pass over the weights)
        /// costs as much as the product, so the micro-kernel reads them in place instead.
        /// </summary>
        private bool DirectA => ForceDirectA ?? (long)G.N * G.OV < 2048;

        /// <summary>Whether enough independent items exist to give each thread whole items.</summary>

        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* bias = bs) fixed (float* y = ys)
            {
                var g = G;
                int threads = Threads;
                // Few wide items: the GEMM itself is split over threads, by rows when it has fewer columns than rows;
                // then each thread packs its own rows of W (packing the whole W first, on one thread, or reading it in
                // place from two threads at once, measured 1.3x slower on a 512-channel 7×7 layer).
                int units = _nb > 1 ? (g.N + _nb - 1) / _nb * g.Groups : g.N * g.Groups * _chunks;
                int gemmCols = _nb > 1 ? Math.Min(g.N, _nb) * g.OV : _cw;
                bool packPerThread = !ItemsPerThread(units, threads) && threads > 1 && gemmCols < g.Kg && g.Kg >= 2 * GemmCore.MR;
                bool directA = DirectA && !packPerThread;
                long paSize = GemmCore.PackedASize(g.Kg, g.CKV);
                float* packed = directA || packPerThread ? null : Workspace.Get(Workspace.PackedWeights, paSize * g.Groups);
                if (packed != null)
                    for (int grp = 0; grp < g.Groups; grp++)
                        GemmCore.PackAFull(false, g.Kg, g.CKV, 1f, w + (long)grp * g.Kg * g.CKV, g.CKV, packed + grp * paSize);
                nint px = (nint)x, py = (nint)y, pb = (nint)bias, pp = (nint)packed, pw = (nint)w;
                if (_nb > 1)
                {
                    int nb = _nb, batches = (g.N + nb - 1) / nb, bItems = batches * g.Groups;
                    bool bPar = ItemsPerThread(bItems, threads);
                    VecOps.ParallelItems(bItems, bPar ? threads : 1, (_, item) =>
                    {
                        int grp = item % g.Groups, n0 = item / g.Groups * nb, cnt = Math.Min(nb, g.N - n0), width = cnt * g.OV;
                        float* col = Workspace.Get(Workspace.Columns, (long)g.CKV * width);
                        float* outp = Workspace.Get(Workspace.Scratch, (long)g.Kg * width);
                        GatherImages((float*)px, n0, cnt, grp, col);
                        float* bb = pb == 0 ? null : (float*)pb + grp * g.Kg;
                        GemmCore.Run(false, false, g.Kg, width, g.CKV, 1f, (float*)pw + (long)grp * g.Kg * g.CKV, g.CKV, col, width, 0f, outp, width,
                            bb, relu, bPar ? 1 : threads, pp == 0 ? null : (float*)pp + grp * paSize, directA, directB: UseDirectB);
                        Interleave((float*)py, n0, cnt, grp, outp, toMatrix: false);
                    });
                    return;
                }
                int items = g.N * g.Groups * _chunks;
                bool itemPar = ItemsPerThread(items, threads);
                int gemmThreads = itemPar ? 1 : threads;
                bool direct = _direct;
                int cw = _cw, chunks = _chunks;
                VecOps.ParallelItems(items, itemPar ? threads : 1, (_, item) =>
                {
                    int ch = item % chunks, rest = item / chunks, grp = rest % g.Groups, n = rest / g.Groups;
                    int j0 = ch * cw, cwi = Math.Min(cw, g.OV - j0);
                    float* xg = (float*)px + ((long)n * g.C + grp * g.Cg) * g.IV;
                    float* yg = (float*)py + ((long)n * g.K + grp * g.Kg) * g.OV;
                    float* bptr; int ldb;
                    if (direct) { bptr = xg + j0; ldb = g.IV; }
                    else
                    {
                        bptr = Workspace.Get(Workspace.Columns, (long)g.CKV * cwi);
                        Kernels.Im2col.Gather(g, xg, 0, g.Cg, j0, cwi, bptr);
                        ldb = cwi;
                    }
                    float* bb = pb == 0 ? null : (float*)pb + grp * g.Kg;
                    GemmCore.Run(false, false, g.Kg, cwi, g.CKV, 1f, (float*)pw + (long)grp * g.Kg * g.CKV, g.CKV, bptr, ldb, 0f, yg + j0, g.OV,
                        bb, relu, gemmThreads, pp == 0 ? null : (float*)pp + grp * paSize, directA, directB: UseDirectB);
                });
            }
        }

        private protected override void RunBackwardData(ReadOnlySpan<float> gys, ReadOnlySpan<float> ws, Span<float> gxs)
        {
            fixed (float* gy = gys) fixed (float* w = ws) fixed (float* gx = gxs)
            {
                var g = G;
                int threads = Threads;
                nint pgy = (nint)gy, pgx = (nint)gx;
                if (_direct)
                {
                    // gx[Cg, V] = Wᵀ[Cg, Kg] · gy[Kg, V]
                    bool directA = DirectA;
                    long paSize = GemmCore.PackedASize(g.Cg, g.Kg);
                    float* packed = directA ? null : Workspace.Get(Workspace.PackedWeights, paSize * g.Groups);
                    if (!directA)
                        for (int grp = 0; grp < g.Groups; grp++)
                            GemmCore.PackAFull(true, g.Cg, g.Kg, 1f, w + (long)grp * g.Kg * g.Cg, g.Cg, packed + grp * paSize);
                    int items = g.N * g.Groups * _chunks;
                    bool itemPar = ItemsPerThread(items, threads);
                    int gemmThreads = itemPar ? 1 : threads, cw = _cw, chunks = _chunks;
                    nint pp = (nint)packed, pw = (nint)w;
                    VecOps.ParallelItems(items, itemPar ? threads : 1, (_, item) =>
                    {
                        int ch = item % chunks, rest = item / chunks, grp = rest % g.Groups, n = rest / g.Groups;
                        int j0 = ch * cw, cwi = Math.Min(cw, g.OV - j0);
                        float* gyg = (float*)pgy + ((long)n * g.K + grp * g.Kg) * g.OV;
                        float* gxg = (float*)pgx + ((long)n * g.C + grp * g.Cg) * g.IV;
                        GemmCore.Run(true, false, g.Cg, cwi, g.Kg, 1f, (float*)pw + (long)grp * g.Kg * g.Cg, g.Cg, gyg + j0, g.OV, 0f, gxg + j0, g.IV,
                            null, false, gemmThreads, directA ? null : (float*)pp + grp * paSize, directA);
                    });
                    return;
                }

                // General: gx = 0, then per (image, group, channel part) and chunk: col = Wᵀ·gy, col2im-add. Items write
                // disjoint channel ranges of gx, so they run in parallel without locks.
                gxs.Clear();
                int ng = g.N * g.Groups;
                if (ng == 1 && threads > 1 && _waves && (g.Cg + threads - 1) / threads * threads > 1.1 * g.Cg)
                {
                    ScatterInWaves(w, gy, gx, threads);
                    return;
                }
                int parts = ItemsPerThread(ng, threads) || threads <= 1 ? 1 : Math.Min(threads, g.Cg);
                bool itemPar2 = parts > 1 || ItemsPerThread(ng, threads);
                int cPer = (g.Cg + parts - 1) / parts;
                bool directA2 = DirectA;
                long partSize = GemmCore.PackedASize(cPer * g.KV, g.Kg);
                float* packed2 = directA2 ? null : Workspace.Get(Workspace.PackedWeights, partSize * parts * g.Groups);
                for (int grp = 0; grp < g.Groups && !directA2; grp++)
                    for (int pt = 0; pt < parts; pt++)
                    {
                        int c0 = pt * cPer, c1 = Math.Min(g.Cg, c0 + cPer);
                        if (c0 >= c1) continue;
                        GemmCore.PackAFull(true, (c1 - c0) * g.KV, g.Kg, 1f, w + (long)grp * g.Kg * g.CKV + (long)c0 * g.KV, g.CKV,
                            packed2 + (grp * parts + pt) * partSize);
                    }
                int gemmThreads2 = itemPar2 ? 1 : threads, cw2 = _cw, chunks2 = _chunks;
                nint pp2 = (nint)packed2, pw2 = (nint)w;
                VecOps.ParallelItems(ng * parts, itemPar2 ? threads : 1, (_, item) =>
                {
                    int pt = item % parts, rest = item / parts, grp = rest % g.Groups, n = rest / g.Groups;
                    int c0 = pt * cPer, c1 = Math.Min(g.Cg, c0 + cPer);
                    if (c0 >= c1) return;
                    int rows = (c1 - c0) * g.KV;
                    float* gyg = (float*)pgy + ((long)n * g.K + grp * g.Kg) * g.OV;
                    float* gxg = (float*)pgx + ((long)n * g.C + grp * g.Cg) * g.IV;
                    float* col = Workspace.Get(Workspace.Columns, (long)rows * cw2);
                    for (int ch = 0; ch < chunks2; ch++)
                    {
                        int j0 = ch * cw2, cwi = Math.Min(cw2, g.OV - j0);
                        GemmCore.Run(true, false, rows, cwi, g.Kg, 1f, (float*)pw2 + (long)grp * g.Kg * g.CKV + (long)c0 * g.KV, g.CKV,
                            gyg + j0, g.OV, 0f, col, cwi, null, false, gemmThreads2,
                            directA2 ? null : (float*)pp2 + (grp * parts + pt) * partSize, directA2);
                        Kernels.Im2col.ScatterAdd(g, col, c0, c1, j0, cwi, gxg);
                    }
                });
            }
        }

        /// <summary>
        /// Backward-data of one image and group whose channels do not split evenly over the threads (ResNet-50 conv1's 3
        /// over 2: one thread did two thirds): the chunks of output positions go to the threads instead, all channels
        /// each, the even chunks first and then the odd ones, so that no two chunks running at once fold into the same
        /// rows of gx (see <see cref="WavesKeepApart"/>).
        /// </summary>
        private void ScatterInWaves(float* w, float* gy, float* gx, int threads)
        {
            var g = G;
            int rows = g.CKV, cw = _cw, chunks = _chunks;
            bool directA = DirectA;
            float* packed = directA ? null : Workspace.Get(Workspace.PackedWeights, GemmCore.PackedASize(rows, g.Kg));
            if (!directA) GemmCore.PackAFull(true, rows, g.Kg, 1f, w, g.CKV, packed);
            nint pw = (nint)w, pp = (nint)packed, pgy = (nint)gy, pgx = (nint)gx;
            for (int wave = 0; wave < 2; wave++)
                VecOps.ParallelItems((chunks - wave + 1) / 2, threads, (_, i) =>
                {
                    int j0 = (2 * i + wave) * cw, cwi = Math.Min(cw, g.OV - j0);
                    float* col = Workspace.Get(Workspace.Columns, (long)rows * cw);
                    GemmCore.Run(true, false, rows, cwi, g.Kg, 1f, (float*)pw, g.CKV, (float*)pgy + j0, g.OV, 0f, col, cwi, null, false, 1,
                        directA ? null : (float*)pp, directA);
                    Kernels.Im2col.ScatterAdd(g, col, 0, g.Cg, j0, cwi, (float*)pgx);
                });
        }

        /// <summary>Whether chunks two apart fold into disjoint rows of gx (2-d): the last gx row chunk k reaches lies
        /// above the first that chunk k + 2 reaches.</summary>
        private static bool WavesKeepApart(in ConvGeometry g, int cw, int chunks)
        {
            if (g.OD != 1 || g.KD != 1) return false;
            for (int k = 0; k + 2 < chunks; k++)
            {
                long lastRow = (Math.Min((long)(k + 1) * cw, g.OV) - 1) / g.OW, firstRow = (long)(k + 2) * cw / g.OW;
                if (firstRow * g.SH <= lastRow * g.SH + (long)(g.KH - 1) * g.DH) return false;
            }
            return true;
        }

        private protected override void RunBackwardWeight(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, Span<float> gws)
        {
            fixed (float* x = xs) fixed (float* gy = gys) fixed (float* gw = gws)
            {
                var g = G;
                int threads = Threads;
                int nb = _nb, batches = (g.N + nb - 1) / nb;
                int items = nb > 1 ? batches * g.Groups : g.N * g.Groups * _chunks;
                bool itemPar = ItemsPerThread(items, threads);
                int workers = itemPar ? Math.Min(threads, items) : 1;
                long wlen = g.WLen;
                // Usually Cg·KV ≥ Kg: then compute gWᵀ[CKV, Kg] = col · gyᵀ, so the big column matrix is the A operand
                // read in place (no packing) and only the small gy chunk is packed; gWᵀ is transposed into gW at the
                // end. Otherwise gW = gy · colᵀ directly. Each worker accumulates into its own buffer (worker 0 into gw
                // itself in the direct layout), summed at the end.
                // A single item whose depth (output positions) is below Kg is one short GEMM split over threads: the
                // direct layout then writes gW once, with no partial buffer or final transpose of the large gW
                // (res5, 512 channels at 7×7: 4.5x faster). With a deep single item (res2's 1×1, 3 136 positions)
                // the transposed layout stays, as its in-place column read saves more than the transpose costs.
                int depth = nb > 1 ? Math.Min(nb, g.N) * g.OV : _cw;
                bool transposed = g.CKV >= g.Kg && (items > 1 || depth >= g.Kg);
                int own = transposed ? workers : workers - 1;
                float* partials = own > 0 ? Workspace.Get(Workspace.Partials, wlen * own) : null;
                if (own > 0) new Span<float>(partials, checked((int)(wlen * own))).Clear();
                if (!transposed && items > 1) gws.Clear();
                float beta = items > 1 ? 1f : 0f;
                nint px = (nint)x, pgy = (nint)gy, pgw = (nint)gw, ppart = (nint)partials;
                bool direct = _direct;
                int cw = _cw, chunks = _chunks, gemmThreads = itemPar ? 1 : threads;
                VecOps.ParallelStatic(items, workers, (wk, item) =>
                {
                    float* colp, gyg; int ldcol, ldgy, cwi, grp;
                    if (nb > 1)
                    {
                        // images [n0, n0 + cnt) side by side: one GEMM whose depth is cnt·OV
                        grp = item % g.Groups;
                        int n0 = item / g.Groups * nb, cnt = Math.Min(nb, g.N - n0);
                        cwi = ldcol = ldgy = cnt * g.OV;
                        colp = Workspace.Get(Workspace.Columns, (long)g.CKV * cwi);
                        gyg = Workspace.Get(Workspace.Scratch, (long)g.Kg * cwi);
                        GatherImages((float*)px, n0, cnt, grp, colp);
                        Interleave((float*)pgy, n0, cnt, grp, gyg, toMatrix: true);
                    }
                    else
                    {
                        int ch = item % chunks, rest = item / chunks, n = rest / g.Groups;
                        grp = rest % g.Groups;
                        int j0 = ch * cw;
                        cwi = Math.Min(cw, g.OV - j0);
                        float* xg = (float*)px + ((long)n * g.C + grp * g.Cg) * g.IV;
                        gyg = (float*)pgy + ((long)n * g.K + grp * g.Kg) * g.OV + j0;
                        ldgy = g.OV;
                        if (direct) { colp = xg + j0; ldcol = g.IV; }
                        else
                        {
                            colp = Workspace.Get(Workspace.Columns, (long)g.CKV * cwi);
                            Kernels.Im2col.Gather(g, xg, 0, g.Cg, j0, cwi, colp);
                            ldcol = cwi;
                        }
                    }
                    if (transposed)
                    {
                        // gWᵀ[CKV, Kg] += col[CKV, cwi] · gyᵀ[cwi, Kg]
                        float* dst = (float*)ppart + wk * wlen + (long)grp * g.Kg * g.CKV;
                        GemmCore.Run(false, true, g.CKV, g.Kg, cwi, 1f, colp, ldcol, gyg, ldgy, 1f, dst, g.Kg, null, false, gemmThreads,
                            null, directA: true);
                    }
                    else
                    {
                        // gW[Kg, CKV] += gy[Kg, cwi] · colᵀ[cwi, CKV]
                        float* dst = (wk == 0 ? (float*)pgw : (float*)ppart + (wk - 1) * wlen) + (long)grp * g.Kg * g.CKV;
                        GemmCore.Run(false, true, g.Kg, g.CKV, cwi, 1f, gyg, ldgy, colp, ldcol, beta, dst, g.CKV, null, false, gemmThreads);
                    }
                });
                if (transposed)
                {
                    for (int wk = 1; wk < workers; wk++)
                        VecOps.AddInPlace(partials, partials + wk * wlen, wlen);
                    // gWᵀ[CKV, Kg] → gW[Kg, CKV] per group, in 8×8 blocks split over threads by rows (a scalar loop of
                    // strided stores took about a fifth of DeepLab's backward-weights)
                    int groups = g.Groups, ckv = g.CKV, kg = g.Kg;
                    VecOps.ParallelRanges(groups * ((ckv + 7) / 8), 64L * kg, (lo, hi) =>
                    {
                        int blocks = (ckv + 7) / 8;
                        for (int b = lo; b < hi; b++)
                        {
                            int grp = b / blocks, r0 = b % blocks * 8;
                            VecOps.Transpose((float*)ppart + (long)grp * kg * ckv, ckv, kg, (float*)pgw + (long)grp * kg * ckv, r0, Math.Min(ckv, r0 + 8));
                        }
                    });
                }
                else
                    for (int wk = 1; wk < workers; wk++)
                        VecOps.AddInPlace(gw, partials + (wk - 1) * wlen, wlen);
            }
        }
    }
}
