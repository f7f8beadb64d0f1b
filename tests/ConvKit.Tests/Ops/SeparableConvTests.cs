using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

public class SeparableConvTests
{
    private static readonly double[] Sobel = [-1, 0, 1, -2, 0, 2, -1, 0, 1];

    [Fact]
    public void SobelSeparatesIntoSmoothingAndDifference()
    {
        Assert.True(SeparableConv.TrySeparate(Tensor.FromArray(Sobel, 3, 3), out var col, out var row));
        Assert.Equal([1.0, 2, 1], col!.AsSpan().ToArray());
        Assert.Equal([-1.0, 0, 1], row!.AsSpan().ToArray());
        // The transposed Sobel (vertical edges) separates the other way round.
        var sobelY = Tensor.FromArray([-1.0, -2, -1, 0, 0, 0, 1, 2, 1], 3, 3);
        Assert.True(SeparableConv.TrySeparate(sobelY, out col, out row));
        var rebuilt = new double[9];
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) rebuilt[i * 3 + j] = col!.AsSpan()[i] * row!.AsSpan()[j];
        Assert.Equal(sobelY.AsSpan().ToArray(), rebuilt);
    }

    [Fact]
    public void RankTestAcceptsOuterProductsAndRejectsTheRest()
    {
        var u = Tensor.Randn<double>(1, 5);
        var v = Tensor.Randn<double>(2, 4);
        var k = new Tensor<double>(5, 4);
        for (int i = 0; i < 5; i++) for (int j = 0; j < 4; j++) k[i, j] = u[i] * v[j];
        Assert.True(SeparableConv.TrySeparate(k, out _, out _));
        k[2, 3] += 1e-9 * Math.Abs(k[2, 3]) + 1e-12;
        Assert.True(SeparableConv.TrySeparate(k, out _, out _, 1e-6));
        k[2, 3] += 0.1;
        Assert.False(SeparableConv.TrySeparate(k, out var c, out var r));
        Assert.Null(c); Assert.Null(r);
        Assert.False(SeparableConv.TrySeparate(Tensor.FromArray([0.0, 1, 0, 1, -4, 1, 0, 1, 0], 3, 3), out _, out _)); // Laplacian
        Assert.True(SeparableConv.TrySeparate(new Tensor<float>(2, 3), out var zc, out var zr));
        Assert.Equal(new float[2], zc!.AsSpan().ToArray());
        Assert.Equal(new float[3], zr!.AsSpan().ToArray());
        Assert.Equal("kernel", Assert.Throws<ArgumentException>(() => SeparableConv.TrySeparate(new Tensor<float>(1, 3, 3), out _, out _)).ParamName);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1, 1)]
    [InlineData(2, 1, 1, 2, 1, 2)]
    [InlineData(1, 3, 2, 1, 2, 2)]
    public void SeparableConvEqualsFullDepthwiseConv(int sh, int sw, int ph, int pw, int dh, int dw)
    {
        var x = Tensor.Randn<double>(3, 2, 3, 11, 13);
        var sobel = Tensor.FromArray(Sobel, 3, 3);
        var full = Functional.DepthwiseConv2d(x, Expand(sobel, 3), null, (sh, sw), (ph, pw), (dh, dw));
        var sep = Functional.SeparableConv2d(x, sobel, null, (sh, sw), (ph, pw), (dh, dw));
        OpsBSupport.AssertClose(full, sep, 1e-12);
        var sepF = Functional.SeparableConv2d(x.Cast<float>(), sobel.Cast<float>(), null, (sh, sw), (ph, pw), (dh, dw));
        OpsBSupport.AssertClose(full, sepF.Cast<double>(), 1e-5);
    }

    [Fact]
    public void DepthwiseRankOneFiltersWithMultiplierAndBias()
    {
        // 2 channels, multiplier 2: four different rank-1 5x3 filters.
        var w = new Tensor<double>(4, 1, 5, 3);
        for (int f = 0; f < 4; f++)
        {
            var u = Tensor.Randn<double>((ulong)(10 + f), 5);
            var v = Tensor.Randn<double>((ulong)(20 + f), 3);
            for (int i = 0; i < 5; i++) for (int j = 0; j < 3; j++) w[f, 0, i, j] = u[i] * v[j];
        }
        var b = Tensor.Randn<double>(7, 4);
        var x = Tensor.Randn<double>(8, 1, 2, 9, 8);
        var full = Functional.DepthwiseConv2d(x, w, b, 1, (2, 1));
        OpsBSupport.AssertClose(full, Functional.SeparableConv2d(x, w, b, 1, (2, 1)), 1e-10);
        w[3, 0, 1, 1] += 1;
        var e = Assert.Throws<ArgumentException>(() => Functional.SeparableConv2d(x, w, b, 1, (2, 1)));
        Assert.Equal("weight", e.ParamName);
        Assert.Contains("filter 3", e.Message);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => Functional.SeparableConv2d(x, new Tensor<double>(3, 1, 3, 3))).ParamName);
        Assert.Equal("row", Assert.Throws<ArgumentException>(() => Functional.SeparableConv2dFromFactors(x, new Tensor<double>(3), new Tensor<double>(4, 3))).ParamName);
        Assert.Equal("column", Assert.Throws<ArgumentException>(() => Functional.SeparableConv2dFromFactors(x, new Tensor<double>(3, 3), new Tensor<double>(3))).ParamName);
    }

    [Fact]
    public void DepthwiseSeparableEqualsComposedStandardConv()
    {
        int cin = 3, m = 2, cout = 5;
        var x = Tensor.Randn<double>(30, 2, cin, 9, 10);
        var dw = Tensor.Randn<double>(31, cin * m, 1, 3, 3);
        var pw = Tensor.Randn<double>(32, cout, cin * m, 1, 1);
        var db = Tensor.Randn<double>(33, cin * m);
        var pb = Tensor.Randn<double>(34, cout);
        var y = Functional.DepthwiseSeparableConv2d(x, dw, pw, db, pb, 2, 1);
        // Dense equivalent: composed filters; the depthwise bias passes through the pointwise weights.
        var wFull = SeparableConv.ComposeDepthwiseSeparable(dw, pw, cin);
        var bFull = pb.Clone();
        for (int o = 0; o < cout; o++) for (int k = 0; k < cin * m; k++) bFull[o] += pw[o, k, 0, 0] * db[k];
        OpsBSupport.AssertClose(Functional.Conv2d(x, wFull, bFull, 2, 1), y, 1e-10);
        var yf = Functional.DepthwiseSeparableConv2d(x.Cast<float>(), dw.Cast<float>(), pw.Cast<float>(), db.Cast<float>(), pb.Cast<float>(), 2, 1);
        OpsBSupport.AssertClose(y, yf.Cast<double>(), 1e-4);
        // With ReLU between: the explicit composition.
        var yr = Functional.DepthwiseSeparableConv2d(x, dw, pw, db, pb, 2, 1, relu: true);
        var expected = Functional.Conv2d(Functional.Relu(Functional.DepthwiseConv2d(x, dw, db, 2, 1)), pw, pb);
        OpsBSupport.AssertClose(expected, yr, 1e-12);
        Assert.Equal("depthwiseWeight", Assert.Throws<ArgumentException>(() => Functional.DepthwiseSeparableConv2d(x, new Tensor<double>(4, 1, 3, 3), pw)).ParamName);
        Assert.Equal("pointwiseWeight", Assert.Throws<ArgumentException>(() => Functional.DepthwiseSeparableConv2d(x, dw, new Tensor<double>(5, 3, 1, 1))).ParamName);
        Assert.Equal("pointwise", Assert.Throws<ArgumentException>(() => SeparableConv.ComposeDepthwiseSeparable(dw, new Tensor<double>(5, 3, 1, 1), cin)).ParamName);
    }

    [Fact]
    public void DepthwiseSeparableWithBatchNormAndRelu()
    {
        int cin = 2, m = 2, cout = 3, mid = cin * m;
        var x = Tensor.Randn<double>(70, 2, cin, 8, 7);
        var dw = Tensor.Randn<double>(71, mid, 1, 3, 3);
        var pw = Tensor.Randn<double>(72, cout, mid, 1, 1);
        var db = Tensor.Randn<double>(73, mid);
        var mean = Tensor.Randn<double>(74, mid);
        var var_ = Tensor.Rand<double>(75, [mid], 0.5, 2);
        var gamma = Tensor.Randn<double>(76, mid);
        var beta = Tensor.Randn<double>(77, mid);
        var bn = new BatchNormArgs<double>(mean, var_, gamma, beta);
        var y = Functional.DepthwiseSeparableConv2d(x, dw, pw, db, null, 1, 1, relu: true, batchNorm: bn);
        var expected = Functional.Conv2d(Functional.Relu(Functional.BatchNorm(Functional.DepthwiseConv2d(x, dw, db, 1, 1), mean, var_, gamma, beta)), pw);
        OpsBSupport.AssertClose(expected, y, 1e-12);
        // Evaluation-mode batch norm is per-channel affine: folding it into the depthwise weights and bias gives the same block.
        var dwF = dw.Clone();
        var dbF = new Tensor<double>(mid);
        for (int k = 0; k < mid; k++)
        {
            double scale = gamma[k] / Math.Sqrt(var_[k] + 1e-5);
            for (int e = 0; e < 9; e++) dwF.AsSpan()[k * 9 + e] *= scale;
            dbF[k] = (db[k] - mean[k]) * scale + beta[k];
        }
        OpsBSupport.AssertClose(Functional.DepthwiseSeparableConv2d(x, dwF, pw, dbF, null, 1, 1, relu: true), y, 1e-10);
    }

    [Theory]
    [InlineData(1, 0, 1)]
    [InlineData(2, 1, 1)]
    [InlineData(1, 2, 2)]
    public void FlattenedEqualsComposedAndDenseConv(int stride, int padding, int dilation)
    {
        int cin = 3, cout = 4, kh = 3, kw = 5;
        var x = Tensor.Randn<double>(40, 2, cin, 10, 12);
        var p = Tensor.Randn<double>(41, cout, cin, 1, 1);
        var v = Tensor.Randn<double>(42, cout, 1, kh, 1);
        var h = Tensor.Randn<double>(43, cout, 1, 1, kw);
        var b = Tensor.Randn<double>(44, cout);
        var y = Functional.FlattenedConv2d(x, p, v, h, b, stride, padding, dilation);
        var composed = Functional.DepthwiseConv2d(
            Functional.DepthwiseConv2d(Functional.Conv2d(x, p), v, null, (stride, 1), (padding, padding), (dilation, 1)),
            h, b, (1, stride), 0, (1, dilation));
        OpsBSupport.AssertClose(composed, y, 1e-12);
        var dense = Functional.Conv2d(x, SeparableConv.ComposeFlattened(p, v, h), b, stride, padding, dilation);
        OpsBSupport.AssertClose(dense, y, 1e-10);
        var yf = Functional.FlattenedConv2d(x.Cast<float>(), p.Cast<float>(), v.Cast<float>(), h.Cast<float>(), b.Cast<float>(), stride, padding, dilation);
        OpsBSupport.AssertClose(y, yf.Cast<double>(), 1e-4);
    }

    [Fact]
    public void FlattenedBadShapesNameTheArgument()
    {
        var x = new Tensor<float>(1, 3, 8, 8);
        var p = new Tensor<float>(4, 3, 1, 1);
        var v = new Tensor<float>(4, 1, 3, 1);
        var h = new Tensor<float>(4, 1, 1, 3);
        Assert.Equal([1, 4, 6, 6], Functional.FlattenedConv2d(x, p, v, h).ShapeArray());
        Assert.Equal("pointwise", Assert.Throws<ArgumentException>(() => Functional.FlattenedConv2d(x, new Tensor<float>(4, 3, 3, 1), v, h)).ParamName);
        Assert.Equal("vertical", Assert.Throws<ArgumentException>(() => Functional.FlattenedConv2d(x, p, new Tensor<float>(4, 1, 1, 3), h)).ParamName);
        Assert.Equal("horizontal", Assert.Throws<ArgumentException>(() => Functional.FlattenedConv2d(x, p, v, new Tensor<float>(3, 1, 1, 3))).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.FlattenedConv2d(new Tensor<float>(1, 2, 8, 8), p, v, h)).ParamName);
    }

    [Fact]
    public void ShuffledGroupedConvEqualsShuffleOfGroupedConvAndPermutedDenseConv()
    {
        int cin = 6, cout = 9, g = 3;
        var x = Tensor.Randn<double>(50, 2, cin, 7, 8);
        var w = Tensor.Randn<double>(51, cout, cin / g, 3, 3);
        var b = Tensor.Randn<double>(52, cout);
        var y = Functional.ShuffledGroupedConv2d(x, w, b, 1, 1, 1, g);
        OpsBSupport.AssertClose(Functional.ChannelShuffle(Functional.Conv2d(x, w, b, 1, 1, 1, g), g), y, 0);
        // Dense weight: block diagonal (group of output o reads only its input channels), output rows permuted.
        int opg = cout / g, ipg = cin / g;
        var dense = new Tensor<double>(cout, cin, 3, 3);
        var db = new Tensor<double>(cout);
        for (int o = 0; o < cout; o++)
        {
            int grp = o / opg, j = o % opg, dst = j * g + grp; // channel_shuffle destination of output o
            db[dst] = b[o];
            for (int c = 0; c < ipg; c++)
                for (int e = 0; e < 9; e++) dense.AsSpan()[(dst * cin + grp * ipg + c) * 9 + e] = w.AsSpan()[(o * ipg + c) * 9 + e];
        }
        OpsBSupport.AssertClose(Functional.Conv2d(x, dense, db, 1, 1), y, 1e-12);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => Functional.ShuffledGroupedConv2d(x, new Tensor<double>(8, 2, 3, 3), null, 1, 1, 1, 3)).ParamName);
    }

    [Fact]
    public void CostsReproduceTheDepthwiseSeparableExample()
    {
        // 12x12x3 input, 5x5 kernels, 256 outputs of 8x8.
        var c = ConvCost.DepthwiseSeparable(3, 256, 5, 5, 12, 12);
        Assert.Equal(1_228_800, c.Standard.Multiplications);
        Assert.Equal(4_800 + 49_152, c.Replacement.Multiplications);
        Assert.Equal(53_952, c.Replacement.Multiplications);
        Assert.Equal(5 * 5 * 3 * 256, c.Standard.Parameters);
        Assert.Equal(5 * 5 * 3 + 3 * 256, c.Replacement.Parameters);
        Assert.Equal(1_228_800.0 / 53_952, c.MultiplicationRatio, 12);
        Assert.Equal(new ConvCost(4_800 / 64, 4_800), ConvCost.Standard(3, 3, 5, 5, 8, 8, groups: 3));
    }

    [Fact]
    public void CostsOfTheOtherVariants()
    {
        // Spatial separable 3x3 on 3 channels of 10x10 with padding 1: vertical pass over the padded width (12).
        var s = ConvCost.SpatialSeparable(3, 3, 3, 10, 10, padding: 1);
        Assert.Equal(new ConvCost(27, 2_700), s.Standard);
        Assert.Equal(new ConvCost(18, 3 * 3 * 10 * 12 + 3 * 3 * 10 * 10), s.Replacement);
        // Flattened 3 -> 8, 3x3, 10x10, padding 1: 1x1 at input size, then vertical (padded width) and horizontal passes.
        var f = ConvCost.Flattened(3, 8, 3, 3, 10, 10, padding: 1);
        Assert.Equal(new ConvCost(216, 21_600), f.Standard);
        Assert.Equal(new ConvCost(24 + 24 + 24, 2_400 + 2_880 + 2_400), f.Replacement);
        // Shuffled grouped 8 -> 16, 3x3, groups 4, stride 2: a quarter of the dense cost, the shuffle is free.
        var g = ConvCost.ShuffledGrouped(8, 16, 3, 3, 10, 10, 4, stride: 2, padding: 1);
        Assert.Equal(new ConvCost(1_152, 1_152 * 25), g.Standard);
        Assert.Equal(new ConvCost(288, 288 * 25), g.Replacement);
        Assert.Equal(4.0, g.MultiplicationRatio);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => ConvCost.ShuffledGrouped(8, 16, 3, 3, 10, 10, 3)).ParamName);
        Assert.Equal("inH", Assert.Throws<ArgumentException>(() => ConvCost.Flattened(3, 8, 5, 5, 3, 3)).ParamName);
    }

    private static Tensor<double> Expand(Tensor<double> k, int channels)
    {
        var w = new Tensor<double>(channels, 1, k.Size(0), k.Size(1));
        for (int c = 0; c < channels; c++) k.AsSpan().CopyTo(w.AsSpan().Slice(c * k.Length, k.Length));
        return w;
    }
}
