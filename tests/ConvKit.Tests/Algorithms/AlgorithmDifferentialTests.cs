using ConvKit.Algorithms;
using ConvKit.Descriptors;
using ConvKit.Reference;
using Xunit;

namespace ConvKit.Tests.Algorithms;

/// <summary>Every algorithm, forced, against the reference over seeded random shapes, in all three directions.</summary>
[Collection(EngineSettingsCollection.Name)]
public class AlgorithmDifferentialTests
{
    /// <summary>The small-channel kernels and the implicit GEMM need AVX2 and FMA; without them (checked by running the
    /// suite with <c>DOTNET_EnableAVX2=0</c>) they decline every shape.</summary>
    internal static bool Avx2Kernels => System.Runtime.Intrinsics.X86.Fma.IsSupported && System.Runtime.Intrinsics.X86.Avx2.IsSupported;

    /// <summary>The blocked direct kernel runs with AVX-512 or AVX2 tiles.</summary>
    internal static bool BlockedTiles => System.Runtime.Intrinsics.X86.Avx512F.IsSupported || Avx2Kernels;

    /// <summary>The small-plane and lane-channel direct kernels and the strided implicit GEMM run with AVX-512 only
    /// (switched on).</summary>
    internal static bool Avx512Tiles => ConvKit.Kernels.GemmCore.Avx512On;

