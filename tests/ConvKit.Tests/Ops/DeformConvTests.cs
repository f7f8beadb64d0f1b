using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

public class DeformConvTests
{
    public static TheoryData<string> GoldenCases => OpsBSupport.Names(op => op.EndsWith("deform_conv2d", StringComparison.Ordinal));

    [Theory, MemberData(nameof(GoldenCases))]
    public void MatchesTorchvisionFloat(string name) => OpsBSupport.AssertGolden<float>(name);

    [Theory, MemberData(nameof(GoldenCases))]
    public void MatchesTorchvisionDouble(string name) => OpsBSupport.AssertGolden<double>(name);

    [Fact]
    public void ZeroOffsetsUnitMaskEqualConv2d()
    {
        var x = Tensor.Randn<double>(1, 2, 4, 7, 6);
        var w = Tensor.Randn<double>(2, 6, 2, 3, 2);
        var b = Tensor.Randn<double>(3, 6);
        var off = new Tensor<double>(2, 2 * 3 * 2, 4, 6);
        var mask = Tensor.Full(1.0, 2, 3 * 2, 4, 6);
        var expected = Functional.Conv2d(x, w, b, stride: (2, 1), padding: (1, 1), dilation: (1, 2), groups: 2);
        OpsBSupport.AssertClose(expected, Functional.DeformConv2d(x, off, w, b, (2, 1), (1, 1), (1, 2)), 1e-12);
        OpsBSupport.AssertClose(expected, Functional.DeformConv2d(x, off, w, b, (2, 1), (1, 1), (1, 2), mask), 1e-12);
    }

    [Fact]
    public void HandWorkedSamples()
    {
        // 1x1 kernel on a 2x3 plane: output (0, 0) samples at the offset position.
        var x = Tensor.FromArray([1.0, 2, 3, 4, 5, 6], 1, 1, 2, 3);
        var w = Tensor.FromArray([1.0], 1, 1, 1, 1);
        double Sample(double dy, double dx)
        {
            var off = new Tensor<double>(1, 2, 2, 3);
            off[0, 0, 0, 0] = dy; off[0, 1, 0, 0] = dx;
            return Functional.DeformConv2d(x, off, w)[0, 0, 0, 0];
        }
        Assert.Equal(1.0, Sample(0, 0));
        Assert.Equal(5.0, Sample(1, 1));                          // exact grid point
        Assert.Equal(0.25 * (1 + 2 + 4 + 5), Sample(0.5, 0.5), 12); // centre of a cell
        Assert.Equal(0.5 * 3, Sample(0, 2.5), 12);                 // half outside on the right: only the in-range corner
        Assert.Equal(0.0, Sample(-1, 0));                          // y = -1 exactly reads 0
        Assert.Equal(0.0, Sample(2, 0));                           // y = H exactly reads 0
        Assert.Equal(0.0, Sample(0, 3));                           // x = W exactly reads 0
        Assert.Equal(0.25 * 1, Sample(-0.5, -0.5), 12);            // one corner in range
        Assert.Equal(0.0, Sample(40, -7));
    }

