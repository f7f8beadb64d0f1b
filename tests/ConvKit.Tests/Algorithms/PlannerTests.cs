using ConvKit.Algorithms;
using ConvKit.Descriptors;
using ConvKit.Reference;
using Xunit;

namespace ConvKit.Tests.Algorithms;

[Collection(EngineSettingsCollection.Name)]
public class PlannerTests
{
    private static ConvDescriptor D2(int n, int c, int h, int w, int k, int r, int stride = 1, int pad = 0, int dil = 1, int groups = 1)
        => ConvDescriptor.Create(2, [n, c, h, w], [k, c / groups, r, r], false, stride, pad, dil, groups);

    [Fact]
    public void VendorMatchesTheOperatingSystemsReport()
    {
        // the planner's AMD rule reads CPUID's vendor string; Linux reports the same string per processor
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/cpuinfo")) return;
        var vendor = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("vendor_id"));
        if (vendor is null) return;
        Assert.Equal(vendor.EndsWith("AuthenticAMD"), ConvKit.Kernels.GemmCore.IsAmd);
    }

    [Fact]
    public void ChoosesSpecialisedAlgorithms()
    {
        Assert.Equal("gemm_1x1", ConvPlanner.Choose(D2(1, 256, 56, 56, 64, 1), ConvDirection.Forward));
        Assert.Equal("gemm_1x1", ConvPlanner.Choose(D2(1, 256, 56, 56, 64, 1), ConvDirection.BackwardData));
        // the blocked direct kernel: 512-bit tiles where 512-bit FMAs run at full rate, AVX2 tiles where AVX-512 is
        // absent (forward and backward-data only)
        bool blocked = ConvKit.Kernels.GemmCore.WideFmaPays || (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported && AlgorithmDifferentialTests.Avx2Kernels);
        Assert.Equal(blocked ? "blocked_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 512, 28, 28, 1024, 1, stride: 2), ConvDirection.Forward));
        Assert.Equal("depthwise_direct", ConvPlanner.Choose(D2(1, 144, 56, 56, 144, 3, pad: 1, groups: 144), ConvDirection.Forward));
        Assert.Equal("depthwise_direct", ConvPlanner.Choose(D2(1, 144, 56, 56, 144, 3, pad: 1, groups: 144), ConvDirection.BackwardWeight));
        // stride-1 depthwise backward-data runs as the depthwise forward kernel on the rotated filter
        Assert.Equal("flipped_forward", ConvPlanner.Choose(D2(1, 144, 56, 56, 144, 3, pad: 1, groups: 144), ConvDirection.BackwardData));
        bool avx2 = AlgorithmDifferentialTests.Avx2Kernels;
        Assert.Equal(avx2 ? "flipped_forward" : "im2col_gemm", ConvPlanner.Choose(D2(1, 128, 56, 56, 128, 3, pad: 1, groups: 32), ConvDirection.BackwardData));
        Assert.Equal("depthwise_direct", ConvPlanner.Choose(D2(1, 96, 112, 112, 96, 3, pad: 1, stride: 2, groups: 96), ConvDirection.BackwardWeight));
        // ResNeXt's 4 channels per group: the depthwise algorithm's channel tiles (AVX-512 or AVX2); with stride 2 the
        // small-channel kernel
        Assert.Equal(avx2 ? "depthwise_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 128, 56, 56, 128, 3, pad: 1, groups: 32), ConvDirection.Forward));
        Assert.NotEqual("depthwise_direct", ConvPlanner.Choose(D2(1, 128, 56, 56, 128, 3, pad: 1, stride: 2, groups: 32), ConvDirection.Forward));
        Assert.Equal(blocked ? "blocked_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 256, 28, 28, 256, 3, pad: 2, dil: 2), ConvDirection.BackwardWeight));
        // 196 positions: enough for the 512-bit tiles, not for the AVX2 ones
        Assert.Equal(ConvKit.Kernels.GemmCore.WideFmaPays ? "blocked_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 256, 14, 14, 256, 3, pad: 1), ConvDirection.BackwardWeight));
        // 49 positions per weight: the lowering writes gW in place, the implicit GEMM would transpose it
        Assert.Equal("im2col_gemm", ConvPlanner.Choose(D2(1, 512, 7, 7, 512, 3, pad: 1), ConvDirection.BackwardWeight));
        // ResNet-50 conv1 (7×7 stride 2): phase planes instead of a column matrix where 512-bit FMAs are at full rate;
        // strided 1×1 kernels stay with the lowering, which reads their one row per channel in place
        Assert.Equal(ConvKit.Kernels.GemmCore.WideFmaPays ? "strided_implicit_gemm" : "im2col_gemm", ConvPlanner.Choose(D2(1, 3, 224, 224, 64, 7, stride: 2, pad: 3), ConvDirection.BackwardWeight));
        Assert.Equal("im2col_gemm", ConvPlanner.Choose(D2(1, 512, 28, 28, 1024, 1, stride: 2), ConvDirection.BackwardWeight));
        // its forward: output channels in the lanes (no column matrix) with full-rate 512-bit FMAs or AVX2 alone, not
        // with half-rate 512-bit ones; few taps per input (a 3×3 RGB layer) stay with the lowering
        Assert.Equal(ConvKit.Kernels.GemmCore.WideFmaPays || (!ConvKit.Kernels.GemmCore.Avx512On && avx2) ? "lane_channel_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 3, 224, 224, 64, 7, stride: 2, pad: 3), ConvDirection.Forward));
        Assert.NotEqual("lane_channel_direct", ConvPlanner.Choose(D2(1, 3, 224, 224, 32, 3, stride: 2, pad: 1), ConvDirection.Forward));
        Assert.Equal("reference", ConvPlanner.Algorithms[^1].Name);
        // dense stride-1 layers: with full-rate AVX-512 the blocked direct kernel where there are enough positions
        // per weight, else the implicit GEMM (which AVX2 leaves to Winograd and the GEMM lowering where it would drop
        // an eighth of its columns)
        bool wide = ConvKit.Kernels.GemmCore.WideFmaPays, fma = System.Runtime.Intrinsics.X86.Fma.IsSupported;
        // VGG-16's 256-channel layer: Winograd F(4x4,3x3) forward, and backward-data as its flipped forward, but the
        // 512-bit blocked tiles on AMD's cores; F(2x2,3x3) is only run when forced (or by Find)
        bool amdWide = wide && ConvKit.Kernels.GemmCore.IsAmd;
        Assert.Equal(amdWide ? "blocked_direct" : "winograd_f4x4_3x3", ConvPlanner.Choose(D2(1, 256, 56, 56, 256, 3, pad: 1), ConvDirection.Forward));
        Assert.Equal(amdWide ? "blocked_direct" : "flipped_forward", ConvPlanner.Choose(D2(1, 256, 56, 56, 256, 3, pad: 1), ConvDirection.BackwardData));
        Assert.Equal(wide ? null : "winograd_f2x2_3x3", WinogradAlgorithm.Preferred.TryPlan(D2(1, 256, 56, 56, 256, 3, pad: 1), ConvDirection.Forward)?.AlgorithmName);
        Assert.Equal(blocked ? "blocked_direct" : fma ? "implicit_gemm" : "im2col_gemm", ConvPlanner.Choose(D2(1, 64, 56, 56, 64, 3, pad: 1), ConvDirection.Forward));
        Assert.Equal(blocked ? "blocked_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 256, 28, 28, 256, 3, pad: 2, dil: 2), ConvDirection.Forward));
        // 32-wide rows: 512-bit tiles in runs of 4 (runs of 7 would compute 35 positions per row), AVX2 tiles position
        // by position
        Assert.Equal(blocked ? "blocked_direct" : fma ? "implicit_gemm" : "im2col_gemm", ConvPlanner.Choose(D2(32, 64, 32, 32, 64, 3, pad: 1), ConvDirection.Forward));
        Assert.Equal(blocked ? "blocked_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 256, 14, 14, 256, 3, pad: 1), ConvDirection.Forward));
        // ResNet-50 res5: one 64-position tile holds the 7×7 output's 63-position grid, weights read in place; the AVX2
        // tiles without AVX-512; the implicit GEMM where 512-bit FMAs are not at full rate; 4×4 fits the implicit
        // GEMM's 32-column tile
        Assert.Equal(wide ? "small_plane_direct" : blocked ? "blocked_direct" : fma ? "implicit_gemm" : "im2col_gemm",
            ConvPlanner.Choose(D2(1, 512, 7, 7, 512, 3, pad: 1), ConvDirection.Forward));
        Assert.Equal(fma ? "implicit_gemm" : "im2col_gemm", ConvPlanner.Choose(D2(1, 512, 4, 4, 512, 3, pad: 1), ConvDirection.Forward));
        Assert.Equal("im2col_gemm", ConvPlanner.Choose(D2(1, 64, 56, 56, 64, 3, pad: 1, stride: 2), ConvDirection.BackwardData));
        Assert.Equal(blocked ? "blocked_direct" : fma ? "flipped_forward" : "im2col_gemm", ConvPlanner.Choose(D2(1, 64, 56, 56, 64, 3, pad: 1), ConvDirection.BackwardData));
        // 49 output positions: flipping 9.4 MB of weights costs more than the lowering's backward-data, so only the
        // small-plane kernel, which reads them in place, runs the flipped problem
        Assert.Equal(wide ? "small_plane_direct" : "im2col_gemm", ConvPlanner.Choose(D2(1, 512, 7, 7, 512, 3, pad: 1), ConvDirection.BackwardData));
        Assert.Equal(avx2 ? "direct_small_c" : "im2col_gemm", ConvPlanner.Choose(D2(64, 1, 28, 28, 32, 3, pad: 1), ConvDirection.Forward));
    }

    [Fact]
    public void PlansAreCachedByGeometry()
    {
        var a = ConvPlanner.Plan(D2(2, 8, 10, 10, 4, 3, pad: 1), ConvDirection.Forward);
        var b = ConvPlanner.Plan(D2(2, 8, 10, 10, 4, 3, pad: 1), ConvDirection.Forward);
        Assert.Same(a, b);
        Assert.NotSame(a, ConvPlanner.Plan(D2(2, 8, 10, 10, 4, 3, pad: 1), ConvDirection.BackwardData));
    }

    [Fact]
    public void ForcingUnknownOrDecliningAlgorithmThrows()
    {
        var d = D2(1, 4, 8, 8, 4, 3);
        var ex = Assert.Throws<ArgumentException>(() => ConvPlanner.Plan(d, ConvDirection.Forward, "nope"));
        Assert.Equal("algorithmName", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => ConvPlanner.Plan(d, ConvDirection.Forward, "gemm_1x1"));
        Assert.Equal("algorithmName", ex.ParamName);
        Assert.Equal("reference", ConvPlanner.Plan(d, ConvDirection.Forward, "reference").AlgorithmName);
    }

    [Fact]
    public void PlanRejectsWrongDirectionAndLengths()
    {
        var d = D2(1, 4, 8, 8, 4, 3);
        var plan = ConvPlanner.Plan(d, ConvDirection.Forward);
        Assert.Throws<InvalidOperationException>(() => plan.BackwardData(new float[4 * 36], new float[4 * 36], new float[256]));
        var ex = Assert.Throws<ArgumentException>(() => plan.Forward(new float[255], new float[144], [], new float[144]));
        Assert.Equal("input", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => plan.Forward(new float[256], new float[144], new float[3], new float[144]));
        Assert.Equal("bias", ex.ParamName);
    }

    [Fact]
    public void FusedBiasReluMatchesReference()
    {
        var r = new Random(7);
        foreach (var d in new[] { D2(2, 5, 11, 9, 7, 3, pad: 1), D2(1, 16, 12, 12, 24, 1), D2(1, 6, 13, 13, 6, 3, pad: 1, groups: 6) })
        {
            var x = ConvShapes.Data(r, d.InputShape); var w = ConvShapes.Data(r, d.WeightShape); var b = ConvShapes.Data(r, [d.OutChannels]);
            var y = new float[d.OutputShape.Aggregate(1, (p, s) => p * s)];
            var want = new float[y.Length];
            ConvEngine.Forward(d, x, w, b, y, relu: true);
            ConvReference.Forward(d, x, w, b, want);
            for (int i = 0; i < y.Length; i++) Assert.Equal(Math.Max(want[i], 0f), y[i], 1e-4f);
        }
    }

    [Theory]
    [InlineData(ConvDirection.Forward)]
    [InlineData(ConvDirection.BackwardData)]
    [InlineData(ConvDirection.BackwardWeight)]
    public void LargerShapesThreadedAndSingleThreadedMatchReference(ConvDirection dir)
    {
        var r = new Random(99 + (int)dir);
        var shapes = new[]
        {
            D2(1, 32, 20, 20, 40, 3, pad: 1),          // one image: threads inside the GEMM / channel parts
            D2(4, 16, 15, 15, 24, 3, stride: 2, pad: 1), // several images: item-parallel
            D2(1, 64, 30, 30, 32, 1),                   // pointwise, many columns
            D2(1, 48, 17, 17, 48, 3, pad: 1, groups: 48),
        };
        int saved = ConvEngine.MaxThreads;
        try
        {
            foreach (var t in new[] { 1, 2 })
            {
                ConvEngine.MaxThreads = t;
                foreach (var d in shapes)
                    AlgorithmDifferentialTests.CheckAgainstReference(ConvPlanner.Plan(d, dir), d, dir, r, 1e-5);
            }
        }
        finally { ConvEngine.MaxThreads = saved; }
    }

    [Fact]
    public void SharedPlanIsThreadSafe()
    {
        var d = D2(2, 12, 14, 14, 16, 3, pad: 1);
        var plan = ConvPlanner.Plan(d, ConvDirection.Forward);
        var r = new Random(5);
        var inputs = Enumerable.Range(0, 8).Select(_ => ConvShapes.Data(r, d.InputShape)).ToArray();
        var w = ConvShapes.Data(r, d.WeightShape);
        int ylen = d.OutputShape.Aggregate(1, (p, s) => p * s);
        var expected = inputs.Select(x => { var y = new float[ylen]; ConvReference.Forward(d, x, w, [], y); return y; }).ToArray();
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var y = new float[ylen];
            plan.Forward(inputs[i % 8], w, [], y);
            for (int j = 0; j < ylen; j++)
                if (Math.Abs(y[j] - expected[i % 8][j]) > 1e-3f) throw new Xunit.Sdk.XunitException($"call {i} element {j}: {y[j]} vs {expected[i % 8][j]}");
        });
    }

    [Fact]
    public void FindTimesTheCandidatesAndCachesTheFastest()
    {
        // shapes no other test plans, since Find replaces the planner's cached choice for them
        var r = new Random(77);
        foreach (var (d, dir) in new[]
        {
            (D2(1, 24, 13, 11, 40, 3, pad: 1), ConvDirection.Forward),
            (D2(2, 20, 9, 15, 20, 3, pad: 1, groups: 20), ConvDirection.BackwardData),
            (D2(1, 7, 10, 12, 9, 3, pad: 2, dil: 2), ConvDirection.BackwardWeight),
        })
        {
            var (plan, timings) = ConvPlanner.Find(d, dir, repetitions: 3);
            // without AVX2 only the GEMM lowering (and the reference, left out) accepts some of these
            Assert.True(timings.Count >= (AlgorithmDifferentialTests.Avx2Kernels ? 2 : 1), string.Join(", ", timings));
            Assert.DoesNotContain(timings, t => t.Algorithm == "reference");
            Assert.Equal(timings.OrderBy(t => t.Milliseconds).Select(t => t.Algorithm), timings.Select(t => t.Algorithm));
            Assert.Equal(timings[0].Algorithm, plan.AlgorithmName);
            Assert.Same(plan, ConvPlanner.Plan(d, dir));
            AlgorithmDifferentialTests.CheckAgainstReference(plan, d, dir, r, 1e-5);
        }
        Assert.Throws<ArgumentOutOfRangeException>("repetitions", () => ConvPlanner.Find(D2(1, 3, 5, 5, 2, 3), ConvDirection.Forward, 0));
        // a reflect-padded descriptor is not a Core one
        var reflect = ConvDescriptor.Create(2, [1, 2, 6, 6], [3, 2, 3, 3], false, 1, 1, paddingMode: PaddingMode.Reflect);
        Assert.Contains("Core", Assert.Throws<ArgumentException>("descriptor", () => ConvPlanner.Find(reflect, ConvDirection.Forward)).Message);
    }
}
