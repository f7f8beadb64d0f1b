using ConvKit.Imaging;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Imaging;

public class ConvExplainerTests
{
    [Theory]
    [InlineData(4, 4, 3, 3, 1, 0)]
    [InlineData(5, 5, 3, 3, 2, 1)]
    [InlineData(6, 6, 3, 3, 2, 0)] // (6−3) mod 2 = 1: output padding 1
    [InlineData(7, 5, 2, 3, 3, 1)]
    [InlineData(4, 6, 4, 2, 1, 2)]
    [InlineData(5, 5, 3, 3, 1, 3)] // padding > k − 1: the zero-inserted map is cropped
    [InlineData(8, 8, 5, 5, 3, 2)]
    [InlineData(1, 1, 1, 1, 1, 0)]
    public void ThreeTransposedResultsAgreeAndCxEqualsConv2d(int h, int w, int kh, int kw, int stride, int padding)
    {
        var x = Random(h, w, (ulong)(h * 31 + w));
        var k = Random(kh, kw, (ulong)(kh * 7 + kw + 1000));
        var e = ConvExplainer.Explain(x, k, stride, padding);

        // C·x against Functional.Conv2d, computed here independently of the explainer.
        var conv = Functional.Conv2d(Tensor.FromArray(Flat(x), 1, 1, h, w), Tensor.FromArray(Flat(k), 1, 1, kh, kw), null, stride, padding);
        Assert.Equal(conv.Size(2) * conv.Size(3), e.C.GetLength(0));
        var cx = new double[e.C.GetLength(0)];
        for (int i = 0; i < cx.Length; i++) for (int j = 0; j < h * w; j++) cx[i] += e.C[i, j] * x[j / w, j % w];
        var convV = conv.AsSpan();
        for (int i = 0; i < cx.Length; i++) Assert.Equal(convV[i], cx[i], 10);

        // The three transposed results have the input's shape and agree.
        foreach (var t in new[] { e.TransposedByLibrary, e.TransposedByMatrix, e.TransposedByDirect })
            Assert.Equal((h, w), (t.GetLength(0), t.GetLength(1)));
        Assert.True(e.MaxDifference < 1e-9, $"max difference {e.MaxDifference}");
        // C is sparse: each row has at most kh·kw non-zeros.
        for (int i = 0; i < e.C.GetLength(0); i++)
            Assert.True(Enumerable.Range(0, h * w).Count(j => e.C[i, j] != 0) <= kh * kw);
    }

    [Fact]
    public void DefaultExampleTextAndSvg()
    {
        var e = ConvExplainer.Explain();
        Assert.Equal(new double[,] { { 348, 393 }, { 528, 573 } }, e.Output);
        var text = e.ToText();
        Assert.Contains("Y[0,0] = 1·1 + 2·2 + 3·3 + 5·4 + 6·5 + 7·6 + 9·7 + 10·8 + 11·9 = 348", text);
        var svg = e.ToSvg();
        Assert.StartsWith("<svg", svg);
        Assert.Contains("</svg>", svg);
        System.Xml.Linq.XDocument.Parse(svg); // well-formed
    }

    [Fact]
    public void RejectsBadArguments()
    {
        Assert.Equal("kernel", Assert.Throws<ArgumentException>(() => ConvExplainer.Explain(new double[2, 2], new double[3, 3])).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => ConvExplainer.Explain(new double[17, 2], new double[1, 1])).ParamName);
        Assert.Equal("stride", Assert.Throws<ArgumentException>(() => ConvExplainer.Explain(new double[4, 4], new double[3, 3], 0)).ParamName);
    }

    private static double[,] Random(int r, int c, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var m = new double[r, c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) m[i, j] = Math.Round(rng.NextDouble() * 10 - 5, 2);
        return m;
    }

    private static double[] Flat(double[,] m)
    {
        var v = new double[m.Length];
        int k = 0;
        foreach (var x in m) v[k++] = x;
        return v;
    }
}