    public static IEnumerable<object[]> Cases()
    {
        foreach (var dir in Enum.GetValues<ConvDirection>())
        {
            yield return ["im2col_gemm", ConvShapes.Kind.General, dir, 150];
            yield return ["gemm_1x1", ConvShapes.Kind.Pointwise, dir, 60];
            yield return ["depthwise_direct", ConvShapes.Kind.Depthwise, dir, 100];
            yield return ["im2col_gemm", ConvShapes.Kind.Depthwise, dir, 30];
            yield return ["depthwise_direct", ConvShapes.Kind.Grouped, dir, 60];
            if (dir != ConvDirection.BackwardData && Avx2Kernels) yield return ["direct_small_c", ConvShapes.Kind.SmallChannels, dir, 120];
        }
        if (System.Runtime.Intrinsics.X86.Fma.IsSupported)
        {
            yield return ["implicit_gemm", ConvShapes.Kind.StrideOne, ConvDirection.Forward, 150];
            yield return ["implicit_gemm", ConvShapes.Kind.StrideOne, ConvDirection.BackwardWeight, 150];
        }
        if (BlockedTiles)
        {
            yield return ["blocked_direct", ConvShapes.Kind.RowStride, ConvDirection.Forward, 150];
            yield return ["blocked_direct", ConvShapes.Kind.StrideOne, ConvDirection.BackwardData, 150];
            yield return ["blocked_direct", ConvShapes.Kind.RowStride, ConvDirection.BackwardWeight, 150];
        }
        if (Avx512Tiles)
        {
            yield return ["small_plane_direct", ConvShapes.Kind.StrideOne, ConvDirection.Forward, 150];
            yield return ["small_plane_direct", ConvShapes.Kind.StrideOne, ConvDirection.BackwardData, 150];
            yield return ["strided_implicit_gemm", ConvShapes.Kind.Strided, ConvDirection.BackwardWeight, 150];
        }
        if (Avx2Kernels) yield return ["lane_channel_direct", ConvShapes.Kind.FirstLayer, ConvDirection.Forward, 150];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForcedAlgorithmMatchesReference(string algorithm, ConvShapes.Kind kind, ConvDirection dir, int count)
    {
        var r = new Random(1234 + (int)kind * 17 + (int)dir * 101 + algorithm.Length);
        for (int i = 0; i < count; i++)
        {
            var d = ConvShapes.Random(r, kind);
            if (algorithm is "blocked_direct" or "small_plane_direct" && dir == ConvDirection.BackwardData && FlippedForwardAlgorithm.FlippedDescriptor(d) is null)
            {
                // padding past the dilated kernel has no flipped forward form
                Assert.Throws<ArgumentException>("algorithmName", () => ConvPlanner.Plan(d, dir, algorithm));
                continue;
            }
            var plan = ConvPlanner.Plan(d, dir, algorithm);
            Assert.Equal(algorithm, plan.AlgorithmName);
            CheckAgainstReference(plan, d, dir, r, 1e-5);
        }
    }

    /// <summary>Winograd within its documented bound: 8e-5·√(C·9)·(1 + √|y|) for F(2x2,3x3), 1.6e-4·√(C·9)·(1 + √|y|) for
    /// F(4x4,3x3) (CheckAgainstReference's tolerance is 4·relTol·√depth).</summary>
    [Theory]
    [InlineData("winograd_f2x2_3x3", 2e-5)]
    [InlineData("winograd_f4x4_3x3", 4e-5)]
    public void WinogradWithinStatedTolerance(string algorithm, double relTol)
    {
        var r = new Random(4242);
        for (int i = 0; i < 120; i++)
        {
            var d = ConvShapes.Random(r, ConvShapes.Kind.Winograd3x3);
            var plan = ConvPlanner.Plan(d, ConvDirection.Forward, algorithm);
            CheckAgainstReference(plan, d, ConvDirection.Forward, r, relTol);
        }
        // larger channel counts and an image big enough for several tile chunks and both threads
        var big = ConvDescriptor.Create(2, [2, 64, 33, 31], [48, 64, 3, 3], true, 1, 1);
        CheckAgainstReference(ConvPlanner.Plan(big, ConvDirection.Forward, algorithm), big, ConvDirection.Forward, r, relTol);
        // wide rows: the 8-tile vector transforms (interior tiles) next to scalar edge tiles
        foreach (var (h, w, p) in new[] { (12, 64, 1), (9, 70, 0), (14, 45, 2), (19, 67, 1) })
        {
            var wide = ConvDescriptor.Create(2, [2, 16, h, w], [12, 16, 3, 3], true, 1, p);
            CheckAgainstReference(ConvPlanner.Plan(wide, ConvDirection.Forward, algorithm), wide, ConvDirection.Forward, r, relTol);
        }
        // a VGG-sized depth, where the transforms' rounding adds up most
        var deep = ConvDescriptor.Create(2, [1, 256, 12, 20], [16, 256, 3, 3], true, 1, 1);
        CheckAgainstReference(ConvPlanner.Plan(deep, ConvDirection.Forward, algorithm), deep, ConvDirection.Forward, r, relTol);
    }

    [Fact]
    public void FlippedForwardMatchesReferenceOnStrideOneShapes()
    {
        // general, depthwise and small-channel shapes (groups, dilation, asymmetric padding, 1-3 d) with stride 1,
        // whose forward form runs the GEMM lowering, the depthwise or the small-channel kernels; the rest must be declined
        var r = new Random(777);
        int run = 0;
        for (int i = 0; i < 1500 && run < 200; i++)
        {
            var d = ConvShapes.Random(r, (i % 4) switch { 0 => ConvShapes.Kind.Depthwise, 1 => ConvShapes.Kind.SmallChannels, _ => ConvShapes.Kind.General });
            bool eligible = d.Stride.All(s => s == 1) && Enumerable.Range(0, d.Rank).All(a =>
                d.PadBegin[a] <= d.Dilation[a] * (d.KernelSize[a] - 1) && d.PadEnd[a] <= d.Dilation[a] * (d.KernelSize[a] - 1));
            if (!eligible)
            {
                Assert.Throws<ArgumentException>("algorithmName", () => ConvPlanner.Plan(d, ConvDirection.BackwardData, "flipped_forward"));
                continue;
            }
            CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardData, "flipped_forward"), d, ConvDirection.BackwardData, r, 1e-5);
            run++;
        }
        Assert.True(run >= 60, $"only {run} eligible shapes");
        // a 3x3 layer, forced; the planner sends it this way only where its forward form is the implicit GEMM (which
        // takes this shape, a sixth of whose columns it would drop, only where 512-bit FMAs run at full rate; the
        // blocked kernel declines its 24 output channels, a quarter of a 32-channel tile empty)
        var t = ConvDescriptor.Create(2, [2, 24, 15, 14], [64, 24, 3, 3], true, 1, 1);
        var plan = ConvPlanner.Plan(t, ConvDirection.BackwardData, "flipped_forward");
        CheckAgainstReference(plan, t, ConvDirection.BackwardData, r, 2e-5);
        Assert.Equal(ConvKit.Kernels.GemmCore.WideFmaPays ? "flipped_forward" : "im2col_gemm", ConvPlanner.Choose(t, ConvDirection.BackwardData));
        // VGG-16's layer: the flipped forward is Winograd F(4x4,3x3) (with AVX-512 on AMD's cores, the blocked tiles'
        // flipped forward instead)
        Assert.Equal(ConvKit.Kernels.GemmCore.WideFmaPays && ConvKit.Kernels.GemmCore.IsAmd ? "blocked_direct" : "flipped_forward",
            ConvPlanner.Choose(ConvDescriptor.Create(2, [1, 256, 56, 56], [256, 256, 3, 3], true, 1, 1), ConvDirection.BackwardData));
    }

    [Theory]
    [InlineData(7, 1)]
    [InlineData(5, 2)]
    [InlineData(64, 1)]
    public void ImageBatchedLoweringMatchesReference(int n, int groups)
    {
        // small images with many per batch: the GEMM lowering puts several images side by side (a partial last batch
        // when n is not a multiple), forward and backward-weights, both GEMM orientations of backward-weights
        var r = new Random(n * 31 + groups);
        foreach (var (c, k) in new[] { (32, 64), (16 * groups, 4 * groups) })
        {
            var d = ConvDescriptor.Create(2, [n, c, 14, 13], [k, c / groups, 3, 3], n % 2 == 0, 1, 1, 1, groups);
            foreach (var dir in new[] { ConvDirection.Forward, ConvDirection.BackwardWeight })
                CheckAgainstReference(ConvPlanner.Plan(d, dir, "im2col_gemm"), d, dir, r, 1e-5);
        }
    }

    [Fact]
    public void DirectSmallChannelsDeclinesWhatItCannotRun()
    {
        var first = ConvDescriptor.Create(2, [4, 1, 28, 28], [32, 1, 3, 3], true, 1, 1);
        if (!Avx2Kernels)
        {
            Assert.Throws<ArgumentException>("algorithmName", () => ConvPlanner.Plan(first, ConvDirection.Forward, "direct_small_c"));
            return;
        }
        Assert.Equal("direct_small_c", ConvPlanner.Choose(first, ConvDirection.Forward));
        Assert.Equal("direct_small_c", ConvPlanner.Choose(first, ConvDirection.BackwardWeight));
        Assert.NotEqual("direct_small_c", ConvPlanner.Choose(first, ConvDirection.BackwardData));
        var strided = ConvDescriptor.Create(2, [1, 3, 30, 30], [8, 3, 3, 3], true, 2, 1);
        var wide = ConvDescriptor.Create(2, [1, 5, 30, 30], [8, 5, 3, 3], true, 1, 1);
        foreach (var d in new[] { strided, wide })
            Assert.Throws<ArgumentException>("algorithmName", () => ConvPlanner.Plan(d, ConvDirection.Forward, "direct_small_c"));
    }

    [Fact]
    public void SmallChannelForwardIsBitwiseTheSameOnAvx2AndAvx512()
    {
        // The 512-bit flattened forward performs the AVX2 kernel's FMAs per element in the same order; on a CPU
        // without AVX-512 both runs take the AVX2 path.
        if (!Avx2Kernels) return;
        var r = new Random(4321);
        bool saved = ConvKit.Kernels.GemmCore.UseAvx512;
        try
        {
            for (int i = 0; i < 80; i++)
            {
                var d = ConvShapes.Random(r, ConvShapes.Kind.SmallChannels);
                var plan = ConvPlanner.Plan(d, ConvDirection.Forward, "direct_small_c");
                var x = ConvShapes.Data(r, d.InputShape); var w = ConvShapes.Data(r, d.WeightShape);
                var bias = i % 2 == 0 ? ConvShapes.Data(r, [d.OutChannels]) : [];
                var y2 = new float[d.OutputShape.Aggregate(1, (a, b) => a * b)]; var y5 = new float[y2.Length];
                ConvKit.Kernels.GemmCore.UseAvx512 = false;
                plan.Forward(x, w, bias, y2);
                ConvKit.Kernels.GemmCore.UseAvx512 = System.Runtime.Intrinsics.X86.Avx512F.IsSupported;
                plan.Forward(x, w, bias, y5);
                Assert.Equal(y2, y5);
            }
        }
        finally { ConvKit.Kernels.GemmCore.UseAvx512 = saved; }
    }

    [Theory]
    [InlineData(1, 16, 40, 37, 25, 3, 1, 1)]   // one image: columns (gW rows) split over threads, packed weights
    [InlineData(1, 64, 7, 7, 61, 3, 1, 1)]     // few columns: rows split over threads, weights in place
    [InlineData(4, 8, 30, 33, 18, 5, 2, 2)]    // whole images per thread, dilation, packed weights
    [InlineData(3, 300, 9, 9, 13, 3, 1, 0)]    // depth past two k-blocks; backward-weights with images in batches
    [InlineData(2, 5, 1, 200, 7, 1, 1, 2)]     // a 1-row image (1-d shaped)
    [InlineData(9, 30, 12, 11, 40, 3, 1, 1)]   // images per thread with an odd count; K past one 32-channel panel
    public void ImplicitGemmMatchesReferenceOnLargerShapes(int n, int c, int h, int w, int k, int ks, int dil, int pad)
    {
        if (!System.Runtime.Intrinsics.X86.Fma.IsSupported)
        {
            Assert.Null(ImplicitGemmAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [n, c, h, w], [k, c, ks, ks], true, 1, pad, dil), ConvDirection.Forward));
            return;
        }
        var r = new Random(n * 7 + c + k);
        var d = ConvDescriptor.Create(2, [n, c, h, w], [k, c, ks, ks], true, 1, pad, dil);
        foreach (var dir in new[] { ConvDirection.Forward, ConvDirection.BackwardWeight })
        {
            var p = ConvPlanner.Plan(d, dir, "implicit_gemm");
            CheckAgainstReference(p, d, dir, r, 1e-5);
            // the AVX2 kernels perform the same FMAs per element in the same order as the AVX-512 ones
            var x0 = ConvShapes.Data(r, d.InputShape); var w0 = ConvShapes.Data(r, d.WeightShape); var g0 = ConvShapes.Data(r, d.OutputShape);
            bool saved = ConvKit.Kernels.GemmCore.UseAvx512;
            try
            {
                ConvKit.Kernels.GemmCore.UseAvx512 = false;
                var (narrow, _) = RunWithReference(p, d, dir, x0, w0, g0, []);
                ConvKit.Kernels.GemmCore.UseAvx512 = System.Runtime.Intrinsics.X86.Avx512F.IsSupported;
                var (wide, _) = RunWithReference(p, d, dir, x0, w0, g0, []);
                Assert.Equal(narrow, wide);
            }
            finally { ConvKit.Kernels.GemmCore.UseAvx512 = saved; }
        }
        // relu fused in the last k-block's write
        var plan = ConvPlanner.Plan(d, ConvDirection.Forward, "implicit_gemm");
        CheckBiasRelu(plan, d, r);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Depthwise3x3MatchesReferenceOnWideRows(bool avx512)
    {
        // MobileNet's 3×3 and grouped 3×3 (the register kernel where AVX-512 is on): heights around the four-row passes
        // and eight-row bands, widths around its 8-, 16-, 32- and 64-column chunks, both strides along each axis,
        // asymmetric padding, 1-16 input and 1-2 output channels per group, bias and fused relu; forward, backward-data
        // (also through the flipped forward), and backward-weights. With AVX-512 switched off: the AVX2 kernels.
        if (!avx512 && !Avx2Kernels) return;
        WithAvx512(avx512, () => Depthwise3x3WideRows(new Random(avx512 ? 3303 : 3304)));
    }

    /// <summary>Runs <paramref name="body"/> with AVX-512 as it is, or switched off (the AVX2 paths).</summary>
    private static void WithAvx512(bool avx512, Action body)
    {
        bool saved = ConvKit.Kernels.GemmCore.UseAvx512;
        try
        {
            if (!avx512) ConvKit.Kernels.GemmCore.UseAvx512 = false;
            body();
        }
        finally { ConvKit.Kernels.GemmCore.UseAvx512 = saved; }
    }

    private static void Depthwise3x3WideRows(Random r)
    {
        int shape = 0;
        foreach (var (h, w) in new[] { (1, 1), (4, 16), (5, 17), (7, 33), (9, 56), (13, 64), (3, 65), (8, 130), (19, 20), (6, 31), (11, 97),
                     (3, 7), (2, 10), (5, 25), (5, 19), (4, 34), (6, 49), (3, 112) })
            foreach (var (sh, sw) in new[] { (1, 1), (2, 2), (1, 2), (2, 1) })
            {
                int kg = h % 2 + 1, groups = 3, cg = new[] { 1, 2, 1, 5, 1, 16, 1 }[shape++ % 7];
                var d = ConvDescriptor.FromGeometry(2, 1 + w % 2, groups * cg, groups * kg, groups, [h, w], [3, 3], [sh, sw], [1, 1], [1, w % 3], [h % 3, 1], true);
                var x = ConvShapes.Data(r, d.InputShape); var wt = ConvShapes.Data(r, d.WeightShape); var b = ConvShapes.Data(r, [d.OutChannels]);
                var (got, want) = RunWithReference(ConvPlanner.Plan(d, ConvDirection.Forward, "depthwise_direct"), d, ConvDirection.Forward, x, wt,
                    ConvShapes.Data(r, d.OutputShape), b);
                for (int i = 0; i < got.Length; i++) Assert.Equal(want[i], got[i], 1e-4f);
                var relu = new float[got.Length];
                ConvPlanner.Plan(d, ConvDirection.Forward, "depthwise_direct").Forward(x, wt, b, relu, relu: true);
                for (int i = 0; i < got.Length; i++) Assert.Equal(Math.Max(want[i], 0f), relu[i], 1e-4f);
                if (sh == 1 && sw == 1)
                    CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardData, "flipped_forward"), d, ConvDirection.BackwardData, r, 1e-5);
                CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardWeight, "depthwise_direct"), d, ConvDirection.BackwardWeight, r, 1e-5);
                CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardData, "depthwise_direct"), d, ConvDirection.BackwardData, r, 1e-5);
                // an infinite input, and an infinite weight for backward-data (the in-place kernels load past the rows
                // under masks; whole vectors past the valid columns must not reach the output or the gradients)
                x[r.Next(x.Length)] = float.PositiveInfinity;
                foreach (var dir in new[] { ConvDirection.Forward, ConvDirection.BackwardWeight, ConvDirection.BackwardData })
                {
                    // tap kx = 0, which meets the zero gradient lanes past the last output column
                    if (dir == ConvDirection.BackwardData) wt[3 * r.Next(wt.Length / 3)] = float.PositiveInfinity;
                    (got, want) = RunWithReference(ConvPlanner.Plan(d, dir, "depthwise_direct"), d, dir, x, wt, ConvShapes.Data(r, d.OutputShape), dir == ConvDirection.Forward ? b : []);
                    for (int i = 0; i < got.Length; i++)
                        Assert.True(float.IsFinite(want[i]) ? Math.Abs(want[i] - got[i]) <= 1e-3f * (1 + Math.Abs(want[i])) : got[i].Equals(want[i]), $"{dir} {d}: {i} got {got[i]} want {want[i]}");
                }
            }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GroupedChannelTileMatchesReference(bool avx512)
    {
        // grouped 3×3 with stride 1 and 3 or more output channels per group (four-channel tiles): widths around the
        // tiles' 8-, 16-, 32- and 64-column shapes (and output widths 30 and 46, whose padded rows are whole blocks of
        // the flat tile), heights around their 1-, 2- and 4-row shapes and the eight-row and 512-position bands, output channels per group past whole tiles of four, bias and fused relu, an infinite input. With
        // AVX-512 switched off: the AVX2 tile.
        if (!avx512 && !Avx2Kernels) return;
        WithAvx512(avx512, () => GroupedChannelTiles(new Random(avx512 ? 3307 : 3308)));
    }

    private static void GroupedChannelTiles(Random r)
    {
        int shape = 0;
        foreach (var (h, w) in new[] { (1, 1), (3, 5), (9, 16), (5, 17), (6, 30), (7, 33), (13, 56), (2, 64), (4, 65), (11, 100), (3, 8), (6, 9), (5, 31), (19, 46) })
            foreach (var (cg, kg) in new[] { (2, 3), (4, 4), (3, 5), (7, 8) })
            {
                int groups = 2 + shape++ % 3;
                var d = ConvDescriptor.FromGeometry(2, 1 + h % 2, groups * cg, groups * kg, groups, [h, w], [3, 3], [1, 1], [1, 1], [1, w % 3], [h % 3, 1], true);
                var x = ConvShapes.Data(r, d.InputShape); var wt = ConvShapes.Data(r, d.WeightShape); var b = ConvShapes.Data(r, [d.OutChannels]);
                var plan = ConvPlanner.Plan(d, ConvDirection.Forward, "depthwise_direct");
                var (got, want) = RunWithReference(plan, d, ConvDirection.Forward, x, wt, ConvShapes.Data(r, d.OutputShape), b);
                for (int i = 0; i < got.Length; i++) Assert.Equal(want[i], got[i], 1e-4f);
                CheckBiasRelu(plan, d, r);
                x[r.Next(x.Length)] = float.PositiveInfinity;
                (got, want) = RunWithReference(plan, d, ConvDirection.Forward, x, wt, ConvShapes.Data(r, d.OutputShape), b);
                for (int i = 0; i < got.Length; i++)
                    Assert.True(float.IsFinite(want[i]) ? Math.Abs(want[i] - got[i]) <= 1e-3f * (1 + Math.Abs(want[i])) : got[i].Equals(want[i]), $"{d}: {i} got {got[i]} want {want[i]}");
            }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GroupedInPlaceMatchesReference(bool avx512)
    {
        // grouped 3×3 with padding 1 read in place: rows 16 wide (wrapping every 16-position block) to 100, around the
        // 64-position tile (63, 64, 65); heights from 3 (a single body row) up, bands of 512 positions and their last
        // band's pulled-back tile; 3 to 8 output channels per group (channel tails of the four-channel tile), 2 to 7
        // input channels, two images, bias and fused relu, backward-data through the flipped forward (no bias), and an
        // infinite input at the planes' edges. With AVX-512 switched off: the AVX2 tile (16 positions)
        if (avx512 ? !Avx512Tiles : !Avx2Kernels) return;
        WithAvx512(avx512, () => GroupedInPlace(new Random(avx512 ? 3311 : 3313)));
    }

    private static void GroupedInPlace(Random r)
    {
        int shape = 0;
        foreach (var (h, w) in new[] { (3, 100), (5, 31), (7, 16), (4, 63), (6, 64), (5, 65), (56, 56), (19, 46), (30, 17), (12, 100) })
            foreach (var (cg, kg) in new[] { (4, 4), (2, 3), (7, 5), (3, 8) })
            {
                int groups = 2 + shape++ % 3;
                var d = ConvDescriptor.FromGeometry(2, 2, groups * cg, groups * kg, groups, [h, w], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], true);
                var plan = ConvPlanner.Plan(d, ConvDirection.Forward, "depthwise_direct");
                Assert.True(DepthwiseAlgorithm.RunsGroupedInPlace(d), d.ToString());
                var x = ConvShapes.Data(r, d.InputShape); var wt = ConvShapes.Data(r, d.WeightShape); var b = ConvShapes.Data(r, [d.OutChannels]);
                var (got, want) = RunWithReference(plan, d, ConvDirection.Forward, x, wt, ConvShapes.Data(r, d.OutputShape), b);
                for (int i = 0; i < got.Length; i++) Assert.Equal(want[i], got[i], 1e-4f);
                CheckBiasRelu(plan, d, r);
                // backward-data as the flipped forward: the same tile, without bias
                var back = ConvPlanner.Plan(d, ConvDirection.BackwardData, "flipped_forward");
                (got, want) = RunWithReference(back, d, ConvDirection.BackwardData, x, wt, ConvShapes.Data(r, d.OutputShape), b);
                for (int i = 0; i < got.Length; i++) Assert.Equal(want[i], got[i], 1e-4f);
                // the first and last columns and rows, which the masks and the edge copies cover
                int plane = h * w, at = r.Next(d.InputShape[1]) * plane;
                foreach (int i in new[] { at, at + w - 1, at + w, at + 2 * w - 1, at + plane - 1, at + plane - w })
                    x[i] = float.PositiveInfinity;
                (got, want) = RunWithReference(plan, d, ConvDirection.Forward, x, wt, ConvShapes.Data(r, d.OutputShape), b);
                for (int i = 0; i < got.Length; i++)
                    Assert.True(float.IsFinite(want[i]) ? Math.Abs(want[i] - got[i]) <= 1e-3f * (1 + Math.Abs(want[i])) : got[i].Equals(want[i]), $"{d}: {i} got {got[i]} want {want[i]}");
            }
    }

    [Theory]
    [InlineData(2, 3, 2, 1)]   // ResNet-50 conv1's shape in small: 3 channels over 2 threads
    [InlineData(3, 1, 2, 1)]   // one channel, three threads: a wave of chunks that does not divide over them
    [InlineData(2, 5, 3, 2)]   // stride 3 (the scalar scatter), dilation 2
    public void LoweringBackwardDataInWavesMatchesReference(int threads, int c, int stride, int dil)
    {
        // one image whose channels split unevenly over the threads: the chunks of positions go to the threads in two
        // waves, all channels each; the strided scatter's vector body and its edges at both ends of every row
        int saved = ConvEngine.MaxThreads;
        try
        {
            ConvEngine.MaxThreads = threads;
            var r = new Random(threads * 100 + c);
            var d = ConvDescriptor.FromGeometry(2, 1, c, 24, 1, [123, 97], [7, 7], [stride, stride], [dil, dil], [3, 2], [2, 3], false);
            CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardData, "im2col_gemm"), d, ConvDirection.BackwardData, r, 1e-5);
        }
        finally { ConvEngine.MaxThreads = saved; }
    }

    [Fact]
    public void DepthwiseZeroBordersSurviveOtherKernelsOnTheThread()
    {
        // the depthwise scratch planes keep their zero borders from one call to the next; a kernel that wrote the same
        // per-thread buffer in between (the first-layer kernel's padded image) would leave stale borders behind. One
        // thread, so every call uses the same buffers; the depthwise planes first, so the buffer is already large enough
        if (!Avx512Tiles) return;
        int saved = ConvEngine.MaxThreads;
        try
        {
            ConvEngine.MaxThreads = 1;
            var r = new Random(3312);
            var dw = ConvDescriptor.FromGeometry(2, 1, 4, 4, 4, [100, 100], [3, 3], [1, 1], [1, 1], [2, 2], [2, 2], true);
            var first = ConvDescriptor.FromGeometry(2, 1, 3, 32, 1, [48, 48], [7, 7], [2, 2], [1, 1], [3, 3], [3, 3], true);
            var dwPlan = ConvPlanner.Plan(dw, ConvDirection.Forward, "depthwise_direct");
            var firstPlan = ConvPlanner.Plan(first, ConvDirection.Forward, "lane_channel_direct");
            for (int round = 0; round < 2; round++)
                foreach (var (plan, d) in new[] { (dwPlan, dw), (firstPlan, first) })
                {
                    var (got, want) = RunWithReference(plan, d, ConvDirection.Forward, ConvShapes.Data(r, d.InputShape), ConvShapes.Data(r, d.WeightShape),
                        ConvShapes.Data(r, d.OutputShape), ConvShapes.Data(r, [d.OutChannels]));
                    for (int i = 0; i < got.Length; i++) Assert.Equal(want[i], got[i], 1e-3f);
                }
        }
        finally { ConvEngine.MaxThreads = saved; }
    }

    [Theory]
    [InlineData(1, 64, 28, 28, 64, 3, 1, 1, 1)]    // whole runs and tiles, both threads over chunks of tiles
    [InlineData(2, 30, 7, 7, 40, 3, 1, 1, 1)]      // 7-wide rows: tiles across rows, an odd run count; C and K past blocks
    [InlineData(3, 17, 15, 20, 33, 3, 2, 2, 1)]    // dilation, rows past whole runs, images × tiles over threads
    [InlineData(1, 48, 31, 29, 64, 5, 1, 2, 2)]    // row stride 2
    [InlineData(1, 16, 1, 100, 32, 1, 1, 0, 1)]    // one row, 1×1
    [InlineData(3, 64, 9, 32, 64, 3, 1, 1, 1)]     // 32-wide rows: three runs of 4 per tile, the last tile past the image
    [InlineData(1, 20, 5, 12, 40, 3, 1, 1, 2)]     // runs of 4 with row stride 2
    public void BlockedDirectMatchesReferenceOnLargerShapes(int n, int c, int h, int w, int k, int ks, int dil, int pad, int strideH)
    {
        var d = ConvDescriptor.FromGeometry(2, n, c, k, 1, [h, w], [ks, ks], [strideH, 1], [dil, dil], [pad, pad], [pad, pad], false);
        if (!BlockedTiles)
        {
            Assert.Null(BlockedDirectAlgorithm.Instance.TryPlan(d, ConvDirection.Forward));
            return;
        }
        var r = new Random(n * 11 + c + k);
        var plan = ConvPlanner.Plan(d, ConvDirection.Forward, "blocked_direct");
        CheckAgainstReference(plan, d, ConvDirection.Forward, r, 1e-5);
        CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardWeight, "blocked_direct"), d, ConvDirection.BackwardWeight, r, 1e-5);
        // the AVX2 tiles (planned with AVX-512 switched off) perform the same FMAs per element in the same order in the
        // forward; their backward-weights sums the same products in other tiles
        if (Avx2Kernels)
        {
            var x0 = ConvShapes.Data(r, d.InputShape); var w0 = ConvShapes.Data(r, d.WeightShape); var g0 = ConvShapes.Data(r, d.OutputShape);
            bool saved = ConvKit.Kernels.GemmCore.UseAvx512;
            try
            {
                ConvKit.Kernels.GemmCore.UseAvx512 = false;
                var narrow = BlockedDirectAlgorithm.Instance.TryPlan(d, ConvDirection.Forward)!;
                CheckAgainstReference(narrow, d, ConvDirection.Forward, r, 1e-5);
                var (y2, _) = RunWithReference(narrow, d, ConvDirection.Forward, x0, w0, g0, []);
                ConvKit.Kernels.GemmCore.UseAvx512 = saved;
                var (y5, _) = RunWithReference(plan, d, ConvDirection.Forward, x0, w0, g0, []);
                Assert.Equal(y2, y5);
                ConvKit.Kernels.GemmCore.UseAvx512 = false;
                CheckAgainstReference(BlockedDirectAlgorithm.Instance.TryPlan(d, ConvDirection.BackwardWeight)!, d, ConvDirection.BackwardWeight, r, 1e-5);
            }
            finally { ConvKit.Kernels.GemmCore.UseAvx512 = saved; }
        }
        // bias and relu fused in the tile's store
        CheckBiasRelu(plan, d, r);
        // backward-data: the blocked forward of the flipped problem, weights flipped while packed
        if (strideH == 1)
            CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardData, "blocked_direct"), d, ConvDirection.BackwardData, r, 1e-5);
    }

    [Theory]
    [InlineData(1, 70, 7, 7, 40, 3, 1, 1)]     // ResNet-50 res5's grid (63 positions, one tile); 40 = 6·6 + 4 channels
    [InlineData(2, 33, 7, 8, 13, 3, 1, 1)]     // 72 positions: a second tile past the last image's planes; 1-row tail
    [InlineData(1, 20, 14, 14, 12, 3, 2, 2)]   // dilation 2: four tiles, the last one mostly past the grid
    [InlineData(3, 9, 1, 61, 7, 5, 1, 2)]      // one row of 65 positions (1-d in 2-d)
    public void SmallPlaneDirectMatchesReferenceOnLargerShapes(int n, int c, int h, int w, int k, int ks, int dil, int pad)
    {
        var d = ConvDescriptor.FromGeometry(2, n, c, k, 1, [h, w], [ks, ks], [1, 1], [dil, dil], [pad, pad], [pad, pad], false);
        if (!Avx512Tiles)
        {
            Assert.Null(SmallPlaneDirectAlgorithm.Instance.TryPlan(d, ConvDirection.Forward));
            return;
        }
        var r = new Random(n * 13 + c + k);
        var plan = ConvPlanner.Plan(d, ConvDirection.Forward, "small_plane_direct");
        CheckAgainstReference(plan, d, ConvDirection.Forward, r, 1e-5);
        CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardData, "small_plane_direct"), d, ConvDirection.BackwardData, r, 1e-5);
        // bias and relu fused in the copy out of the tile
        CheckBiasRelu(plan, d, r);
        // no backward-weights; strides above 1 and groups are declined
        Assert.Null(SmallPlaneDirectAlgorithm.Instance.TryPlan(d, ConvDirection.BackwardWeight));
        Assert.Null(SmallPlaneDirectAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 8, 9, 9], [8, 8, 3, 3], false, 2, 1), ConvDirection.Forward));
        Assert.Null(SmallPlaneDirectAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 8, 9, 9], [8, 4, 3, 3], false, 1, 1, 1, 2), ConvDirection.Forward));
    }

    [Theory]
    [InlineData(1, 3, 224, 224, 64, 7, 2, 3, 1)]  // ResNet-50 conv1: eight whole tiles per row, two channel blocks
    [InlineData(2, 4, 37, 53, 40, 5, 2, 2, 1)]    // a 27-position row (a tile's tail), 40 = 32 + 8 channels, 2 images
    [InlineData(1, 1, 9, 70, 17, 3, 1, 0, 2)]     // stride 1, dilation 2, one channel past a tile's first half
    public void LaneChannelDirectMatchesReferenceOnLargerShapes(int n, int c, int h, int w, int k, int ks, int stride, int pad, int dil)
    {
        var d = ConvDescriptor.FromGeometry(2, n, c, k, 1, [h, w], [ks, ks], [stride, stride], [dil, dil], [pad, pad], [pad, pad], false);
        if (!Avx2Kernels)
        {
            Assert.Null(LaneChannelDirectAlgorithm.Instance.TryPlan(d, ConvDirection.Forward));
            return;
        }
        // the 14×32 AVX-512 tile where it is on, and the 6×16 AVX2 tile (AVX-512 switched off)
        foreach (bool avx512 in new[] { true, false })
        {
            if (avx512 && !Avx512Tiles) continue;
            WithAvx512(avx512, () =>
            {
                // NaN left in the workspace where the padded planes and packed weights go must not reach y
                PoisonWorkspace(ConvKit.Kernels.Workspace.PaddedPlanes, ConvKit.Kernels.Workspace.PackedWeights);
                var r = new Random(n * 7 + c + k + (avx512 ? 0 : 1));
                var plan = ConvPlanner.Plan(d, ConvDirection.Forward, "lane_channel_direct");
                CheckAgainstReference(plan, d, ConvDirection.Forward, r, 1e-5);
                // bias and relu fused in the tile's stores
                CheckBiasRelu(plan, d, r);
            });
        }
        // forward only; groups and width strides above 2 are declined
        Assert.Null(LaneChannelDirectAlgorithm.Instance.TryPlan(d, ConvDirection.BackwardWeight));
        Assert.Null(LaneChannelDirectAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 4, 20, 20], [16, 2, 3, 3], false, 1, 1, 1, 2), ConvDirection.Forward));
        Assert.Null(LaneChannelDirectAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 3, 40, 40], [16, 3, 5, 5], false, 3, 2), ConvDirection.Forward));
    }

    [Fact]
    public void LaneChannelAvx2TileMatchesReferenceOnRandomShapes()
    {
        // the 6×16 tile's position and channel tails over the first-layer shapes, also where AVX-512 is on
        if (!Avx2Kernels) return;
        WithAvx512(false, () => ForcedAlgorithmMatchesReference("lane_channel_direct", ConvShapes.Kind.FirstLayer, ConvDirection.Forward, 150));
    }

    [Fact]
    public void Avx512DirectKernelsDeclineGridsPastIntOffsets()
    {
        // inputs just under 2^31 elements whose zero-bordered (or phase) planes pass it: declined at planning, before
        // any operand exists, so a forced plan says so instead of overflowing an offset
        if (!Avx512Tiles) return;
        var d = ConvDescriptor.Create(2, [1, 65536, 180, 180], [8, 65536, 3, 3], false, 1, 1);
        Assert.Null(SmallPlaneDirectAlgorithm.Instance.TryPlan(d, ConvDirection.Forward));
        Assert.Throws<ArgumentException>("algorithmName", () => ConvPlanner.Plan(d, ConvDirection.Forward, "small_plane_direct"));
        var s = ConvDescriptor.Create(2, [1, 65536, 180, 180], [8, 65536, 3, 3], false, 2, 1);
        Assert.Null(StridedImplicitGemmAlgorithm.Instance.TryPlan(s, ConvDirection.BackwardWeight));
        var first = ConvDescriptor.Create(2, [1, 4, 20000, 20000], [16, 4, 7, 7], false, 2, 3);
        Assert.Null(LaneChannelDirectAlgorithm.Instance.TryPlan(first, ConvDirection.Forward));
        Assert.Throws<ArgumentException>("algorithmName", () => ConvPlanner.Plan(first, ConvDirection.Forward, "lane_channel_direct"));
        // grids that fit are planned
        Assert.NotNull(StridedImplicitGemmAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 64, 180, 180], [8, 64, 3, 3], false, 2, 1), ConvDirection.BackwardWeight));
        Assert.NotNull(LaneChannelDirectAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 4, 2000, 2000], [16, 4, 7, 7], false, 2, 3), ConvDirection.Forward));
    }

    [Theory]
    [InlineData(2, 3, 70, 66, 64, 7, 2, 3, 1)]   // conv1-like: even/odd split of 32 floats at a time, several chunks, two images
    [InlineData(1, 5, 41, 37, 65, 3, 3, 1, 2)]   // stride 3, dilation 2: taps of one phase at two shifts; a second panel
    [InlineData(1, 2, 9, 100, 7, 5, 2, 0, 1)]    // odd widths past the vector loop; few channels
    [InlineData(2, 3, 20, 21, 64, 3, 2, 1, 2)]   // dilation 2 with stride 2: odd phases unread, but read past by dropped positions
    public void StridedImplicitGemmMatchesReferenceOnLargerShapes(int n, int c, int h, int w, int k, int ks, int stride, int pad, int dil)
    {
        var d = ConvDescriptor.FromGeometry(2, n, c, k, 1, [h, w], [ks, ks], [stride, stride], [dil, dil], [pad, pad], [pad, pad], false);
        if (!Avx512Tiles)
        {
            Assert.Null(StridedImplicitGemmAlgorithm.Instance.TryPlan(d, ConvDirection.BackwardWeight));
            return;
        }
        // NaN left in the workspace where the phase planes go must not reach gW
        PoisonWorkspace(ConvKit.Kernels.Workspace.Columns);
        CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardWeight, "strided_implicit_gemm"), d, ConvDirection.BackwardWeight, new Random(n + c + k), 1e-5);
        // backward-weights of strided layers only
        Assert.Null(StridedImplicitGemmAlgorithm.Instance.TryPlan(d, ConvDirection.Forward));
        Assert.Null(StridedImplicitGemmAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 8, 9, 9], [8, 8, 3, 3], false, 1, 1), ConvDirection.BackwardWeight));
    }

    [Theory]
    [InlineData(1, 64, 28, 28, 128, 2, 2)]   // ResNet's downsampling 1×1
    [InlineData(2, 33, 29, 15, 17, 2, 3)]    // odd sizes (gx rows and columns past the last strided position stay zero), tails
    [InlineData(1, 16, 1, 50, 40, 1, 3)]     // one row
    public void BlockedDirectRunsStridedPointwise(int n, int c, int h, int w, int k, int sh, int sw)
    {
        // backward-data and forward as 1×1 stride-1 convolutions on the output's grid
        var d = ConvDescriptor.FromGeometry(2, n, c, k, 1, [h, w], [1, 1], [sh, sw], [1, 1], [0, 0], [0, 0], false);
        if (!BlockedTiles)
        {
            Assert.Null(BlockedDirectAlgorithm.Instance.TryPlan(d, ConvDirection.BackwardData));
            return;
        }
        var r = new Random(c * 3 + k);
        CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardData, "blocked_direct"), d, ConvDirection.BackwardData, r, 1e-5);
        var fwd = ConvPlanner.Plan(d, ConvDirection.Forward, "blocked_direct");
        CheckAgainstReference(fwd, d, ConvDirection.Forward, r, 1e-5);
        CheckBiasRelu(fwd, d, r);
        // padding has no such form
        var padded = ConvDescriptor.FromGeometry(2, n, c, k, 1, [h, w], [1, 1], [sh, sw], [1, 1], [1, 0], [0, 0], false);
        Assert.Null(BlockedDirectAlgorithm.Instance.TryPlan(padded, ConvDirection.BackwardData));
        Assert.Null(BlockedDirectAlgorithm.Instance.TryPlan(padded, ConvDirection.Forward));
    }

    [Fact]
    public void BlockedDirectDeclinesWhatItCannotRun()
    {
        foreach (var d in new[]
        {
            ConvDescriptor.Create(2, [1, 16, 20, 20], [16, 16, 3, 3], false, 2, 1),            // width stride
            ConvDescriptor.Create(2, [1, 16, 20, 20], [16, 8, 3, 3], false, 1, 1, 1, 2),       // groups
            ConvDescriptor.Create(3, [1, 16, 6, 6, 6], [16, 16, 3, 3, 3], false, 1, 1),        // 3-d
            ConvDescriptor.Create(2, [1, 2047, 1024, 1024], [16, 2047, 3, 3], false, 1, 1),  // blocked input past int offsets
        })
            Assert.Null(BlockedDirectAlgorithm.Instance.TryPlan(d, ConvDirection.Forward));
        var ok = ConvDescriptor.Create(2, [1, 64, 28, 28], [64, 64, 3, 3], false, 1, 1);
        // AVX-512 or AVX2 tiles: without either every shape is declined
        Assert.Equal(BlockedTiles, BlockedDirectAlgorithm.Instance.TryPlan(ok, ConvDirection.BackwardData) is not null);
        // backward-data of a strided layer has no flipped forward form
        Assert.Null(BlockedDirectAlgorithm.Instance.TryPlan(ConvDescriptor.Create(2, [1, 16, 20, 20], [16, 16, 3, 3], false, (2, 1), 1), ConvDirection.BackwardData));
        // the planner's entry: few positions per weight (ResNet-50 res5: its backward-data, and its forward on AVX-512) and
        // half-empty channel blocks go elsewhere
        var res5 = ConvDescriptor.Create(2, [1, 512, 7, 7], [512, 512, 3, 3], false, 1, 1);
        Assert.Null(BlockedDirectAlgorithm.Preferred.TryPlan(res5, ConvDirection.BackwardData));
        Assert.Equal(!System.Runtime.Intrinsics.X86.Avx512F.IsSupported && Avx2Kernels, BlockedDirectAlgorithm.Preferred.TryPlan(res5, ConvDirection.Forward) is not null);
        Assert.Null(BlockedDirectAlgorithm.Preferred.TryPlan(ConvDescriptor.Create(2, [1, 24, 28, 28], [64, 24, 3, 3], false, 1, 1), ConvDirection.Forward));
        Assert.Equal(ConvKit.Kernels.GemmCore.WideFmaPays || (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported && Avx2Kernels),
            BlockedDirectAlgorithm.Preferred.TryPlan(ok, ConvDirection.Forward) is not null);
        // with AVX-512 switched off here the AVX2 tiles run when forced, and the planner's entry leaves them to CPUs that
        // have no AVX-512 at all
        bool saved = ConvKit.Kernels.GemmCore.UseAvx512;
        try
        {
            ConvKit.Kernels.GemmCore.UseAvx512 = false;
            Assert.Equal(Avx2Kernels, BlockedDirectAlgorithm.Instance.TryPlan(ok, ConvDirection.BackwardWeight) is not null);
            Assert.Equal(Avx2Kernels, BlockedDirectAlgorithm.Instance.TryPlan(ok, ConvDirection.Forward) is not null);
            Assert.Equal(!System.Runtime.Intrinsics.X86.Avx512F.IsSupported && Avx2Kernels, BlockedDirectAlgorithm.Preferred.TryPlan(ok, ConvDirection.Forward) is not null);
        }
        finally { ConvKit.Kernels.GemmCore.UseAvx512 = saved; }
    }

    [Theory]
    [InlineData("implicit_gemm", ConvShapes.Kind.StrideOne)]
    [InlineData("direct_small_c", ConvShapes.Kind.SmallChannels)]
    public void Avx2KernelsMatchReference(string algorithm, ConvShapes.Kind kind)
    {
        // the paths taken where AVX-512 is absent, run here by switching it off
        if (!Avx2Kernels) return;
        var r = new Random(2468 + (int)kind);
        bool saved = ConvKit.Kernels.GemmCore.UseAvx512;
        try
        {
            ConvKit.Kernels.GemmCore.UseAvx512 = false;
            for (int i = 0; i < 80; i++)
            {
                var d = ConvShapes.Random(r, kind);
                var dir = i % 2 == 0 ? ConvDirection.Forward : ConvDirection.BackwardWeight;
                CheckAgainstReference(ConvPlanner.Plan(d, dir, algorithm), d, dir, r, 1e-5);
            }
        }
        finally { ConvKit.Kernels.GemmCore.UseAvx512 = saved; }
    }

    [Fact]
    public void SmallChannelWeightGradInFourChannelBlocksMatchesReference()
    {
        // with AVX-512 and planes of whole 16-float vectors, backward-weights takes four output channels at a time, the
        // pairs the rest: channel counts around 4, kernels wider than its five taps, dilation, groups, 1-d
        if (!Avx2Kernels) return;
        var r = new Random(4242);
        foreach (var d in new[]
        {
            ConvDescriptor.Create(2, [3, 1, 28, 28], [32, 1, 5, 5], true, 1, 2),                     // LeNet's layer
            ConvDescriptor.Create(2, [2, 3, 10, 13], [7, 3, 3, 7], true, 1, (1, 3)),                // a quad, a pair, a duplicate; taps 5 + 2
            ConvDescriptor.Create(2, [1, 4, 12, 9], [10, 2, 3, 3], true, 1, 2, 2, 2),               // groups of 5 channels, dilation 2
            ConvDescriptor.Create(1, [2, 2, 40], [4, 2, 9], true, 1, 4),                             // 1-d: one row of 48
        })
        {
            var g = new ConvKit.Kernels.ConvGeometry(d);
            Assert.Equal(ConvKit.Kernels.GemmCore.Avx512On, DirectSmallChannelAlgorithm.FourChannelWeightGrad(g));
            CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.BackwardWeight, "direct_small_c"), d, ConvDirection.BackwardWeight, r, 1e-5);
        }
    }

    [Theory]
    [InlineData("im2col_gemm", 16, 24)]
    [InlineData("direct_small_c", 24, 2)]
    [InlineData("implicit_gemm", 14, 20)]
    [InlineData("blocked_direct", 4, 64)]
    public void BackwardWeightIsTheSameFromRunToRun(string algorithm, int n, int c)
    {
        // partial sums are kept per thread over fixed ranges of images, so thread timing cannot change the rounding
        if (algorithm is "implicit_gemm" or "direct_small_c" && !Avx2Kernels) return;
        if (algorithm == "blocked_direct" && !BlockedTiles) return;
        var d = ConvDescriptor.Create(2, [n, c, 13, 17], [12, c, 3, 3], false, 1, 1);
        var r = new Random(n + c);
        var x = ConvShapes.Data(r, d.InputShape); var gy = ConvShapes.Data(r, d.OutputShape);
        var plan = ConvPlanner.Plan(d, ConvDirection.BackwardWeight, algorithm);
        var first = new float[12 * c * 9];
        plan.BackwardWeight(x, gy, first);
        for (int i = 0; i < 5; i++)
        {
            var again = new float[first.Length];
            plan.BackwardWeight(x, gy, again);
            Assert.Equal(first, again);
        }
    }

    [Fact]
    public void ImplicitGemmDeclinesWhatItCannotRun()
    {
        foreach (var d in new[]
        {
            ConvDescriptor.Create(2, [1, 8, 20, 20], [8, 8, 3, 3], false, 2, 1),            // stride
            ConvDescriptor.Create(2, [1, 8, 20, 20], [8, 4, 3, 3], false, 1, 1, 1, 2),      // groups
            ConvDescriptor.Create(3, [1, 4, 6, 6, 6], [4, 4, 3, 3, 3], false, 1, 1),        // 3-d
            ConvDescriptor.Create(2, [1, 2047, 1024, 1024], [1, 2047, 3, 3], false, 1, 1), // padded planes past int offsets
        })
            Assert.Null(ImplicitGemmAlgorithm.Instance.TryPlan(d, ConvDirection.Forward));
        var ok = ConvDescriptor.Create(2, [1, 64, 32, 32], [64, 64, 3, 3], false, 1, 1);
        Assert.Null(ImplicitGemmAlgorithm.Instance.TryPlan(ok, ConvDirection.BackwardData));
        // the planner's entry leaves narrow outputs, whose dropped columns would be most of the work, to the lowering
        var narrow = ConvDescriptor.Create(2, [2, 64, 10, 12], [64, 64, 3, 9], false, 1, (1, 0));
        Assert.Null(ImplicitGemmAlgorithm.Preferred.TryPlan(narrow, ConvDirection.Forward));
        Assert.Equal(System.Runtime.Intrinsics.X86.Fma.IsSupported, ImplicitGemmAlgorithm.Preferred.TryPlan(ok, ConvDirection.Forward) is not null);
    }

    [Fact]
    public void WinogradDeclinesWhatItCannotRun()
    {
        var strided = ConvDescriptor.Create(2, [1, 16, 10, 10], [16, 16, 3, 3], false, 2, 1);
        Assert.Null(WinogradAlgorithm.Instance.TryPlan(strided, ConvDirection.Forward));
        var ok = ConvDescriptor.Create(2, [1, 16, 10, 10], [16, 16, 3, 3], false, 1, 1);
        Assert.Null(WinogradAlgorithm.Instance.TryPlan(ok, ConvDirection.BackwardData));
        Assert.NotNull(WinogradAlgorithm.Instance.TryPlan(ok, ConvDirection.Forward));
        // F(4x4,3x3) declines the same, and dilation, groups, other kernels and fewer than 8 channels
        Assert.Null(WinogradAlgorithm.Instance4.TryPlan(strided, ConvDirection.Forward));
        Assert.Null(WinogradAlgorithm.Instance4.TryPlan(ok, ConvDirection.BackwardData));
        Assert.Null(WinogradAlgorithm.Instance4.TryPlan(ConvDescriptor.Create(2, [1, 16, 10, 10], [16, 16, 3, 3], false, 1, 2, 2), ConvDirection.Forward));
        Assert.Null(WinogradAlgorithm.Instance4.TryPlan(ConvDescriptor.Create(2, [1, 16, 10, 10], [16, 8, 3, 3], false, 1, 1, 1, 2), ConvDirection.Forward));
        Assert.Null(WinogradAlgorithm.Instance4.TryPlan(ConvDescriptor.Create(2, [1, 16, 10, 10], [16, 16, 5, 5], false, 1, 2), ConvDirection.Forward));
        Assert.Null(WinogradAlgorithm.Instance4.TryPlan(ConvDescriptor.Create(2, [1, 4, 10, 10], [16, 4, 3, 3], false, 1, 1), ConvDirection.Forward));
        Assert.Equal("winograd_f4x4_3x3", WinogradAlgorithm.Instance4.TryPlan(ok, ConvDirection.Forward)?.AlgorithmName);
        // the planner's rule: 256 channels and 2048 positions
        Assert.Null(WinogradAlgorithm.Preferred4.TryPlan(ok, ConvDirection.Forward));
        Assert.Null(WinogradAlgorithm.Preferred4.TryPlan(ConvDescriptor.Create(2, [1, 256, 28, 28], [256, 256, 3, 3], false, 1, 1), ConvDirection.Forward));
    }

    /// <summary>Runs the plan and the reference on the same random data; tolerance scales with the reduction depth.</summary>
    internal static void CheckAgainstReference(ConvPlan plan, ConvDescriptor d, ConvDirection dir, Random r, double relTol)
    {
        var x = ConvShapes.Data(r, d.InputShape);
        var w = ConvShapes.Data(r, d.WeightShape);
        var gy = ConvShapes.Data(r, d.OutputShape);
        var bias = dir == ConvDirection.Forward && d.N % 2 == 0 ? ConvShapes.Data(r, [d.OutChannels]) : [];
        var (got, want) = RunWithReference(plan, d, dir, x, w, gy, bias);
        int depth = dir switch
        {
            ConvDirection.Forward => d.InChannelsPerGroup * d.KernelVolume,
            ConvDirection.BackwardData => d.OutChannelsPerGroup * d.KernelVolume,
            _ => d.N * d.OutputVolume,
        };
        double tol = relTol * Math.Sqrt(depth) * 4 + 1e-6;
        for (int i = 0; i < got.Length; i++)
        {
            double err = Math.Abs(got[i] - want[i]);
            if (!(err <= tol * (1 + Math.Sqrt(Math.Abs(want[i])))))
                Assert.Fail($"{plan.AlgorithmName} {dir} {d}: element {i} got {got[i]} want {want[i]} (tol {tol})");
        }
    }

    /// <summary>A forward <paramref name="plan"/> with a bias and the fused ReLU against the reference.</summary>
    /// <summary>Fills the first 2²⁰ floats of this thread's workspace slots with NaN, as a previous call might have left
    /// them, so that a kernel reading a buffer it did not fully write fails its test.</summary>
    internal static unsafe void PoisonWorkspace(params int[] slots)
    {
        const int floats = 1 << 20;
        foreach (int slot in slots)
            new Span<float>(ConvKit.Kernels.Workspace.Get(slot, floats), floats).Fill(float.NaN);
    }

    internal static void CheckBiasRelu(ConvPlan plan, ConvDescriptor d, Random r)
    {
        var x = ConvShapes.Data(r, d.InputShape); var wt = ConvShapes.Data(r, d.WeightShape); var b = ConvShapes.Data(r, [d.OutChannels]);
        var got = new float[d.OutputShape.Aggregate(1, (p, q) => p * q)]; var want = new float[got.Length];
        plan.Forward(x, wt, b, got, relu: true);
        ConvReference.Forward(d, x, wt, b, want);
        for (int i = 0; i < got.Length; i++) Assert.Equal(Math.Max(want[i], 0f), got[i], 1e-3f);
    }

    /// <summary>Runs <paramref name="plan"/> and the reference in direction <paramref name="dir"/> on the same operands;
    /// the plan's output starts as NaN, so an element it does not write shows.</summary>
    internal static (float[] Got, float[] Want) RunWithReference(ConvPlan plan, ConvDescriptor d, ConvDirection dir,
        float[] x, float[] w, float[] gy, float[] bias)
    {
        int length = dir switch { ConvDirection.Forward => gy.Length, ConvDirection.BackwardData => x.Length, _ => w.Length };
        var got = new float[length]; var want = new float[length];
        Array.Fill(got, float.NaN);
        switch (dir)
        {
            case ConvDirection.Forward:
                plan.Forward(x, w, bias, got);
                ConvReference.Forward(d, x, w, bias, want);
                break;
            case ConvDirection.BackwardData:
                plan.BackwardData(gy, w, got);
                ConvReference.BackwardData(d, gy, w, want);
                break;
            default:
                plan.BackwardWeight(x, gy, got);
                ConvReference.BackwardWeight(d, x, gy, want);
                break;
        }
        return (got, want);
    }
}

