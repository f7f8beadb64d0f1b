using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Direct convolution over a channels-in-vector layout (oneDNN's nChw16c), for 1-d and 2-d, groups 1, on AVX-512
/// (14 × 32 tiles) or, where AVX-512 is absent, AVX2 (6 × 16 tiles, <see cref="BlockedConvKernels.Kernel6x16Avx2"/>, and
/// 4 × 16 for backward-weights, <see cref="BlockedConvKernels.KernelWeight4x16Avx2"/>):
/// forward and backward-weights with width stride 1 (any row stride), backward-data of stride-1 layers as the forward
/// of the flipped problem (see <see cref="FlippedForwardAlgorithm"/>; the weights flipped while packed), and 1×1
/// kernels with any stride as 1×1 convolutions on the output's grid.
/// <para>Forward: the input is reordered once per call into zero-bordered blocks of 16 channels
/// ([c/16][row][column][16]), the weights into tiles of 32 output channels ([c][tap][32], a transpose, packed by the
/// thread that uses the tile just before it does). The micro-kernel (<see cref="BlockedConvKernels.Kernel14x32Avx512"/>)
/// computes 14 output positions × 32 output channels with the output channels in the lanes, so neither lanes nor
/// registers go to the padding columns that the implicit GEMM computes and drops (an eighth of DeepLab's work), and no
/// column matrix is written; the output is reordered back to NCHW at the end. Each output row is cut into runs of 7
/// positions (ResNet's widths 56, 28, 14 and 7 divide by 7); two runs make a tile, consecutive in the row or in
/// consecutive rows. Rows that waste fewer positions in runs of 4 (CIFAR's 32) take three runs of 4 per tile
/// (<see cref="BlockedConvKernels.Kernel12x32Avx512"/>).</para>
/// <para>Backward-weights reorders gY the same way and sums gY[k, p]·X[c, p + tap] over the valid positions only,
/// 8 output channels broadcast × 32 input channels in the lanes (<see cref="BlockedConvKernels.KernelWeight8x32Avx512"/>).</para>
/// </summary>
public sealed class BlockedDirectAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;

    /// <summary>The algorithm for every shape it can run (forced).</summary>
    public static BlockedDirectAlgorithm Instance { get; } = new(false);

    /// <summary>The planner's entry: full-rate AVX-512, channel counts that fill the blocks, few wasted positions
    /// (see <see cref="TryPlan"/>).</summary>
    public static BlockedDirectAlgorithm Preferred { get; } = new(true);

    private BlockedDirectAlgorithm(bool heuristic) => _heuristic = heuristic;

    /// <inheritdoc/>
    public string Name => "blocked_direct";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        // the AVX-512 tiles where 512-bit vectors are on, else AVX2 tiles
        bool wide = GemmCore.Avx512On;
        if (!(wide || (Avx2.IsSupported && Fma.IsSupported)) || core.Rank > 2 || core.Groups != 1) return null;
        // backward-data runs the forward of the flipped problem (for a strided 1×1 kernel: a 1×1 over gy whose output
        // is spread over gx's strided positions); a 1×1 forward with a width stride, a 1×1 over the input's strided
        // positions (other forwards run any row stride themselves)
        var run = direction switch
        {
            ConvDirection.BackwardData => FlippedForwardAlgorithm.FlippedDescriptor(core) ?? StridedPointwise(core, true),
            ConvDirection.Forward when core.Stride[^1] != 1 => StridedPointwise(core, false),
            _ => core,
        };
        if (run is null) return null;
        var g = new ConvGeometry(run);
        if (g.SW != 1) return null;
        var s = new Sizes(g, wide);
        // buffers are addressed with int offsets
        if (s.InputFloats * g.N > int.MaxValue || s.OutputFloats * g.N > int.MaxValue || s.WeightFloats > int.MaxValue) return null;
        if (_heuristic)
        {
            // 512-bit tiles only where 512-bit FMAs run at full rate (Zen 4 halves them); AVX2 tiles where AVX-512 is
            // absent; not for layers Winograd takes (VGG-16's: F(2,3) ran 0.67x and 0.78x the AVX2 tiles' time forward
            // and backward-data, measured with AVX-512 switched off on the Xeon, F(4,3) 0.74x on the Zen 5; with
            // AVX-512, F(4,3) 0.84-0.91x and 0.85-0.87x the 512-bit tiles' on the Xeon) but with AVX-512 on AMD's cores
            // (on the Zen 5, F(4,3) forward ran 1.02-1.35x the 512-bit tiles' time on 2 threads and 1.25-1.40x on 1, its
            // flipped backward-data 1.03x and 1.43x)
            if ((wide ? !GemmCore.WideFmaPays : Avx512F.IsSupported)
                || (direction != ConvDirection.BackwardWeight && !(wide && GemmCore.IsAmd) && WinogradAlgorithm.Takes(run))) return null;
            if (g.CKV < 64) return null;
            long positions = (long)g.N * g.OV;
            if (direction != ConvDirection.BackwardWeight)
            {
                // Lanes and positions computed for nothing: channels past C and K in the last blocks, positions past
                // OW in each row's last run (CIFAR's 32-wide rows in runs of 7: 35 computed, a tie with the implicit
                // GEMM; in runs of 4, 0.87-0.93x its time forward and a tie with it backward-data). The
                // weights are transposed on every call, which few positions per weight do not repay: ResNet-50 res5
                // (49 positions) ran 1.09x the implicit GEMM's time, which reads them in place, and its backward-data
                // 0.94-1.07x the lowering's in five paired runs; res4 (196) ran 0.91x forward and 0.80x the flipped
                // implicit GEMM backward. The AVX2 tiles, which waste no positions, ran res5's forward in 0.92-0.94x
                // the implicit GEMM's time on the Zen 5 (with AVX-512 switched off), its backward-data in 1.07x the
                // lowering's.
                double wasteC = 1 - (double)g.C / (s.CBlocks * BlockedConvKernels.Lanes);
                double wasteK = 1 - (double)g.K / (s.KTiles * BlockedConvKernels.Channels);
                double wasteP = 1 - (double)g.OW / s.RowWidth;
                int fewest = wide || direction == ConvDirection.BackwardData ? 128 : 49;
                if (positions < fewest || wasteC > 0.125 || wasteK > 0.125 || wasteP > 1.0 / 14) return null;
            }
            else
            {
                // backward-weights: tiles of 8 output × 32 input channels (AVX2: 4 × 16) over the valid positions only;
                // with few positions the lowering, which writes gW in place, was faster: ResNet-50 res5 (49) on
                // AVX-512 (1.08 against 1.22 ms), res4 (196) on AVX2 (0.94x the AVX2 tiles' time)
                double wasteC = 1 - (double)g.C / ((wide ? s.XBlocks : s.CBlocks) * BlockedConvKernels.Lanes);
                if (positions < (wide ? 128 : 256) || g.K % (wide ? 8 : 4) != 0 || wasteC > 0.125) return null;
            }
        }
        return ReferenceEquals(run, core) ? new Plan(core, direction, s)
            : new OuterPlan(core, direction, new Plan(run, ConvDirection.Forward, s, core, direction == ConvDirection.BackwardData));
    }

    /// <summary>For a 1×1 kernel with no padding, the 1×1 stride-1 convolution over the output's grid that runs it:
    /// backward-data (<paramref name="flipped"/>): gy by Wᵀ, whose output holds gx at the strided positions (zero
    /// elsewhere); forward: the input at the strided positions by W. Otherwise null.</summary>
    private static ConvDescriptor? StridedPointwise(ConvDescriptor core, bool flipped)
    {
        int r = core.Rank;
        for (int i = 0; i < r; i++)
            if (core.KernelSize[i] != 1 || core.PadBegin[i] != 0 || core.PadEnd[i] != 0) return null;
        var ones = Enumerable.Repeat(1, r).ToArray();
        var zeros = new int[r];
        return ConvDescriptor.FromGeometry(r, core.N, flipped ? core.OutChannels : core.InChannels, flipped ? core.InChannels : core.OutChannels, 1,
            core.OutputSize, ones, ones, ones, zeros, zeros, false);
    }

    /// <summary>Buffer sizes and blocking of one geometry (one image).</summary>
    private readonly struct Sizes
    {
        public readonly bool Wide;
        public readonly int CBlocks, XBlocks, KTiles, Run, PerTile, Runs, RowWidth, Tiles, GridH, GridW;
        public readonly long InputFloats, OutputFloats, WeightFloats, Positions;

        public Sizes(in ConvGeometry g, bool wide)
        {
            // AVX-512 tiles: two runs of 7 positions, or three of 4 where that wastes fewer positions per row (rows
            // 32 wide: 35 positions against 32); AVX2 tiles: six positions anywhere (runs of 1), which waste none
            Wide = wide;
            (Run, PerTile) = !wide ? (1, 6) : RowWaste(g.OW, 4) < RowWaste(g.OW, BlockedConvKernels.Run) ? (4, 3) : (BlockedConvKernels.Run, 2);
            const int L = BlockedConvKernels.Lanes;
            CBlocks = (g.C + L - 1) / L;
            // backward-weights reads the input's blocks in pairs: one zero block past an odd count
            XBlocks = (CBlocks + 1) / 2 * 2;
            KTiles = (g.K + BlockedConvKernels.Channels - 1) / BlockedConvKernels.Channels;
            Runs = (g.OW + Run - 1) / Run;
            RowWidth = Runs * Run;
            Tiles = (g.OH * Runs + PerTile - 1) / PerTile;
            // the rows and columns the tiles read: the last run's positions past OW read up to its end
            GridH = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1;
            GridW = RowWidth + (g.KW - 1) * g.DW;
            InputFloats = (long)XBlocks * GridH * GridW * L;
            Positions = (long)g.OH * RowWidth;
            OutputFloats = KTiles * BlockedConvKernels.Channels * Positions;
            WeightFloats = (long)KTiles * CBlocks * g.KV * L * BlockedConvKernels.Channels;
        }

        /// <summary>The fraction of a row's computed positions past its <paramref name="width"/> with runs of <paramref name="run"/>.</summary>
        private static double RowWaste(int width, int run) => 1 - (double)width / ((width + run - 1) / run * run);
    }

    private sealed unsafe class Plan : ConvPlan
    {
        private const int L = BlockedConvKernels.Lanes, Ch = BlockedConvKernels.Channels;
        private readonly Sizes _s;
        // Offset of step (c-block, tap) in the blocked input, from a position's first float, and of its weights
        // (channel 16·cb, tap) in a packed tile.
        private readonly int[] _toff, _woff;
        // Rows transposed in one piece before they are copied into the grid (see ReorderInput), per thread: the
        // workspace slots hold the call's other buffers.
        [ThreadStatic] private static float[]? t_rows;
        // Set when this plan runs another layer's pass (see OuterPlan). Its backward-data: the weights arrive as that
        // layer's, and the output goes to its gx, at position (oy·SH, ox·SW) of each plane (strides above 1 only for a
        // 1×1 kernel). Its strided 1×1 forward: the input is read at (oy·SH, ox·SW) of that layer's planes.
        private readonly bool _flipped;
        private readonly int _outSH = 1, _outSW = 1, _outW, _outPlane, _inSH = 1, _inSW = 1, _inW, _inPlane;

        public Plan(ConvDescriptor d, ConvDirection dir, Sizes s, ConvDescriptor? outer = null, bool outerBackward = false) : base("blocked_direct", d, dir)
        {
            var g = G;
            _s = s;
            (_outW, _outPlane, _inW, _inPlane) = (g.OW, g.OV, g.IW, g.IV);
            if (outer is not null)
            {
                var b = new ConvGeometry(outer);
                if (outerBackward) (_flipped, _outSH, _outSW, _outW, _outPlane) = (true, b.SH, b.SW, b.IW, b.IV);
                else (_inSH, _inSW, _inW, _inPlane) = (b.SH, b.SW, b.IW, b.IV);
            }
            _toff = GC.AllocateArray<int>(s.CBlocks * g.KV, pinned: true);
            _woff = GC.AllocateArray<int>(s.CBlocks * g.KV, pinned: true);
            long plane = (long)s.GridH * s.GridW * L;
            for (int cb = 0, t = 0; cb < s.CBlocks; cb++)
                for (int ky = 0; ky < g.KH; ky++)
                    for (int kx = 0; kx < g.KW; kx++, t++)
                    {
                        _toff[t] = (int)(cb * plane + ((long)ky * g.DH * s.GridW + kx * g.DW) * L);
                        _woff[t] = ((cb * L) * g.KV + ky * g.KW + kx) * Ch;
                    }
        }

        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            var g = G;
            var s = _s;
            int threads = Threads, tiles = s.Tiles, kBlocks = (g.K + L - 1) / L;
            long tileFloats = s.WeightFloats / s.KTiles;
            // the bias padded to whole tiles
            float* bias = bs.IsEmpty ? null : Workspace.Get(Workspace.Partials, s.KTiles * Ch);
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* b = bs) fixed (float* y = ys)
            {
                if (bias != null)
                {
                    new Span<float>(bias, s.KTiles * Ch).Clear();
                    bs.CopyTo(new Span<float>(bias, g.K));
                }
                nint px = (nint)x, pw = (nint)w, py = (nint)y, pbias = (nint)bias;
                if (ItemsPerThread(g.N, threads))
                {
                    // Batches: whole images per thread, each reordered, convolved and reordered back while in L2 (all
                    // of a CIFAR batch reordered up front is 10 MB); the weight tiles packed once, up front.
                    float* packed = Workspace.Get(Workspace.PackedWeights, s.WeightFloats);
                    nint pp = (nint)packed;
                    VecOps.ParallelItems(s.KTiles, threads, (_, kt) => PackWeights((float*)pw, (float*)pp + kt * tileFloats, kt));
                    VecOps.ParallelItems(g.N, threads, (_, n) =>
                    {
                        float* xb = Workspace.Get(Workspace.Columns, s.InputFloats), yb = Workspace.Get(Workspace.Scratch, s.OutputFloats);
                        for (int cb = 0; cb < s.XBlocks; cb++) ReorderInput((float*)px, xb, n, cb);
                        for (int kt = 0; kt < s.KTiles; kt++)
                            Tiles(xb, (float*)pp + kt * tileFloats, yb, kt, pbias == 0 ? null : (float*)pbias + kt * Ch, relu, 0, tiles);
                        for (int kb = 0; kb < kBlocks; kb++) ReorderOutput(yb, (float*)py, n, kb);
                    });
                    return;
                }
                float* xbAll = Workspace.Get(Workspace.Columns, s.InputFloats * g.N);
                float* ybAll = Workspace.Get(Workspace.Scratch, s.OutputFloats * g.N);
                nint pxb = (nint)xbAll, pyb = (nint)ybAll;
                // 1. the input into the blocked layout
                VecOps.ParallelItems(g.N * s.XBlocks, threads, (_, i) => ReorderInput((float*)px, (float*)pxb + i / s.XBlocks * s.InputFloats, i / s.XBlocks, i % s.XBlocks));
                // 2. tiles: items (32 output channels, image, run of tiles) in fixed ranges per thread, ordered so that
                // a thread packs each weight tile it needs once, into its own buffer, just before it uses it (in L2
                // then, rather than written to memory by a separate pass and read back)
                int units = g.N * s.KTiles;
                int chunks = Math.Max(1, Math.Min(tiles, (4 * threads + units - 1) / units));
                int items = units * chunks, parts = Math.Min(threads, items);
                VecOps.ParallelItems(parts, parts, (_, part) =>
                {
                    float* wk = Workspace.Get(Workspace.PackedWeights, tileFloats);
                    int packedTile = -1;
                    for (int item = (int)((long)items * part / parts), end = (int)((long)items * (part + 1) / parts); item < end; item++)
                    {
                        int unit = item / chunks, chunk = item % chunks, kt = unit / g.N, n = unit % g.N;
                        if (kt != packedTile) PackWeights((float*)pw, wk, packedTile = kt);
                        Tiles((float*)pxb + n * s.InputFloats, wk, (float*)pyb + n * s.OutputFloats, kt, pbias == 0 ? null : (float*)pbias + kt * Ch, relu,
                            (int)((long)tiles * chunk / chunks), (int)((long)tiles * (chunk + 1) / chunks));
                    }
                });
                // 3. the output back to NCHW
                VecOps.ParallelRanges(g.N * kBlocks, s.Positions * L, (lo, hi) =>
                {
                    for (int i = lo; i < hi; i++) ReorderOutput((float*)pyb + i / kBlocks * s.OutputFloats, (float*)py, i / kBlocks, i % kBlocks);
                });
            }
        }

        /// <summary>Tiles [t0, t1) of one image (blocked input <paramref name="xn"/>, blocked output
        /// <paramref name="yn"/>) for output-channel tile <paramref name="kt"/>, whose packed weights are at
        /// <paramref name="wk"/>.</summary>
        private void Tiles(float* xn, float* wk, float* yn, int kt, float* bias, bool relu, int t0, int t1)
        {
            var g = G;
            var s = _s;
            int runsPerImage = g.OH * s.Runs;
            float* yk = yn + kt * Ch * s.Positions;
            int* toff = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_toff));
            int* woff = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_woff));
            float** at = stackalloc float*[6], yt = stackalloc float*[6];
            for (int t = t0; t < t1; t++)
            {
                // runs past the image's last repeat it
                if (!s.Wide)
                {
                    // AVX2: six positions (runs of one: Runs = OW), the tile's two halves of 16 output channels one after
                    // the other
                    for (int j = 0; j < 6; j++)
                    {
                        int r = Math.Min(6 * t + j, runsPerImage - 1), oy = r / s.Runs, ox = r % s.Runs;
                        at[j] = xn + ((long)oy * g.SH * s.GridW + ox) * L;
                        yt[j] = yk + ((long)oy * s.RowWidth + ox) * L;
                    }
                    for (int h = 0; h < 2; h++)
                    {
                        BlockedConvKernels.Kernel6x16Avx2(_toff.Length, toff, at, woff, wk + h * L, g.KV * Ch, yt, bias == null ? null : bias + h * L, relu);
                        for (int j = 0; j < 6; j++) yt[j] += L * s.Positions;
                    }
                    continue;
                }
                int r0 = s.PerTile * t, r1 = Math.Min(r0 + 1, runsPerImage - 1), r2 = Math.Min(r0 + 2, runsPerImage - 1);
                int oy0 = r0 / s.Runs, ox0 = r0 % s.Runs * s.Run, oy1 = r1 / s.Runs, ox1 = r1 % s.Runs * s.Run;
                float* a0 = xn + ((long)oy0 * g.SH * s.GridW + ox0) * L, a1 = xn + ((long)oy1 * g.SH * s.GridW + ox1) * L;
                float* y0 = yk + ((long)oy0 * s.RowWidth + ox0) * L, y1 = yk + ((long)oy1 * s.RowWidth + ox1) * L;
                if (s.PerTile == 3)
                {
                    int oy2 = r2 / s.Runs, ox2 = r2 % s.Runs * s.Run;
                    BlockedConvKernels.Kernel12x32Avx512(_toff.Length, toff, a0, a1, xn + ((long)oy2 * g.SH * s.GridW + ox2) * L, woff, wk, g.KV * Ch,
                        y0, y1, yk + ((long)oy2 * s.RowWidth + ox2) * L, (nint)(s.Positions * L), bias, relu);
                }
                else
                    BlockedConvKernels.Kernel14x32Avx512(_toff.Length, toff, a0, a1, woff, wk, g.KV * Ch, y0, y1, (nint)(s.Positions * L), bias, relu);
            }
        }

        private protected override void RunBackwardWeight(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, Span<float> gws)
        {
            // gW[k, c, tap] = Σ over images and valid positions p of gY[k, p]·X[c, p + tap]: both in the blocked
            // layouts, tiles of 8 output channels (gY broadcast) × 32 input channels (two input vectors) × one tap,
            // summed in chunks of rows so that a chunk's input stays in L1 while the tiles of one channel pair pass
            // over it. Batches of images go to the threads whole (each reorders its image while the other works, and
            // keeps it in L2; CIFAR's 32 images reordered up front were 19 MB and cost a third of the time), each
            // summing into its own tiles over a fixed range of images, added at the end; one image's tiles are split
            // over the threads instead. Either way the sums do not depend on thread timing.
            var g = G;
            var s = _s;
            // tiles of UK output × UC input channels: 8 × 32 on AVX-512, 4 × 16 on AVX2
            int threads = Threads, kb16 = (g.K + L - 1) / L, uk = s.Wide ? 8 : 4, uc = s.Wide ? Ch : L;
            int kTiles = (g.K + uk - 1) / uk, cTiles = s.Wide ? s.XBlocks / 2 : s.CBlocks, units = kTiles * cTiles;
            long gyFloats = (long)kb16 * g.OV * L, accFloats = (long)units * g.KV * uk * uc;
            bool byImage = ItemsPerThread(g.N, threads);
            int parts = byImage ? threads : Math.Min(threads, units);
            float* acc = Workspace.Get(Workspace.Partials, accFloats * (byImage ? parts : 1));
            fixed (float* x = xs) fixed (float* gy = gys) fixed (float* gw = gws)
            {
                nint px = (nint)x, pgy = (nint)gy, pacc = (nint)acc;
                if (byImage)
                    VecOps.ParallelStatic(g.N, parts, (part, n) =>
                    {
                        float* xb = Workspace.Get(Workspace.Columns, s.InputFloats), gyb = Workspace.Get(Workspace.Scratch, gyFloats);
                        for (int cb = 0; cb < s.XBlocks; cb++) ReorderInput((float*)px, xb, n, cb);
                        for (int kb = 0; kb < kb16; kb++) ReorderGrad((float*)pgy, gyb, n, kb);
                        bool first = n == (int)((long)g.N * part / parts);
                        AccumulateWeightGrad(xb, gyb, (float*)pacc + part * accFloats, 0, units, first);
                    });
                else
                {
                    float* xb = Workspace.Get(Workspace.Columns, s.InputFloats * g.N), gyb = Workspace.Get(Workspace.Scratch, gyFloats * g.N);
                    nint pxb = (nint)xb, pgyb = (nint)gyb;
                    int xItems = g.N * s.XBlocks;
                    VecOps.ParallelItems(xItems + g.N * kb16, threads, (_, i) =>
                    {
                        if (i < xItems) ReorderInput((float*)px, (float*)pxb + i / s.XBlocks * s.InputFloats, i / s.XBlocks, i % s.XBlocks);
                        else ReorderGrad((float*)pgy, (float*)pgyb + (i - xItems) / kb16 * gyFloats, (i - xItems) / kb16, (i - xItems) % kb16);
                    });
                    VecOps.ParallelItems(parts, parts, (_, part) =>
                    {
                        int u0 = (int)((long)units * part / parts), u1 = (int)((long)units * (part + 1) / parts);
                        for (int n = 0; n < g.N; n++)
                            AccumulateWeightGrad((float*)pxb + n * s.InputFloats, (float*)pgyb + n * gyFloats, (float*)pacc, u0, u1, n == 0);
                    });
                }
                for (int t = 1; byImage && t < parts; t++) VecOps.AddInPlace(acc, acc + t * accFloats, accFloats);
                // tiles [c tile][k tile][tap][UK][UC] → gW[k][c][tap]: per output channel and input-channel tile, a KV × UC
                // transpose
                nint pgw = (nint)gw;
                VecOps.ParallelRanges(g.K, (long)g.CKV, (lo, hi) =>
                {
                    for (int k = lo; k < hi; k++)
                        for (int ct = 0; ct < cTiles && ct * uc < g.C; ct++)
                        {
                            float* src = (float*)pacc + ((long)(ct * kTiles + k / uk) * g.KV * uk + k % uk) * uc;
                            int cn = Math.Min(uc, g.C - ct * uc);
                            VecOps.Transpose(src, g.KV, cn, (float*)pgw + ((long)k * g.C + ct * uc) * g.KV, 0, g.KV, uk * uc, g.KV);
                        }
                });
            }
        }

        /// <summary>Adds one image's products to tiles [u0, u1) (unit u: input channels [UC·(u / kTiles), +UC), output
        /// channels [UK·(u % kTiles), +UK), all taps) at <paramref name="acc"/>, overwriting them when
        /// <paramref name="fresh"/>. Chunk by chunk of rows; consecutive units share their input channels, which stay
        /// in L1 for a chunk.</summary>
        private void AccumulateWeightGrad(float* xb, float* gyb, float* acc, int u0, int u1, bool fresh)
        {
            var g = G;
            var s = _s;
            int uk = s.Wide ? 8 : 4, uc = s.Wide ? Ch : L, kTiles = (g.K + uk - 1) / uk, chunkRows = Math.Max(1, 128 / g.OW);
            nint xHalf = (nint)(s.GridH * s.GridW * L), xRow = (nint)g.SH * s.GridW * L, gRow = (nint)g.OW * L;
            int* toff = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_toff));
            for (int oy = 0; oy < g.OH; oy += chunkRows)
            {
                int rows = Math.Min(chunkRows, g.OH - oy);
                for (int u = u0; u < u1; u++)
                {
                    int ct = u / kTiles, kt = u % kTiles;
                    float* tile = acc + (long)u * g.KV * uk * uc;
                    float* xc = xb + ct * (uc / L) * xHalf + oy * xRow;
                    // output channels k = UK·kt: block k / 16, lane k % 16
                    float* gc = gyb + (long)(kt * uk / L) * g.OV * L + kt * uk % L + (long)oy * gRow;
                    for (int tap = 0; tap < g.KV; tap++)
                        if (s.Wide)
                            BlockedConvKernels.KernelWeight8x32Avx512(rows, g.OW, gc, gRow, xc + toff[tap], xHalf, xRow, tile + tap * uk * uc, fresh && oy == 0);
                        else
                            BlockedConvKernels.KernelWeight4x16Avx2(rows, g.OW, gc, gRow, xc + toff[tap], xRow, tile + tap * uk * uc, fresh && oy == 0);
                }
            }
        }

        /// <summary>Block kb (16 channels) of image n's gY into [position][16] of that image's buffer
        /// <paramref name="gyb"/>, zero past K.</summary>
        private void ReorderGrad(float* gy, float* gyb, int n, int kb)
        {
            var g = G;
            int k0 = kb * L, kn = Math.Min(L, g.K - k0);
            float* dst = gyb + (long)kb * g.OV * L;
            if (kn < L) new Span<float>(dst, g.OV * L).Clear();
            VecOps.Transpose(gy + ((long)n * g.K + k0) * g.OV, kn, g.OV, dst, 0, kn, g.OV, L);
        }

        /// <summary>The outer layer's forward output or backward-data gx (lengths checked by the caller).</summary>
        internal void RunOuter(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool relu) => RunForward(x, w, bias, y, relu);

        /// <summary>Tile <paramref name="kt"/> of the weights into <paramref name="dst"/>: [c][tap][32 output channels], zero
        /// past C and K.</summary>
        private void PackWeights(float* w, float* dst, int kt)
        {
            var g = G;
            long tileFloats = _s.WeightFloats / _s.KTiles;
            int k0 = kt * Ch, kn = Math.Min(Ch, g.K - k0);
            if (kn < Ch || g.C % L != 0) new Span<float>(dst, (int)tileFloats).Clear();
            if (!_flipped)
                // W[k0 + o][c·KV + tap] → dst[c·KV + tap][o]
                VecOps.Transpose(w + (long)k0 * g.CKV, kn, g.CKV, dst, 0, kn, g.CKV, Ch);
            else if (g.KV == 1 && kn == Ch)
                // backward-data's 1×1 weights W[c][k0 + o] (this plan's C is their K): rows already in place, copied
                // as fixed 128-byte blocks the JIT writes out (a library call per row of res3.1x1s2's 1024 took 7 % of
                // its backward-data; this copy runs it in 0.95-0.98× the time)
                for (int c = 0; c < g.C; c++)
                    Unsafe.CopyBlockUnaligned(dst + (long)c * Ch, w + (long)c * g.K + k0, Ch * sizeof(float));
            else if (g.KV == 1)
                for (int c = 0; c < g.C; c++)
                    Buffer.MemoryCopy(w + (long)c * g.K + k0, dst + (long)c * Ch, kn * 4L, kn * 4L);
            else
                // backward-data's weights W[c][k0 + o][tap] (this plan's C is their K) → dst[c·KV + KV − 1 − tap][o]:
                // the flip and the transpose in one pass, taps written in reverse through a negative row stride
                for (int c = 0; c < g.C; c++)
                    VecOps.Transpose(w + ((long)c * g.K + k0) * g.KV, kn, g.KV, dst + ((long)c * g.KV + g.KV - 1) * Ch, 0, kn, g.KV, -Ch);
        }

        /// <summary>Channel block <paramref name="cb"/> of image <paramref name="n"/> of the input into the image's
        /// zero-bordered grid at <paramref name="xb"/>: input row iy at grid row iy + PH, column ix at PW + ix.</summary>
        private void ReorderInput(float* x, float* xb, int n, int cb)
        {
            var g = G;
            var s = _s;
            int c0 = cb * L, cn = Math.Min(L, g.C - c0);
            long plane = (long)s.GridH * s.GridW * L;
            float* dst = xb + cb * plane;
            float* src = x + ((long)n * g.C + c0) * _inPlane;
            new Span<float>(dst, (int)plane).Clear();
            if (_inSH != 1 || _inSW != 1)
            {
                // a strided 1×1 layer's input: its positions (oy·SH, ox·SW), gathered
                for (int oy = 0; oy < g.IH && cn > 0; oy++)
                    for (int ox = 0; ox < g.IW; ox++)
                    {
                        float* d = dst + ((long)oy * s.GridW + ox) * L, v = src + (long)oy * _inSH * _inW + ox * _inSW;
                        for (int c = 0; c < cn; c++) d[c] = v[(long)c * _inPlane];
                    }
                return;
            }
            int cols = Math.Min(g.IW, s.GridW - g.PW), rows = Math.Min(g.IH, s.GridH - g.PH);
            if (cols <= 0 || rows <= 0 || cn <= 0) return;
            if (g.IW % 8 == 0)
            {
                // 16 channel rows × cols → cols × 16, row by row into the grid
                for (int iy = 0; iy < rows; iy++)
                    VecOps.Transpose(src + (long)iy * g.IW, cn, cols, dst + ((long)(iy + g.PH) * s.GridW + g.PW) * L, 0, cn, _inPlane, L);
                return;
            }
            // Rows whose width is not a multiple of the 8×8 transpose blocks would leave their last columns to scalar
            // code (6 of ResNet's 14): transpose the rows in one go into scratch, then copy them into the grid.
            float* t = GemmCore.ThreadBuffer(ref t_rows, rows * g.IW * L);
            if (cn < L) new Span<float>(t, rows * g.IW * L).Clear();
            VecOps.Transpose(src, cn, rows * g.IW, t, 0, cn, _inPlane, L);
            for (int iy = 0; iy < rows; iy++)
                Buffer.MemoryCopy(t + (long)iy * g.IW * L, dst + ((long)(iy + g.PH) * s.GridW + g.PW) * L, cols * L * 4L, cols * L * 4L);
        }

        /// <summary>Output block kb (16 channels) of image n from its blocked output <paramref name="yb"/> ([position][16])
        /// to NCHW rows.</summary>
        private void ReorderOutput(float* yb, float* y, int n, int kb)
        {
            var g = G;
            var s = _s;
            int k0 = kb * L, kn = Math.Min(L, g.K - k0);
            // block kb of tile kb/2 is at (kb/2)·32·Positions + (kb%2)·16·Positions = kb·16·Positions
            float* src = yb + (long)kb * L * s.Positions;
            float* dst = y + ((long)n * g.K + k0) * _outPlane;
            if (_outSH != 1 || _outSW != 1)
            {
                // backward-data of a strided 1×1 kernel: gx is zero but at the strided positions
                new Span<float>(dst, kn * _outPlane).Clear();
                for (int oy = 0; oy < g.OH; oy++)
                    for (int ox = 0; ox < g.OW; ox++)
                    {
                        float* v = src + ((long)oy * s.RowWidth + ox) * L;
                        float* d = dst + (long)oy * _outSH * _outW + ox * _outSW;
                        for (int c = 0; c < kn; c++) d[(long)c * _outPlane] = v[c];
                    }
                return;
            }
            if (s.RowWidth == g.OW)
            {
                // rows without padding positions: one transpose of the whole image
                VecOps.Transpose(src, g.OV, kn, dst, 0, g.OV, L, g.OV);
                return;
            }
            for (int oy = 0; oy < g.OH; oy++)
                VecOps.Transpose(src + (long)oy * s.RowWidth * L, g.OW, kn, dst + (long)oy * g.OW, 0, g.OW, L, g.OV);
        }
    }
    /// <summary>A layer's pass run as the blocked forward of another problem: backward-data of a stride-1 layer as the
    /// forward of its flipped problem (see <see cref="FlippedForwardAlgorithm"/>), the weights flipped while they are
    /// packed (one pass over them, not two); a strided 1×1 kernel's backward-data and forward as 1×1 convolutions on
    /// the output's grid.</summary>
    private sealed class OuterPlan(ConvDescriptor d, ConvDirection direction, Plan inner) : ConvPlan("blocked_direct", d, direction)
    {
        private protected override void RunForward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool relu)
            => inner.RunOuter(x, w, bias, y, relu);

        private protected override void RunBackwardData(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
        {
            // as in FlippedForwardAlgorithm: infinite weights would meet gy's zero border
            if (!VecOps.AllFinite(w))
            {
                Lowering.BackwardData(gy, w, gx);
                return;
            }
            inner.RunOuter(gy, w, default, gx, false);
        }
    }
}
