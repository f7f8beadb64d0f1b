using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Direct forward convolution over a channels-in-vector layout (oneDNN's nChw16c), for 1-d and 2-d, groups 1,
/// width stride 1, on AVX-512. The input is reordered once per call into zero-bordered blocks of 16 channels
/// ([c/16][row][column][16]), the weights into tiles of 32 output channels, [c][tap][32] (a plain transpose); the micro-kernel
/// (<see cref="BlockedConvKernels.Kernel14x32Avx512"/>) then computes 14 output positions × 32 output channels with
/// output channels in the lanes, so neither lanes nor registers go to the padding columns that the implicit GEMM
/// computes and drops (an eighth of DeepLab's work), and no column matrix is written. The output is reordered back
/// to NCHW at the end. Each output row is cut into runs of 7 positions (the width of ResNet's 56, 28, 14 and 7
/// images divides by 7); two runs make a tile, consecutive in the row or in consecutive rows.
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
        if (direction != ConvDirection.Forward || !Avx512F.IsSupported || !GemmCore.UseAvx512 || core.Rank > 2 || core.Groups != 1) return null;
        var g = new ConvGeometry(core);
        if (g.SW != 1) return null;
        var s = new Sizes(g);
        // buffers are addressed with int offsets
        if (s.InputFloats * g.N > int.MaxValue || s.OutputFloats * g.N > int.MaxValue || s.WeightFloats > int.MaxValue) return null;
        if (_heuristic)
        {
            // Lanes and positions computed for nothing: channels past C and K in the last blocks, positions past OW
            // in each row's last run (CIFAR's 32-wide rows: 35 computed, a tie with the implicit GEMM). The weights
            // are transposed on every call, which few positions per weight do not repay (ResNet-50 res4, 196
            // positions: a tie; res5, 49: 1.6x slower), while the implicit GEMM reads them in place.
            double wasteC = 1 - (double)g.C / (s.CBlocks * BlockedConvKernels.Lanes);
            double wasteK = 1 - (double)g.K / (s.KTiles * BlockedConvKernels.Channels);
            double wasteP = 1 - (double)g.OW / s.RowWidth;
            if (!GemmCore.WideFmaPays || g.CKV < 64 || (long)g.N * s.Positions < 512 || wasteC > 0.125 || wasteK > 0.125 || wasteP > 0.0625) return null;
        }
        return new Plan(core, s);
    }

    /// <summary>Buffer sizes and blocking of one geometry (one image).</summary>
    private readonly struct Sizes
    {
        public readonly int CBlocks, KTiles, Runs, RowWidth, GridH, GridW;
        public readonly long InputFloats, OutputFloats, WeightFloats, Positions;

        public Sizes(in ConvGeometry g)
        {
            const int L = BlockedConvKernels.Lanes;
            CBlocks = (g.C + L - 1) / L;
            KTiles = (g.K + BlockedConvKernels.Channels - 1) / BlockedConvKernels.Channels;
            Runs = (g.OW + BlockedConvKernels.Run - 1) / BlockedConvKernels.Run;
            RowWidth = Runs * BlockedConvKernels.Run;
            // the rows and columns the tiles read: the last run's positions past OW read up to its end
            GridH = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1;
            GridW = RowWidth + (g.KW - 1) * g.DW;
            InputFloats = (long)CBlocks * GridH * GridW * L;
            Positions = (long)g.OH * RowWidth;
            OutputFloats = KTiles * BlockedConvKernels.Channels * Positions;
            WeightFloats = (long)KTiles * CBlocks * g.KV * L * BlockedConvKernels.Channels;
        }
    }

    private sealed unsafe class Plan : ConvPlan
    {
        private const int L = BlockedConvKernels.Lanes, Ch = BlockedConvKernels.Channels, Run = BlockedConvKernels.Run;
        private readonly Sizes _s;
        // Offset of step (c-block, tap) in the blocked input, from a position's first float, and of its weights
        // (channel 16·cb, tap) in a packed tile.
        private readonly int[] _toff, _woff;

        public Plan(ConvDescriptor d, Sizes s) : base("blocked_direct", d, ConvDirection.Forward)
        {
            var g = G;
            _s = s;
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
            int threads = Threads;
            float* xb = Workspace.Get(Workspace.Columns, s.InputFloats * g.N);
            float* yb = Workspace.Get(Workspace.Scratch, s.OutputFloats * g.N);
            // packed weights, then the bias padded to whole tiles
            float* wb = Workspace.Get(Workspace.PackedWeights, s.WeightFloats + s.KTiles * Ch);
            float* bias = bs.IsEmpty ? null : wb + s.WeightFloats;
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* b = bs) fixed (float* y = ys)
            {
                if (bias != null)
                {
                    new Span<float>(bias, s.KTiles * Ch).Clear();
                    bs.CopyTo(new Span<float>(bias, g.K));
                }
                nint px = (nint)x, pw = (nint)w, py = (nint)y, pxb = (nint)xb, pyb = (nint)yb, pwb = (nint)wb;
                // 1. weights and input into the blocked layouts
                int cBlocksAll = g.N * s.CBlocks;
                VecOps.ParallelItems(s.KTiles + cBlocksAll, threads, (_, i) =>
                {
                    if (i < s.KTiles) PackWeights((float*)pw, (float*)pwb, i);
                    else ReorderInput((float*)px, (float*)pxb, i - s.KTiles);
                });
                // 2. tiles: (image, 32 output channels, run of tiles); a part keeps one weight tile across its tiles
                int runsPerImage = g.OH * s.Runs, tiles = (runsPerImage + 1) / 2;
                int units = g.N * s.KTiles;
                int chunks = Math.Max(1, Math.Min(tiles, (4 * threads + units - 1) / units));
                nint ptoff = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_toff));
                nint pwoff = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_woff)), pbias = (nint)bias;
                nint wl = g.KV * Ch;
                VecOps.ParallelStatic(units * chunks, threads, (_, item) =>
                {
                    int unit = item / chunks, chunk = item % chunks, n = unit / s.KTiles, kt = unit % s.KTiles;
                    int t0 = (int)((long)tiles * chunk / chunks), t1 = (int)((long)tiles * (chunk + 1) / chunks);
                    float* xn = (float*)pxb + n * s.InputFloats;
                    float* yk = (float*)pyb + n * s.OutputFloats + kt * Ch * s.Positions;
                    float* wk = (float*)pwb + kt * (s.WeightFloats / s.KTiles);
                    float* bk = pbias == 0 ? null : (float*)pbias + kt * Ch;
                    for (int t = t0; t < t1; t++)
                    {
                        // the second run repeats the first when the image has an odd number of runs
                        int r0 = 2 * t, r1 = Math.Min(2 * t + 1, runsPerImage - 1);
                        int oy0 = r0 / s.Runs, ox0 = r0 % s.Runs * Run, oy1 = r1 / s.Runs, ox1 = r1 % s.Runs * Run;
                        BlockedConvKernels.Kernel14x32Avx512(_toff.Length, (int*)ptoff,
                            xn + ((long)oy0 * g.SH * s.GridW + ox0) * L, xn + ((long)oy1 * g.SH * s.GridW + ox1) * L, (int*)pwoff, wk, wl,
                            yk + ((long)oy0 * s.RowWidth + ox0) * L, yk + ((long)oy1 * s.RowWidth + ox1) * L,
                            (nint)(s.Positions * L), bk, relu);
                    }
                });
                // 3. the output back to NCHW
                int kBlocks = (g.K + L - 1) / L;
                VecOps.ParallelRanges(g.N * kBlocks, s.Positions * L, (lo, hi) =>
                {
                    for (int i = lo; i < hi; i++) ReorderOutput((float*)pyb, (float*)py, i / kBlocks, i % kBlocks);
                });
            }
        }

        /// <summary>Tile <paramref name="kt"/> of the weights: [c][tap][32 output channels], zero past C and K.</summary>
        private void PackWeights(float* w, float* wb, int kt)
        {
            var g = G;
            long tileFloats = _s.WeightFloats / _s.KTiles;
            float* dst = wb + kt * tileFloats;
            int k0 = kt * Ch, kn = Math.Min(Ch, g.K - k0);
            if (kn < Ch || g.C % L != 0) new Span<float>(dst, (int)tileFloats).Clear();
            // W[k0 + o][c·KV + tap] → dst[c·KV + tap][o]
            VecOps.Transpose(w + (long)k0 * g.CKV, kn, g.CKV, dst, 0, kn, g.CKV, Ch);
        }

        /// <summary>Channel block <paramref name="item"/> (image·CBlocks + block) of the input into the zero-bordered
        /// grid: input row iy at grid row iy + PH, column ix at PW + ix.</summary>
        private void ReorderInput(float* x, float* xb, int item)
        {
            var g = G;
            var s = _s;
            int n = item / s.CBlocks, cb = item % s.CBlocks, c0 = cb * L, cn = Math.Min(L, g.C - c0);
            long plane = (long)s.GridH * s.GridW * L;
            float* dst = xb + n * s.InputFloats + cb * plane;
            float* src = x + ((long)n * g.C + c0) * g.IV;
            new Span<float>(dst, (int)plane).Clear();
            int cols = Math.Min(g.IW, s.GridW - g.PW);
            for (int iy = 0; iy < g.IH; iy++)
            {
                int row = iy + g.PH;
                if (row >= s.GridH || cols <= 0) break;
                // 16 channel rows × cols → cols × 16
                VecOps.Transpose(src + (long)iy * g.IW, cn, cols, dst + ((long)row * s.GridW + g.PW) * L, 0, cn, g.IV, L);
            }
        }

        /// <summary>Output block kb (16 channels) of image n from [position][16] to NCHW rows.</summary>
        private void ReorderOutput(float* yb, float* y, int n, int kb)
        {
            var g = G;
            var s = _s;
            int k0 = kb * L, kn = Math.Min(L, g.K - k0);
            // block kb of tile kb/2 is at (kb/2)·32·Positions + (kb%2)·16·Positions = kb·16·Positions
            float* src = yb + n * s.OutputFloats + (long)kb * L * s.Positions;
            float* dst = y + ((long)n * g.K + k0) * g.OV;
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
}