/// <summary>The GEMM lowering with weights read in place (no packing) or packed, forced, against the reference.</summary>
[Collection(EngineSettingsCollection.Name)]
public class DirectWeightReadTests
{
    [Theory]
    [InlineData(ConvDirection.Forward, true)]
    [InlineData(ConvDirection.BackwardData, true)]
    [InlineData(ConvDirection.Forward, false)]
    [InlineData(ConvDirection.BackwardData, false)]
    public void InPlaceOrPackedWeightsMatchReference(ConvDirection dir, bool inPlace)
    {
        var r = new Random(77 + (int)dir);
        try
        {
            GemmConvAlgorithm.ForceDirectA = inPlace;
            for (int i = 0; i < 60; i++)
            {
                var kind = i % 3 == 0 ? ConvShapes.Kind.Pointwise : ConvShapes.Kind.General;
                var d = ConvShapes.Random(r, kind);
                var name = kind == ConvShapes.Kind.Pointwise ? "gemm_1x1" : "im2col_gemm";
                // a fresh plan object each time would be cached; the hook is read at run time, so the cached plan is fine
                AlgorithmDifferentialTests.CheckAgainstReference(ConvPlanner.Plan(d, dir, name), d, dir, r, 1e-5);
            }
        }
        finally { GemmConvAlgorithm.ForceDirectA = null; }
    }

    [Fact]
    public void InPlaceAndPackedColumnsMatchReference()
    {
        var r = new Random(78);
        try
        {
            GemmConvAlgorithm.ForceDirectA = false;
            for (int i = 0; i < 60; i++)
            {
                // in place (the default) and packed
                GemmConvAlgorithm.UseDirectB = i % 2 == 0;
                var kind = i % 3 == 0 ? ConvShapes.Kind.Pointwise : ConvShapes.Kind.General;
                var d = ConvShapes.Random(r, kind);
                var name = kind == ConvShapes.Kind.Pointwise ? "gemm_1x1" : "im2col_gemm";
                AlgorithmDifferentialTests.CheckAgainstReference(ConvPlanner.Plan(d, ConvDirection.Forward, name), d, ConvDirection.Forward, r, 1e-5);
            }
        }
        finally { GemmConvAlgorithm.UseDirectB = true; GemmConvAlgorithm.ForceDirectA = null; }
    }
}
