using ConvKit.Imaging;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Imaging;

/// <summary>The filter tests switch the kernel paths through static hooks, so they run apart from other tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public static class FilterPaths
{
    /// <summary>Collection name.</summary>
    public const string Name = "Filter2D kernel paths";

    /// <summary>Sets each kernel path this machine can run in turn (AVX-512, AVX2, scalar loops), yielding its name,
    /// and restores the defaults afterwards.</summary>
    public static IEnumerable<string> Each()
    {
        bool v512 = Filter2D.UseVector512, vec = Filter2D.UseVectors;
        try
        {
            if (v512) yield return "avx512";
            Filter2D.UseVector512 = false;
            if (vec) yield return "avx2";
            Filter2D.UseVectors = false;
            yield return "scalar";
        }
        finally
        {
            Filter2D.UseVector512 = v512;
            Filter2D.UseVectors = vec;
        }
    }
}

/// <summary>Differential tests of the vectorized, separable and engine paths against the plain-loop reference.</summary>
[Collection(FilterPaths.Name)]
public class Filter2DTests
{
    private static readonly BorderMode[] Borders = Enum.GetValues<BorderMode>();

    private static string ShapeText(Tensor<float> t) => string.Join("x", t.ShapeArray());

    private static Kernel2D RandomKernel(int rows, int cols, ulong seed) => Kernel2D.FromTensor(Tensor.Randn<float>(seed, rows, cols));

    [Fact]
    public void VectorPathMatchesReferenceOnAwkwardSizes()
    {
        ulong seed = 1;
        foreach (var (h, w) in new[] { (1, 1), (1, 7), (2, 8), (3, 9), (5, 15), (7, 16), (4, 17), (6, 63), (3, 64), (2, 65), (9, 130), (1, 200) })
            foreach (var (kh, kw) in new[] { (1, 3), (3, 1), (2, 2), (3, 3), (4, 5), (7, 7), (5, 9), (11, 3) })
                foreach (var border in Borders)
                {
                    var x = Tensor.Rand<float>(seed++, [2, h, w], -1, 1);
                    var k = RandomKernel(kh, kw, seed++);
                    var fast = Filter2D.Apply(x, k, border, 0.25f, threads: 1);
                    var refr = Filter2D.Reference(x, k, border, 0.25f);
                    FilterGoldenTests.AssertClose(refr, fast, 1e-4, $"{h}x{w} kernel {kh}x{kw} {border}");
                }
    }

    [Fact]
    public void SeparablePathMatchesReference()
    {
        ulong seed = 100;
        foreach (var (h, w) in new[] { (1, 1), (3, 5), (8, 8), (13, 33), (5, 70) })
            foreach (var (kh, kw) in new[] { (3, 3), (5, 5), (1, 7), (9, 3), (4, 6) })
                foreach (var border in Borders)
                {
                    var x = Tensor.Rand<float>(seed++, [h, w], 0, 1);
                    var col = Tensor.Randn<float>(seed++, kh).AsSpan().ToArray();
                    var row = Tensor.Randn<float>(seed++, kw).AsSpan().ToArray();
                    var k = Kernel2D.Outer(col, row);
                    Assert.True(k.TrySeparate(out _, out _));
                    var refr = Filter2D.Reference(x, k, border, -0.5f);
                    FilterGoldenTests.AssertClose(refr, Filter2D.Apply(x, k, border, -0.5f, threads: 1), 1e-4, $"{h}x{w} sep {kh}x{kw} {border}");
                    FilterGoldenTests.AssertClose(refr, Filter2D.Separable(x, col, row, border, -0.5f), 1e-4, $"{h}x{w} Separable {kh}x{kw} {border}");
                }
    }

    [Fact]
    public void EnginePathForLargeKernelsMatchesReference()
    {
        var x = Tensor.Rand<float>(3, [2, 14, 19], 0, 1);
        foreach (var border in Borders)
        {
            var k = RandomKernel(11, 12, 9); // 132 weights: over the engine threshold
            FilterGoldenTests.AssertClose(Filter2D.Reference(x, k, border, 0.5f), Filter2D.Apply(x, k, border, 0.5f), 1e-4, $"engine {border}");
        }
    }

