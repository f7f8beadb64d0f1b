using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Forward of a network's first layer (a few input channels, large kernels, stride 1 or 2 along the rows: ResNet's
/// conv1) as a direct convolution with the output channels in the lanes, on AVX-512
/// (<see cref="LaneChannelKernels.Tile14x32Avx512{TStride}"/>) or AVX2 (<see cref="LaneChannelKernels.Tile6x16Avx2{TStride}"/>,
/// two per block of 32 channels): the input is copied once into zero-bordered planes, the weights into 32 output
/// channels per tap, and each tile of 14 positions × 32 channels (6 × 16 on AVX2) sums every input channel and tap in
/// registers, broadcasting the inputs where they lie. No column matrix is written (the
/// lowering writes and reads C·KH·KW floats per output position, 147 for conv1) and every lane is a real output
/// channel when K is a multiple of 32. 1-d and 2-d, groups 1, any kernel, padding and dilation.
/// </summary>
public sealed class LaneChannelDirectAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;

    /// <summary>The algorithm for every shape it can run (forced).</summary>
    public static LaneChannelDirectAlgorithm Instance { get; } = new(false);

    /// <summary>The planner's entry (see <see cref="TryPlan"/>).</summary>
    public static LaneChannelDirectAlgorithm Preferred { get; } = new(true);

    private LaneChannelDirectAlgorithm(bool heuristic) => _heuristic = heuristic;

    /// <inheritdoc/>
    public string Name => "lane_channel_direct";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (!(Avx2.IsSupported && Fma.IsSupported) || direction != ConvDirection.Forward || core.Rank > 2 || core.Groups != 1) return null;
        var g = new ConvGeometry(core);
        if (g.SW > 2) return null;
        var s = new Sizes(g);
        // the padded planes are addressed with int offsets
        if (s.PlaneFloats * g.C > int.MaxValue / 2) return null;
        // Measured against the lowering with the earlier tile of 16 positions × 16 channels (the present one runs
        // conv1 in 0.8× its time), forward, 2 threads (1 thread): ResNet-50 conv1 (3 channels, 7×7, stride 2)
        // 0.81-0.87× (0.82-0.83×) the time; 4 channels 7×7 stride 2 0.69× (0.78×); 3 channels 5×5 stride 2, 48
        // output channels, 2 images, a tie (0.74×). Few taps do not repay the tile's transpose and stores: 3×3 over
        // 3 channels ran 1.58-1.67× the lowering's time (stride 2 and 1), 7×7 over 1 channel 1.29×. Channel counts
        // that are not multiples of the tile's 32 would waste lanes, and go to the lowering. With AVX2 alone (the 6×16
        // tile), conv1 ran 0.90× the lowering's time on 1 thread and 0.84-0.86× on 2 (Zen 5 with AVX-512 off, paired in
        // one process; on the Intel Xeon with AVX-512 off 0.92× and 1.05×; the same tile with rows handed out
        // dynamically tied on Zen 3, 1.01× and 1.04×). Where 512-bit FMAs run at half rate neither tile was measured,
        // and the lowering's 512-bit GEMM stays.
        if (_heuristic && !((GemmCore.WideFmaPays || !GemmCore.Avx512On) && g.C <= 4 && g.CKV >= 64 && g.K % LaneChannelKernels.Channels == 0 && g.OW >= 48))
            return null;
        return new Plan(core, s);
    }

    /// <summary>The zero-bordered planes one image's input is copied into: Rows × Width, holding every row and column
    /// the tiles read (the last tile of a row computes all its positions).</summary>
    private readonly struct Sizes
    {
        public readonly int Rows, Width, RowTiles, KBlocks, Positions;
        public readonly long PlaneFloats;
        // the AVX-512 tile (decided with the plan: the packing and planes follow the tile)
        public readonly bool Wide;

        public Sizes(in ConvGeometry g)
        {
            Wide = GemmCore.Avx512On;
            Positions = Wide ? LaneChannelKernels.Positions : LaneChannelKernels.PositionsAvx2;
            RowTiles = (g.OW + Positions - 1) / Positions;
            KBlocks = (g.K + LaneChannelKernels.Channels - 1) / LaneChannelKernels.Channels;
            Rows = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1;
            Width = (RowTiles * Positions - 1) * g.SW + (g.KW - 1) * g.DW + 1;
            PlaneFloats = (long)Rows * Width;
        }
    }

    private sealed unsafe class Plan : ConvPlan
    {
        private readonly Sizes _s;
        // input offset of each (channel, tap) from a tile's first position, fixed by the geometry
        private readonly int[] _off;

        public Plan(ConvDescriptor d, Sizes s) : base("lane_channel_direct", d, ConvDirection.Forward)
        {
            var g = G;
            _s = s;
            _off = GC.AllocateArray<int>(g.CKV, pinned: true);
            for (int c = 0, t = 0; c < g.C; c++)
                for (int ky = 0; ky < g.KH; ky++)
                    for (int kx = 0; kx < g.KW; kx++, t++)
                        _off[t] = (int)(c * s.PlaneFloats + (long)ky * g.DH * s.Width + kx * g.DW);
        }

        private protected override void RunForward(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, ReadOnlySpan<float> bs, Span<float> ys, bool relu)
        {
            var g = G;
            var s = _s;
            const int Ch = LaneChannelKernels.Channels;
            int pos = s.Positions;
            int kp = s.KBlocks * Ch;
            long image = s.PlaneFloats * g.C;
            // the weights as [channel block][tap][32 output channels] (a block's 32·CKV floats stay in L1 with the
            // input rows of an output row), channels past K zero; the bias padded the same way
            float* wp = Workspace.Get(Workspace.PackedWeights, (long)g.CKV * kp + kp);
            float* xp = Workspace.Get(Workspace.Scratch, image * g.N);
            fixed (float* x = xs) fixed (float* w = ws) fixed (float* b = bs) fixed (float* y = ys)
            {
                new Span<float>(wp, g.CKV * kp + kp).Clear();
                for (int k = 0; k < g.K; k++)
                {
                    float* dst = wp + (long)(k / Ch) * g.CKV * Ch + k % Ch;
                    for (int t = 0; t < g.CKV; t++) dst[t * Ch] = w[(long)k * g.CKV + t];
                }
                float* bias = wp + (long)g.CKV * kp;
                if (b != null) new ReadOnlySpan<float>(b, g.K).CopyTo(new Span<float>(bias, g.K));
                nint px = (nint)x, pxp = (nint)xp, pwp = (nint)wp, py = (nint)y;
                // the padded planes in pieces of 32 rows (one image's three planes would give two threads three items)
                int pieces = (s.Rows + 31) / 32;
                VecOps.ParallelItems(g.N * g.C * pieces, Threads, (_, item) =>
                {
                    int piece = item % pieces, plane = item / pieces;
                    Im2col.PadRows(g, (float*)px + (long)plane * g.IV, s.Width, (float*)pxp + plane * s.PlaneFloats, piece * 32,
                        Math.Min(s.Rows, piece * 32 + 32));
                });
                int* off = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_off));
                nint poff = (nint)off;
                // an item: one output row of one image, every channel block (its input rows stay in L1 across them);
                // each core a contiguous range of rows, so the next row finds most of its input rows in the core's
                // caches (conv1 on 2 threads: 371-392 GFLOP/s against 319-323 with rows handed out as they come,
                // alternated runs)
                VecOps.ParallelStatic(g.N * g.OH, Threads, (_, item) =>
                {
                    int n = item / g.OH, oy = item % g.OH;
                    float* xr = (float*)pxp + n * image + (long)oy * g.SH * s.Width;
                    for (int kb = 0; kb < s.KBlocks; kb++)
                    {
                        int k0 = kb * Ch, nCh = Math.Min(Ch, g.K - k0);
                        float* yr = (float*)py + ((long)n * g.K + k0) * g.OV + (long)oy * g.OW;
                        float* wk = (float*)pwp + (long)kb * g.CKV * Ch, bk = (float*)pwp + (long)g.CKV * kp + k0;
                        for (int t = 0; t < s.RowTiles; t++)
                        {
                            int ox0 = t * pos, nPos = Math.Min(pos, g.OW - ox0);
                            float* xt = xr + g.SW * ox0, yt = yr + ox0;
                            if (s.Wide && g.SW == 1)
                                LaneChannelKernels.Tile14x32Avx512<LaneChannelKernels.StrideOne>(xt, (int*)poff, g.CKV, wk, bk, yt, g.OV, nPos, nCh, relu);
                            else if (s.Wide)
                                LaneChannelKernels.Tile14x32Avx512<LaneChannelKernels.StrideTwo>(xt, (int*)poff, g.CKV, wk, bk, yt, g.OV, nPos, nCh, relu);
                            else
                                for (int half = 0; half < Ch && half < nCh; half += 16)
                                {
                                    if (g.SW == 1)
                                        LaneChannelKernels.Tile6x16Avx2<LaneChannelKernels.StrideOne>(xt, (int*)poff, g.CKV, wk + half, bk + half, yt + half * g.OV,
                                            g.OV, nPos, nCh - half, relu);
                                    else
                                        LaneChannelKernels.Tile6x16Avx2<LaneChannelKernels.StrideTwo>(xt, (int*)poff, g.CKV, wk + half, bk + half, yt + half * g.OV,
                                            g.OV, nPos, nCh - half, relu);
                                }
                        }
                    }
                });
            }
        }
    }
}