    [Theory]
    [InlineData(1, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, false)]
    [InlineData(2, 4, 7, 5, 6, 2, 3, 2, 1, 0, 2, 2, 1, 2, true)]
    [InlineData(1, 6, 6, 6, 3, 3, 1, 1, 2, 2, 1, 3, 3, 1, true)]
    [InlineData(3, 2, 3, 9, 5, 1, 1, 3, 2, 1, 0, 1, 1, 2, false)]
    public void FastPathMatchesReference(int n, int cin, int h, int w, int cout, int kh, int kw, int sh, int sw, int ph, int pw,
        int groups, int ogroups, int dil, bool v2)
    {
        ulong seed = (ulong)(n * 1000 + cin * 100 + h * 10 + w);
        int ho = (h + 2 * ph - dil * (kh - 1) - 1) / sh + 1, wo = (w + 2 * pw - dil * (kw - 1) - 1) / sw + 1;
        var x = Tensor.Randn<float>(seed, n, cin, h, w);
        var off = Tensor.Rand<float>(seed + 1, [n, 2 * ogroups * kh * kw, ho, wo], -3, 3);
        var wt = Tensor.Randn<float>(seed + 2, cout, cin / groups, kh, kw);
        var b = Tensor.Randn<float>(seed + 3, cout);
        var m = v2 ? Tensor.Rand<float>(seed + 4, [n, ogroups * kh * kw, ho, wo]) : null;
        var fast = Functional.DeformConv2d(x, off, wt, b, (sh, sw), (ph, pw), dil, m);
        var geo = DeformConvGeometry.Create(x.Shape, off.Shape, wt.Shape, b.Shape, true, m is null ? default : m.Shape, m is not null,
            (sh, sw), (ph, pw), dil);
        var refY = new Tensor<double>(geo.OutputShape);
        DeformConv.ForwardReference<double>(geo, x.Cast<double>().AsSpan(), off.Cast<double>().AsSpan(),
            m is null ? default : m.Cast<double>().AsSpan(), wt.Cast<double>().AsSpan(), b.Cast<double>().AsSpan(), refY.AsSpan());
        OpsBSupport.AssertClose(refY, fast.Cast<double>(), 1e-5);
        var dbl = Functional.DeformConv2d(x.Cast<double>(), off.Cast<double>(), wt.Cast<double>(), b.Cast<double>(), (sh, sw), (ph, pw), dil, m?.Cast<double>());
        OpsBSupport.AssertClose(refY, dbl, 1e-12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GradientsMatchFiniteDifferences(bool v2)
    {
        int n = 2, cin = 4, h = 5, w = 4, cout = 2, kh = 2, kw = 3, og = 2, groups = 2;
        (int, int) stride = (1, 2), pad = (1, 1), dil = (2, 1);
        int ho = (h + 2 - 2 * 1 - 1) / 1 + 1, wo = (w + 2 - 2 - 1) / 2 + 1;
        var x = Tensor.Randn<double>(11, n, cin, h, w);
        var off = Tensor.Rand<double>(12, [n, 2 * og * kh * kw, ho, wo], -2.5, 2.5);
        var wt = Tensor.Randn<double>(13, cout, cin / groups, kh, kw);
        var b = Tensor.Randn<double>(14, cout);
        var m = v2 ? Tensor.Rand<double>(15, [n, og * kh * kw, ho, wo]) : null;
        var gy = Tensor.Randn<double>(16, n, cout, ho, wo);
        double Loss() => OpsBSupport.Dot(Functional.DeformConv2d(x, off, wt, b, stride, pad, dil, m), gy);
        var gr = Functional.DeformConv2dBackward(gy, x, off, wt, b, stride, pad, dil, m);
        OpsBSupport.CheckGradient(x, gr.Input, Loss, what: "input");
        OpsBSupport.CheckGradient(off, gr.Offset, Loss, tol: 1e-5, what: "offset");
        OpsBSupport.CheckGradient(wt, gr.Weight, Loss, what: "weight");
        OpsBSupport.CheckGradient(b, gr.Bias!, Loss, what: "bias");
        if (v2) OpsBSupport.CheckGradient(m!, gr.Mask!, Loss, what: "mask");
        else Assert.Null(gr.Mask);
    }

    [Fact]
    public void BadShapesNameTheArgument()
    {
        var x = new Tensor<float>(1, 4, 5, 5);
        var w = new Tensor<float>(2, 2, 3, 3);
        var off = new Tensor<float>(1, 18, 3, 3);
        var ok = Functional.DeformConv2d(x, off, w);
        Assert.Equal([1, 2, 3, 3], ok.ShapeArray());
        var e = Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, new Tensor<float>(1, 17, 3, 3), w));
        Assert.Equal("offset", e.ParamName);
        Assert.Contains("[1, 17, 3, 3]", e.Message);
        Assert.Equal("offset", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, new Tensor<float>(1, 18, 3, 4), w)).ParamName);
        Assert.Equal("offset", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, new Tensor<float>(1, 54, 3, 3), w)).ParamName); // 3 groups ∤ 4
        Assert.Equal("offset", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, new Tensor<float>(2, 18, 3, 3), w)).ParamName);
        e = Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, off, w, mask: new Tensor<float>(1, 18, 3, 3)));
        Assert.Equal("mask", e.ParamName);
        Assert.Contains("[1, 9, 3, 3]", e.Message);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, off, new Tensor<float>(2, 3, 3, 3))).ParamName);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, off, new Tensor<float>(3, 2, 3, 3))).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, off, w, new Tensor<float>(3))).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(new Tensor<float>(4, 5, 5), off, w)).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(new Tensor<float>(1, 4, 2, 2), off, w)).ParamName);
        Assert.Equal("stride", Assert.Throws<ArgumentException>(() => Functional.DeformConv2d(x, off, w, stride: 0)).ParamName);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => Functional.DeformConv2dBackward(new Tensor<float>(1, 2, 3, 2), x, off, w)).ParamName);
    }
}