    [Fact]
    public void StreamingStoresAtEveryAlignmentMatchReference()
    {
        long saved = Filter2D.StreamingThreshold;
        Filter2D.StreamingThreshold = 0; // force the non-temporal path (same values either way)
        try
        {
            foreach (var path in FilterPaths.Each())
            foreach (var x in new[] { Tensor.Rand<float>(8, [2, 5, 203], 0, 1), Tensor.Rand<float>(9, [2, 9, 208], 0, 1), Tensor.Rand<float>(10, [1, 8, 16], 0, 1) })
            foreach (var k in new[] { RandomKernel(3, 3, 20), RandomKernel(7, 7, 21), RandomKernel(4, 6, 22), Kernel2D.Outer([1, 2, 1], [0.5f, -1, 0, 1, 0.5f]) })
            {
                var expected = Filter2D.Reference(x, k);
                for (int off = 0; off < 16; off++)
                {
                    var buf = new float[x.Length + 16];
                    var dst = new Tensor<float>(buf, off, x.ShapeArray());
                    Filter2D.Apply(x, k, output: dst, threads: 2);
                    FilterGoldenTests.AssertClose(expected, dst, 1e-5, $"{path} {ShapeText(x)} {k.Rows}x{k.Cols} offset {off}");
                }
            }
        }
        finally { Filter2D.StreamingThreshold = saved; }
    }

