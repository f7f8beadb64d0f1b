using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Direct convolution for small output planes (ResNet-50 res5: 7×7), forward and backward-data, stride 1, 1-d and
/// 2-d, groups 1, on AVX-512. The input is copied into zero-bordered planes of Wp = OW + (KW − 1)·DW columns, as
/// for the implicit GEMM, and a tile of 64 grid positions × 6 output channels (<see cref="SmallPlaneKernels.Kernel6x64Avx512"/>)
/// is summed in registers over every input channel and tap, each weight broadcast from where it lies. So the weights
/// are read once per tile of positions, in place: neither packed (a pass over all of them, which few positions per
/// weight do not repay) nor, for backward-data, flipped and transposed; backward-data runs the forward of the flipped
/// problem (see <see cref="FlippedForwardAlgorithm"/>) with the weights addressed in their original layout, taps in
/// reverse.
/// </summary>
public sealed class SmallPlaneDirectAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;

    /// <summary>The algorithm for every shape it can run (forced).</summary>
    public static SmallPlaneDirectAlgorithm Instance { get; } = new(false);

    /// <summary>The planner's entry: full-rate AVX-512 and an output plane that fits one tile (see <see cref="TryPlan"/>).</summary>
    public static SmallPlaneDirectAlgorithm Preferred { get; } = new(true);

    private SmallPlaneDirectAlgorithm(bool heuristic) => _heuristic = heuristic;

    /// <inheritdoc/>
    public string Name => "small_plane_direct";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (!GemmCore.Avx512On || direction == ConvDirection.BackwardWeight || core.Rank > 2 || core.Groups != 1) return null;
        var run = direction == ConvDirection.BackwardData ? FlippedForwardAlgorithm.FlippedDescriptor(core) : core;
        if (run is null) return null;
        var g = new ConvGeometry(run);
        if (g.SH != 1 || g.SW != 1) return null;
        var grid = new Grid(g);
        // the padded planes and the output are addressed with int offsets
        if (grid.Padded(g) > int.MaxValue) return null;
        if (_heuristic)
        {
            // One tile of positions per image, deep sums, channels to share. Measured against the planner's choice
            // before (2 threads, 512-channel 3×3 layers unless said): ResNet-50 res5 (49 positions, a 63-position
            // grid) ran 0.89x the implicit GEMM's time forward and 0.61-0.71x the lowering's backward-data; with 4
            // images 0.71x and 0.77x the blocked kernel's. Grids of up to 32 positions fit the implicit GEMM's
            // 32-column tile (4×4: 1.6x its time); 5×5 ran 0.89x and 0.76x; res4's 14×14 (four tiles) 1.2x. With a
            // batch of planes well short of a tile the lowering, which packs the images' positions side by side,
            // computes less (8 images of 6×6, 128 channels: 1.09x its time forward, 0.85x backward-data).
            if (!GemmCore.WideFmaPays || grid.Tiles != 1 || grid.Cells <= 32 || g.CKV < 256 || g.K < 4 * SmallPlaneKernels.Channels) return null;
            if (direction == ConvDirection.Forward && g.N > 1 && g.OV < 3 * SmallPlaneKernels.Positions / 4) return null;
        }
        return new Plan(core, direction, run, grid);
    }

    /// <summary>The zero-bordered grid of one geometry: planes of Height × Width, Cells = OH·Width positions computed
    /// per output channel (Width − OW of each row dropped), in Tiles of 64.</summary>
    private readonly struct Grid
    {
        public readonly int Width, Height, Cells, Tiles, Slack;
        public readonly long Plane;

        public Grid(in ConvGeometry g)
        {
            Width = g.OW + (g.KW - 1) * g.DW;
            Height = g.OH + (g.KH - 1) * g.DH;
            Plane = (long)Width * Height;
            // clamped so that the sizes below do not overflow; such shapes are declined by their padded size
            Cells = (int)Math.Min((long)g.OH * Width, int.MaxValue / 2);
            Tiles = (Cells + SmallPlaneKernels.Positions - 1) / SmallPlaneKernels.Positions;
            // the last tile reads past the last plane up to its 64th position plus the widest tap
            Slack = Tiles * SmallPlaneKernels.Positions - Cells + (g.KW - 1) * g.DW;
        }

        /// <summary>Floats of the padded input: all planes of all images, then the slack.</summary>
        public long Padded(in ConvGeometry g) => Plane * g.C * g.N + Slack;
    }

    private sealed unsafe class Plan : ConvPlan
    {
        private readonly ConvGeometry _g;
        private readonly Grid _grid;
        private readonly int _blocks;
        // grid offset of each tap, fixed by the geometry
        private readonly int[] _toff;

        public Plan(ConvDescriptor d, ConvDirection direction, ConvDescriptor run, Grid grid) : base("small_plane_direct", d, direction)
        {
            _g = new ConvGeometry(run);
            _grid = grid;
            _blocks = (_g.K + SmallPlaneKernels.Channels - 1) / SmallPlaneKernels.Channels;
            _toff = GC.AllocateArray<int>(_g.KV, pinned: true);
            for (int ky = 0, t = 0; ky < _g.KH; ky++)
                for (int kx = 0; kx < _g.KW; kx++, t++)
                    _toff[t] = ky * _g.DH * grid.Width + kx * _g.DW;
        }

        private protected override void RunForward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool relu)
        {
            fixed (float* px = x) fixed (float* pw = w) fixed (float* pb = bias) fixed (float* py = y)
                Run(px, pw, _g.CKV, _g.KV, 1, 0, 0, pb, py, relu);
        }

        private protected override void RunBackwardData(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
        {
            // The flipped problem's weight (output c, input k, tap t) is W[k, c, KV − 1 − t].
            fixed (float* pgy = gy) fixed (float* pw = w) fixed (float* pgx = gx)
                Run(pgy, pw + _g.KV - 1, _g.KV, (nint)_g.K * _g.KV, -1, PrefetchAhead * (nint)_g.K * _g.KV - (_g.KV - 1), SmallPlaneKernels.Channels * _g.KV, null, pgx, false);
            // The weights meet gy's zero border: an infinite weight gives 0·∞ = NaN where the true gradient may be
            // finite. Such a weight leaves every element it reaches non-finite, so checking the (small) output finds
            // it; then the lowering, which drops those products, runs instead.
            if (!VecOps.AllFinite(gx)) Lowering.BackwardData(gy, w, gx);
        }

        // Input channels ahead whose weights backward-data prefetches (1, 2, 4 and 8 ran alike on res5; past the last
        // channel it prefetches addresses beyond the weights, which never faults).
        private const int PrefetchAhead = 4;

        /// <summary>y = conv(x, w) on the run geometry, weight (output o, input i, tap t) at w[o·wRow + i·wIn + t·wTap].</summary>
        private void Run(float* x, float* w, nint wRow, nint wIn, nint wTap, nint ahead, int span, float* bias, float* y, bool relu)
        {
            var g = _g;
            var grid = _grid;
            long perImage = g.C * grid.Plane;
            float* xp = Workspace.Get(Workspace.Columns, grid.Padded(g));
            nint pxp = (nint)xp, px = (nint)x;
            VecOps.ParallelRanges(g.N, perImage, (lo, hi) =>
            {
                for (int n = lo; n < hi; n++)
                    Im2col.PadPlanes(g, (float*)px + (long)n * g.C * g.IV, g.C, grid.Height, grid.Width, (float*)pxp + n * perImage, 0);
            });
            new Span<float>(xp + g.N * perImage, grid.Slack).Clear();
            int* toff = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_toff));
            nint ptoff = (nint)toff, pw = (nint)w, pb = (nint)bias, py = (nint)y;
            int units = g.N * _blocks * grid.Tiles;
            // a unit: 6 output channels, image n, one tile of positions; the channels' weights are shared by the units
            // that follow, across the images (whose padded planes stay in L2 when a batch is small)
            VecOps.ParallelRanges(units, (long)SmallPlaneKernels.Channels * SmallPlaneKernels.Positions * g.CKV, (lo, hi) =>
            {
                float* tile = stackalloc float[SmallPlaneKernels.Channels * SmallPlaneKernels.Positions];
                for (int u = lo; u < hi; u++)
                {
                    int j = u % grid.Tiles, rest = u / grid.Tiles, n = rest % g.N, blk = rest / g.N;
                    int o0 = blk * SmallPlaneKernels.Channels, rows = Math.Min(SmallPlaneKernels.Channels, g.K - o0);
                    int p0 = j * SmallPlaneKernels.Positions;
                    SmallPlaneKernels.Kernel6x64Avx512(g.C, g.KV, (float*)pxp + n * perImage + p0, (nint)grid.Plane, (int*)ptoff,
                        (float*)pw + o0 * wRow, wRow, wIn, wTap, rows, ahead, span, tile);
                    CopyOut(tile, rows, p0, (float*)py + ((long)n * g.K + o0) * g.OV, (float*)pb, o0, relu);
                }
            });
        }

        /// <summary>The valid positions of a tile (columns below OW of each grid row) into <paramref name="rows"/> output
        /// planes, plus bias and max(·, 0) when asked.</summary>
        private void CopyOut(float* tile, int rows, int p0, float* y, float* bias, int o0, bool relu)
        {
            var g = _g;
            int wp = _grid.Width, p1 = Math.Min(_grid.Cells, p0 + SmallPlaneKernels.Positions);
            for (int r = 0; r < rows; r++)
            {
                float b = bias == null ? 0f : bias[o0 + r];
                float* src = tile + r * SmallPlaneKernels.Positions - p0, dst = y + (long)r * g.OV;
                for (int oy = p0 / wp; oy * wp < p1; oy++)
                {
                    int s = Math.Max(p0, oy * wp), e = Math.Min(p1, oy * wp + g.OW);
                    for (int p = s; p < e; p++)
                    {
                        float v = src[p] + b;
                        dst[oy * g.OW + p - oy * wp] = relu && !(v > 0) ? 0f : v;
                    }
                }
            }
        }
    }
}
