using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Backward-weights of strided convolutions (ResNet-50's 7×7 stride-2 conv1) as an implicit GEMM, 1-d and 2-d, groups
/// 1, on AVX-512: no column matrix. The input is split once into SH·SW phase planes per channel (<see cref="PhasePlanes"/>),
/// so each row (c, ky, kx) of the lowered input is one phase plane shifted by one offset, read in place, as the
/// stride-1 implicit GEMM reads its padded planes. gWᵀ[(c, tap), k] = Σ_p A[(c, tap), p]·gYᵀ[p, k] over
/// the grid's positions (gY zero in the Width − OW columns past each row), six rows of A × 64 output channels per
/// tile (<see cref="PhaseGemmKernels.Kernel6x64Avx512"/>), gYᵀ packed per chunk of positions while the chunk is in L2.
/// Against the lowering this replaces the column matrix (C·KH·KW floats per output position, 147 for conv1, written
/// and read per call) by the phase planes (about C·SH·SW floats per output position).
/// </summary>
public sealed class StridedImplicitGemmAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;

    /// <summary>The algorithm for every shape it can run (forced).</summary>
    public static StridedImplicitGemmAlgorithm Instance { get; } = new(false);

    /// <summary>The planner's entry: full-rate AVX-512, channels that fill the 64-channel panels, many positions (see
    /// <see cref="TryPlan"/>).</summary>
    public static StridedImplicitGemmAlgorithm Preferred { get; } = new(true);

    private StridedImplicitGemmAlgorithm(bool heuristic) => _heuristic = heuristic;

    /// <inheritdoc/>
    public string Name => "strided_implicit_gemm";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (!GemmCore.Avx512On || direction != ConvDirection.BackwardWeight || core.Rank > 2 || core.Groups != 1) return null;
        var g = new ConvGeometry(core);
        if (g.SH == 1 && g.SW == 1) return null;
        var phases = new Phases(g);
        // the phase planes and gWᵀ are addressed with int offsets
        if (phases.Floats(g) > int.MaxValue || (long)g.CKV * RoundUp(g.K) > int.MaxValue) return null;
        if (_heuristic)
        {
            // Measured against the lowering (2 threads): ResNet-50 conv1 (7×7 stride 2, 3 → 64 channels) ran 0.69-0.76x
            // its time, a 3×3 stride-2 layer (128 channels, 56×56) 0.85x, 32 CIFAR images (3×3 stride 2, 32 → 64)
            // 0.74x. A 1×1 kernel has one row of A per channel, which the lowering reads in place (res3.1x1s2: 2.0x
            // its time). Output channels fill whole 64-channel panels; rows with stride 1 go to the blocked kernel.
            if (!GemmCore.WideFmaPays || g.K % PhaseGemmKernels.Channels != 0 || (long)g.N * g.OV < 1024 || g.KV == 1) return null;
        }
        return new Plan(core, phases);
    }

    private static int RoundUp(int k) => (k + PhaseGemmKernels.Channels - 1) / PhaseGemmKernels.Channels * PhaseGemmKernels.Channels;

    /// <summary>The phase planes of one geometry: Height × Width each, SH·SW per channel, with the slack the last row
    /// of A reads past the last plane.</summary>
    private readonly struct Phases
    {
        public readonly int Width, Height, Slack;
        public readonly long Plane;

        public Phases(in ConvGeometry g)
        {
            (long w, long h) = PhasePlanes.Grid(g);
            (Width, Height) = ((int)w, (int)h);
            Plane = (long)Width * Height;
            Slack = (g.KW - 1) * g.DW / g.SW + 16;
        }

        /// <summary>Floats of one image's phase planes.</summary>
        public long PerImage(in ConvGeometry g) => Plane * g.C * g.SH * g.SW;

        /// <summary>Floats of all images' phase planes and the slack.</summary>
        public long Floats(in ConvGeometry g) => PerImage(g) * g.N + Slack;
    }

    private sealed unsafe class Plan : ConvPlan
    {
        // Positions per chunk: gYᵀ's chunk of 64 channels is 64 KB, in L2 while every row tile passes over it.
        private const int Chunk = 256;
        private readonly Phases _ph;
        private readonly int _kPad, _cells, _chunks;
        // Offset of row (c, tap) of A in one image's phase planes, fixed by the geometry.
        private readonly int[] _roff;
        // Which phases some tap reads (the others are zeroed, not filled).
        private readonly bool[] _used;

        public Plan(ConvDescriptor d, Phases ph) : base("strided_implicit_gemm", d, ConvDirection.BackwardWeight)
        {
            var g = G;
            _ph = ph;
            _kPad = RoundUp(g.K);
            _cells = g.OH * ph.Width;
            _chunks = (_cells + Chunk - 1) / Chunk;
            _used = PhasePlanes.Used(g);
            _roff = GC.AllocateArray<int>(g.CKV, pinned: true);
            for (int c = 0, r = 0; c < g.C; c++)
                for (int ky = 0; ky < g.KH; ky++)
                    for (int kx = 0; kx < g.KW; kx++, r++)
                        _roff[r] = checked((int)PhasePlanes.Offset(g, c, ky, kx, ph.Width, ph.Plane));
        }

        private protected override void RunBackwardWeight(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, Span<float> gws)
        {
            fixed (float* x = xs) fixed (float* gy = gys) fixed (float* gw = gws)
            {
                // gY is zero in the columns past each grid row, which meet input columns no valid position reads: an
                // infinity there would give 0·∞ = NaN where the true gradient is finite, so such inputs take the lowering
                if (!VecOps.AllFinite(x, xs.Length))
                {
                    Lowering.BackwardWeight(xs, gys, gws);
                    return;
                }
                var g = G;
                var ph = _ph;
                long perImage = ph.PerImage(g), outLen = (long)g.CKV * _kPad;
                float* planes = Workspace.Get(Workspace.Columns, ph.Floats(g));
                nint px = (nint)x, pplanes = (nint)planes, pgy = (nint)gy;
                VecOps.ParallelRanges(g.N * g.C, perImage / g.C, (lo, hi) =>
                {
                    for (int i = lo; i < hi; i++) PhasePlanes.Fill(g, (float*)px + (long)i * g.IV, (float*)pplanes + i * (perImage / g.C), ph.Width, ph.Height, _used);
                });
                new Span<float>(planes + g.N * perImage, ph.Slack).Clear();
                // units (image, chunk of positions) in fixed ranges per thread, each summing into its own gWᵀ, added
                // in a fixed order at the end: the result does not depend on thread timing
                int units = g.N * _chunks, parts = Math.Max(1, Math.Min(Threads, units));
                float* partials = Workspace.Get(Workspace.Partials, outLen * parts);
                nint ppart = (nint)partials;
                int* roff = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_roff));
                nint proff = (nint)roff;
                VecOps.ParallelItems(parts, parts, (_, part) =>
                {
                    float* bt = Workspace.Get(Workspace.Scratch, (long)Chunk * PhaseGemmKernels.Channels);
                    float* acc = (float*)ppart + part * outLen;
                    int u0 = (int)((long)units * part / parts), u1 = (int)((long)units * (part + 1) / parts);
                    for (int u = u0; u < u1; u++)
                    {
                        int n = u / _chunks, p0 = u % _chunks * Chunk, kc = Math.Min(Chunk, _cells - p0);
                        float* a = (float*)pplanes + n * perImage + p0;
                        for (int k0 = 0; k0 < _kPad; k0 += PhaseGemmKernels.Channels)
                        {
                            Im2col.GridGradT(g, (float*)pgy + (long)n * g.K * g.OV, _ph.Width, k0, PhaseGemmKernels.Channels, p0, p0 + kc, bt);
                            for (int r = 0; r < g.CKV; r += PhaseGemmKernels.Rows)
                                PhaseGemmKernels.Kernel6x64Avx512(kc, a, (int*)proff + r, Math.Min(PhaseGemmKernels.Rows, g.CKV - r), bt,
                                    acc + (long)r * _kPad + k0, _kPad, u != u0);
                        }
                    }
                });
                for (int p = 1; p < parts; p++) VecOps.AddInPlace(partials, partials + p * outLen, outLen);
                // gW[k, (c, tap)] = gWᵀ[(c, tap), k]
                VecOps.TransposeParallel(partials, g.CKV, g.K, _kPad, gw);
            }
        }
    }
}