    [Fact]
    public void EveryPathMatchesReferenceOnAwkwardWidths()
    {
        // Widths around the 16-wide vectors and 64-wide blocks of the AVX-512 kernels (and the 8/32/64 of AVX2),
        // heights around their four- and two-row passes; 3/5/7-wide kernels take the shifted-view kernels.
        int[] widths = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 47, 63, 64, 65, 79, 80, 97, 127, 131, 193];
        int[] heights = [1, 2, 3, 4, 5, 7, 9, 13];
        (int, int)[] kernels = [(3, 3), (5, 5), (7, 7), (3, 5), (5, 7), (7, 3), (1, 7), (4, 4), (2, 3), (9, 9)];
        foreach (var path in FilterPaths.Each())
        {
            ulong seed = 1000;
            int n = 0;
            foreach (int w in widths)
                foreach (var (kh, kw) in kernels)
                {
                    int h = heights[n++ % heights.Length];
                    var border = Borders[n % Borders.Length];
                    var x = Tensor.Rand<float>(seed++, [2, h, w], -1, 1);
                    var k = RandomKernel(kh, kw, seed++);
                    var fast = Filter2D.Apply(x, k, border, 0.25f, threads: 1);
                    FilterGoldenTests.AssertClose(Filter2D.Reference(x, k, border, 0.25f), fast, 1e-4, $"{path} {h}x{w} kernel {kh}x{kw} {border}");
                }
        }
    }

    [Fact]
    public void EveryPathMatchesReferenceInEveryBorderModeAndAnchor()
    {
        foreach (var path in FilterPaths.Each())
        {
            ulong seed = 2000;
            foreach (var (h, w) in new[] { (6, 17), (9, 64), (11, 83), (4, 130) })
                foreach (var (kh, kw) in new[] { (3, 3), (5, 5), (7, 7), (3, 7) })
                    foreach (var border in Borders)
                        foreach (var (ay, ax) in new[] { (-1, -1), (0, 0), (kh - 1, kw - 1), (kh / 2, 0) })
                        {
                            var x = Tensor.Rand<float>(seed++, [1, h, w], 0, 1);
                            var direct = new Kernel2D(kh, kw, RandomKernel(kh, kw, seed++).Values, ay, ax);
                            var col = Tensor.Randn<float>(seed++, kh).AsSpan().ToArray();
                            var row = Tensor.Randn<float>(seed++, kw).AsSpan().ToArray();
                            var outer = Kernel2D.Outer(col, row);
                            var sep = new Kernel2D(kh, kw, outer.Values, ay, ax);
                            string what = $"{path} {h}x{w} {kh}x{kw} anchor ({ay}, {ax}) {border}";
                            FilterGoldenTests.AssertClose(Filter2D.Reference(x, direct, border, 0.75f), Filter2D.Apply(x, direct, border, 0.75f, threads: 1), 1e-4, what);
                            FilterGoldenTests.AssertClose(Filter2D.Reference(x, sep, border, 0.75f), Filter2D.Apply(x, sep, border, 0.75f, threads: 1), 1e-4, what + " separable");
                        }
        }
    }

    [Fact]
    public void EveryPathMatchesReferenceOnSeparableKernelsAtAwkwardWidths()
    {
        foreach (var path in FilterPaths.Each())
        {
            ulong seed = 3000;
            foreach (int w in new[] { 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 97, 131 })
                foreach (var (kh, kw) in new[] { (3, 3), (5, 5), (7, 7), (3, 5), (1, 9), (9, 1) })
                {
                    var border = Borders[(int)(seed % (ulong)Borders.Length)];
                    int h = 1 + (int)(seed % 11);
                    var x = Tensor.Rand<float>(seed++, [2, h, w], 0, 1);
                    var k = Kernel2D.Outer(Tensor.Randn<float>(seed++, kh).AsSpan().ToArray(), Tensor.Randn<float>(seed++, kw).AsSpan().ToArray());
                    FilterGoldenTests.AssertClose(Filter2D.Reference(x, k, border, -0.5f), Filter2D.Apply(x, k, border, -0.5f, threads: 1), 1e-4, $"{path} {h}x{w} sep {kh}x{kw} {border}");
                }
        }
    }

    [Fact]
    public void ThreadedRunsMatchSingleThreadedOnEveryPath()
    {
        // Large enough to be split across threads; plane height 61 puts chunk edges at every row phase. Smaller
        // chunks make workers continue their previous chunk (row cache kept) and switch planes mid-chunk.
        var x = Tensor.Rand<float>(14, [3, 61, 200], 0, 1);
        int saved = Filter2D.ChunkRows;
        try
        {
            foreach (var path in FilterPaths.Each())
                foreach (var k in new[] { RandomKernel(3, 3, 15), RandomKernel(7, 7, 16), Filters.Parse("gaussian:5").Kernel })
                    foreach (var border in new[] { BorderMode.Reflect101, BorderMode.Constant })
                    {
                        var one = Filter2D.Apply(x, k, border, 0.5f, threads: 1).AsSpan().ToArray();
                        foreach (var chunk in new[] { 4, 8, 16 })
                        {
                            Filter2D.ChunkRows = chunk;
                            foreach (var t in new[] { 2, 3, 5 })
                                Assert.True(one.AsSpan().SequenceEqual(Filter2D.Apply(x, k, border, 0.5f, threads: t).AsSpan()), $"{path} {k.Rows}x{k.Cols} {border} chunk {chunk} threads {t}");
                        }
                    }
        }
        finally { Filter2D.ChunkRows = saved; }
    }

    [Fact]
    public void LargeFreshOutputMatchesReusedOutput()
    {
        // Over the huge-page threshold: the fresh output range is marked for huge pages before the filter writes it.
        var x = Tensor.Rand<float>(17, [1, 1030, 1031], 0, 1);
        Assert.True(x.Length >= HugePages.Threshold);
        foreach (var k in new[] { RandomKernel(3, 3, 18), Filters.Parse("gaussian:5").Kernel })
        {
            var reused = new Tensor<float>(x.ShapeArray());
            Filter2D.Apply(x, k, output: reused);
            var fresh = Filter2D.Apply(x, k);
            Assert.True(reused.AsSpan().SequenceEqual(fresh.AsSpan()));
            var r = Filter2D.Reference(x, k);
            FilterGoldenTests.AssertClose(r, fresh, 1e-4, $"{k.Rows}x{k.Cols} fresh");
        }
    }

    [Fact]
    public void ThreadedRunsMatchSingleThreaded()
    {
        var x = Tensor.Rand<float>(4, [3, 67, 301], 0, 1);
        var k = RandomKernel(5, 5, 11);
        var one = Filter2D.Apply(x, k, threads: 1);
        foreach (var t in new[] { 2, 3, 7 }) Assert.Equal(one.AsSpan().ToArray(), Filter2D.Apply(x, k, threads: t).AsSpan().ToArray());
    }

    [Fact]
    public void StrideDilationAndConvolutionMatchReference()
    {
        var x = Tensor.Rand<float>(5, [2, 11, 17], 0, 1);
        var k = RandomKernel(3, 4, 12);
        foreach (var border in Borders)
            foreach (var (s, d) in new[] { (1, 2), (2, 1), (3, 2), (2, 3) })
                foreach (var conv in new[] { false, true })
                {
                    var fast = Filter2D.Apply(x, k, border, 0.1f, conv, s, d);
                    Assert.Equal([2, (11 - 1) / s + 1, (17 - 1) / s + 1], fast.ShapeArray());
                    FilterGoldenTests.AssertClose(Filter2D.Reference(x, k, border, 0.1f, conv, s, d), fast, 1e-5, $"s{s} d{d} {border} conv={conv}");
                }
    }

    [Fact]
    public void ConvolutionFlipsTheKernel()
    {
        var x = Tensor.Rand<float>(6, [9, 10], 0, 1);
        var k = RandomKernel(3, 3, 13);
        FilterGoldenTests.AssertClose(Filter2D.Apply(x, k.Flip()), Filter2D.Apply(x, k, convolution: true), 0, "flip");
        // An impulse filtered by true convolution reproduces the kernel.
        var impulse = new Tensor<float>(5, 5);
        impulse[2, 2] = 1;
        var y = Filter2D.Apply(impulse, k, BorderMode.Constant, convolution: true);
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) Assert.Equal(k[i, j], y[1 + i, 1 + j]);
    }

    [Fact]
    public void BorderIndexMatchesOpenCvDefinition()
    {
        foreach (var border in Borders)
            foreach (var len in new[] { 1, 2, 3, 5 })
                for (int p = -12; p < 17; p++)
                    Assert.Equal(OpenCvBorder(p, len, border), Filter2D.BorderIndex(p, len, border));
        Assert.Equal(new[] { 2, 1, 0, 1, 2, 3, 2, 1 }, Enumerable.Range(-2, 8).Select(p => Filter2D.BorderIndex(p, 4, BorderMode.Reflect101)));
        Assert.Equal(new[] { 1, 0, 0, 1, 2, 3, 3, 2 }, Enumerable.Range(-2, 8).Select(p => Filter2D.BorderIndex(p, 4, BorderMode.Reflect)));
    }

    // OpenCV's borderInterpolate, loop form.
    private static int OpenCvBorder(int p, int len, BorderMode b)
    {
        if ((uint)p < (uint)len) return p;
        switch (b)
        {
            case BorderMode.Replicate: return p < 0 ? 0 : len - 1;
            case BorderMode.Constant: return -1;
            case BorderMode.Wrap:
                if (p < 0) p -= ((p - len + 1) / len) * len;
                if (p >= len) p %= len;
                return p;
            default:
                int delta = b == BorderMode.Reflect101 ? 1 : 0;
                if (len == 1) return 0;
                do
                {
                    if (p < 0) p = -p - 1 + delta;
                    else p = len - 1 - (p - len) - delta;
                } while ((uint)p >= (uint)len);
                return p;
        }
    }

    [Fact]
    public void NamedKernelsAndParsing()
    {
        Assert.Equal("[[1, 0, -1], [2, 0, -2], [1, 0, -1]]", Filters.Parse("[[1,0,-1],[2,0,-2],[1,0,-1]]").Kernel.ToString());
        Assert.Equal("[[1, 2, 3]]", Filters.Parse("[1 2 3]").Kernel.ToString());
        Assert.Equal(-1f / 3, Filters.Parse("edge").Kernel[0, 0], 6);
        Assert.Equal(new[] { 0.0625f, 0.25f, 0.375f, 0.25f, 0.0625f }, Filters.Gaussian1D(5));
        var g11 = Filters.Gaussian1D(11);
        Assert.Equal(1.0, g11.Sum(), 5);
        // sigma = 0.3·((11−1)·0.5−1)+0.8 = 2
        Assert.Equal(Math.Exp(-25 / 8.0) / Enumerable.Range(-5, 11).Sum(i => Math.Exp(-i * i / 8.0)), g11[0], 6);
        Assert.NotNull(Filters.Parse("sobel").KernelY);
        Assert.True(Filters.Parse("laplacian").IsEdge);
        Assert.Equal(0.5f, Filters.Parse("[[1/2]]").Kernel[0, 0]);
        var e1 = Assert.Throws<ArgumentException>(() => Filters.Parse("box:4"));
        Assert.Contains("odd", e1.Message);
        Assert.Throws<ArgumentException>(() => Filters.Parse("nonsense"));
        Assert.Throws<ArgumentException>(() => Filters.Parse("[[1,2],[3]]"));
        Assert.Throws<ArgumentException>(() => Filters.Parse("[[1,x]]"));
        Assert.Throws<ArgumentException>(() => Filters.Parse("gaussian:5:-1"));
    }

    [Fact]
    public void ReadsTextKernelFiles()
    {
        var path = Path.Combine(Path.GetTempPath(), $"convkit-k-{Guid.NewGuid():N}.txt");
        try
        {
            File.WriteAllText(path, "# sobel\n1 0 -1\n2, 0, -2\n1 0 -1\n");
            Assert.Equal("[[1, 0, -1], [2, 0, -2], [1, 0, -1]]", Filters.Parse(path).Kernel.ToString());
            File.WriteAllText(path, "1 2\n3\n");
            Assert.Throws<InvalidDataException>(() => Filters.Parse(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var x = new Tensor<float>(4, 4);
        var k = Filters.Parse("box:3").Kernel;
        Assert.Equal("image", Assert.Throws<ArgumentException>(() => Filter2D.Apply(new Tensor<float>(4), k)).ParamName);
        Assert.Equal("stride", Assert.Throws<ArgumentOutOfRangeException>(() => Filter2D.Apply(x, k, stride: 0)).ParamName);
        Assert.Equal("dilation", Assert.Throws<ArgumentOutOfRangeException>(() => Filter2D.Apply(x, k, dilation: -1)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => Filter2D.Apply(x, k, output: new Tensor<float>(3, 4))).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => new Kernel2D(2, 2, [1, 2, 3])).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => new Kernel2D(1, 2, [1, float.NaN])).ParamName);
    }
}