public class DeformConvBackwardDifferentialTests
{
    [Theory]
    [InlineData(2, 4, 7, 6, 4, 3, 3, 1, 1, 2, 2, false)]   // small: single thread
    [InlineData(1, 8, 32, 32, 4, 3, 3, 1, 1, 2, 4, true)]  // above the threshold: two-way split of im2col and scatter
    [InlineData(1, 6, 34, 33, 6, 3, 3, 1, 2, 3, 3, true)]  // channel split inside an offset group
    public void TablePathsMatchDirectReference(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pad, int groups, int og, bool v2)
    {
        int ho = (h + 2 * pad - kh) / stride + 1, wo = (w + 2 * pad - kw) / stride + 1;
        var x = Tensor.Randn<double>(61, n, cin, h, w);
        var off = Tensor.Rand<double>(62, [n, 2 * og * kh * kw, ho, wo], -4, 4);
        // Some exact integers and exact -1 / H positions as well.
        var os = off.AsSpan();
        for (int i = 0; i < os.Length; i += 5) os[i] = Math.Round(os[i]);
        var wt = Tensor.Randn<double>(63, cout, cin / groups, kh, kw);
        var m = v2 ? Tensor.Rand<double>(64, [n, og * kh * kw, ho, wo]) : null;
        var gy = Tensor.Randn<double>(65, n, cout, ho, wo);
        var geo = DeformConvGeometry.Create(x.Shape, off.Shape, wt.Shape, default, false, m is null ? default : m.Shape, v2, stride, pad, 1);
        foreach (bool asFloat in new[] { false, true })
        {
            var (gx, goff, gw, gb, gm) = Run(asFloat, geo, x, off, m, wt, gy, reference: false);
            var (rx, roff, rw, rb, rm) = Run(false, geo, x, off, m, wt, gy, reference: true);
            double tol = asFloat ? 2e-4 : 1e-11;
            OpsBSupport.AssertClose(rx, gx, tol);
            OpsBSupport.AssertClose(roff, goff, tol);
            OpsBSupport.AssertClose(rw, gw, tol);
            OpsBSupport.AssertClose(rb, gb, tol);
            if (v2) OpsBSupport.AssertClose(rm, gm, tol);
            var cols = new double[cin * kh * kw * ho * wo];
            var rcols = new double[cols.Length];
            DeformConv.Im2Col<double>(geo, x.AsSpan()[..(cin * h * w)], off.AsSpan()[..(2 * og * kh * kw * ho * wo)],
                m is null ? default : m.AsSpan()[..(og * kh * kw * ho * wo)], cols);
            DeformConv.Im2ColReference<double>(geo, x.AsSpan()[..(cin * h * w)], off.AsSpan()[..(2 * og * kh * kw * ho * wo)],
                m is null ? default : m.AsSpan()[..(og * kh * kw * ho * wo)], rcols);
            for (int i = 0; i < cols.Length; i++) Assert.True(Math.Abs(rcols[i] - cols[i]) <= 1e-12 * (1 + Math.Abs(rcols[i])), $"column {i}");
        }
    }

    private static (Tensor<double>, Tensor<double>, Tensor<double>, Tensor<double>, Tensor<double>) Run(bool asFloat, DeformConvGeometry geo,
        Tensor<double> x, Tensor<double> off, Tensor<double>? m, Tensor<double> wt, Tensor<double> gy, bool reference)
    {
        if (asFloat)
        {
            var r = Run(geo, x.Cast<float>(), off.Cast<float>(), m?.Cast<float>(), wt.Cast<float>(), gy.Cast<float>(), reference);
            return (r.Item1.Cast<double>(), r.Item2.Cast<double>(), r.Item3.Cast<double>(), r.Item4.Cast<double>(), r.Item5.Cast<double>());
        }
        return Run(geo, x, off, m, wt, gy, reference);
    }

    private static (Tensor<T>, Tensor<T>, Tensor<T>, Tensor<T>, Tensor<T>) Run<T>(DeformConvGeometry geo, Tensor<T> x, Tensor<T> off, Tensor<T>? m,
        Tensor<T> wt, Tensor<T> gy, bool reference) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var gx = new Tensor<T>(x.ShapeArray());
        var goff = new Tensor<T>(off.ShapeArray());
        var gw = new Tensor<T>(wt.ShapeArray());
        var gb = new Tensor<T>(wt.Size(0));
        var gm = m is null ? new Tensor<T>(0) : new Tensor<T>(m.ShapeArray());
        if (reference)
            DeformConv.BackwardReference<T>(geo, x.AsSpan(), off.AsSpan(), m is null ? default : m.AsSpan(), wt.AsSpan(), gy.AsSpan(),
                gx.AsSpan(), goff.AsSpan(), gw.AsSpan(), gb.AsSpan(), gm.AsSpan());
        else
            DeformConv.Backward<T>(geo, x.AsSpan(), off.AsSpan(), m is null ? default : m.AsSpan(), wt.AsSpan(), gy.AsSpan(),
                gx.AsSpan(), goff.AsSpan(), gw.AsSpan(), gb.AsSpan(), gm.AsSpan());
        return (gx, goff, gw, gb, gm);
    }
}

public class RawSpanLengthTests
{
    [Fact]
    public void ShortBuffersAreRejectedByName()
    {
        var geo = DeformConvGeometry.Create([1, 2, 4, 4], [1, 18, 4, 4], [3, 2, 3, 3], default, false, [1, 9, 4, 4], true, 1, 1, 1);
        var x = new float[32]; var off = new float[18 * 16]; var m = new float[9 * 16]; var cols = new float[2 * 9 * 16];
        Assert.Equal("offset", Assert.Throws<ArgumentException>(() => DeformConv.Im2Col<float>(geo, x, off.AsSpan(1), m, cols)).ParamName);
        Assert.Equal("mask", Assert.Throws<ArgumentException>(() => DeformConv.Im2Col<float>(geo, x, off, default, cols)).ParamName);
        Assert.Equal("columns", Assert.Throws<ArgumentException>(() => DeformConv.Im2Col<float>(geo, x, off, m, cols.AsSpan(1))).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => DeformConv.Forward<float>(geo, x.AsSpan(3), off, m, new float[54], default, new float[48])).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => DeformConv.Forward<float>(geo, x, off, m, new float[54], default, new float[47])).ParamName);
        Assert.Equal("gradMask", Assert.Throws<ArgumentException>(() => DeformConv.Backward<float>(geo, x, off, m, new float[54], new float[48],
            new float[32], new float[18 * 16], new float[54], default, new float[3])).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => ConvKit.Ops.Shuffle.PixelShuffle<float>(new float[16], new float[15], 1, 1, 2, 2, 2)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => ConvKit.Ops.Shuffle.ChannelShuffle<float>(new float[6], new float[6], 1, 6, 1, 4)).ParamName);
        var sg = StochasticPoolGeometry.Create([1, 1, 4, 4], 2, default, default);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => StochasticPooling.ForwardInference<float>(sg, new float[16], new float[3])).ParamName);
        Assert.Equal("indices", Assert.Throws<ArgumentException>(() => StochasticPooling.BackwardTraining<float>(sg, new float[4], [0, 1, 16, 2], new float[16])).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => SpatialPyramidPooling.Forward<float>([1, 1, 4, 4], [1, 2], PyramidPoolMode.Max, new float[15], new float[5])).ParamName);
    }
}
