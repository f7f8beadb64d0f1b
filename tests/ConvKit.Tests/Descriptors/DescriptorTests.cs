using ConvKit.Descriptors;
using Xunit;

namespace ConvKit.Tests.Descriptors;

public class DescriptorTests
{
    /// <summary>TensorFlow SAME: out = ceil(in/s), pad = max(0, (out-1)·s + d·(k-1) + 1 - in), odd pixel at the end;
    /// SAME_LOWER puts it at the beginning.</summary>
    [Theory]
    [InlineData(7, 3, 1, 1, 7, 1, 1)]
    [InlineData(5, 4, 1, 1, 5, 1, 2)]
    [InlineData(7, 3, 2, 1, 4, 1, 1)]
    [InlineData(8, 3, 2, 1, 4, 0, 1)]
    [InlineData(10, 4, 3, 1, 4, 1, 2)]
    [InlineData(5, 1, 3, 1, 2, 0, 0)]
    [InlineData(7, 3, 1, 2, 7, 2, 2)]
    [InlineData(6, 2, 1, 3, 6, 1, 2)]
    [InlineData(3, 4, 2, 1, 2, 1, 2)]
    public void SameAndSameLowerFollowTheTensorFlowRule(int size, int k, int s, int d, int outSize, int begin, int end)
    {
        var same = ConvDescriptor.Create(1, [1, 1, size], [1, 1, k], stride: s, padding: Padding.Same, dilation: d);
        Assert.Equal(outSize, same.OutputSize[0]);
        Assert.Equal((size + s - 1) / s, same.OutputSize[0]);
        Assert.Equal((begin, end), (same.PadBegin[0], same.PadEnd[0]));
        var lower = ConvDescriptor.Create(1, [1, 1, size], [1, 1, k], stride: s, padding: "same_lower", dilation: d);
        Assert.Equal(outSize, lower.OutputSize[0]);
        Assert.Equal((end, begin), (lower.PadBegin[0], lower.PadEnd[0]));
    }

    [Fact]
    public void SameResolvesPerAxisAndValidIsZero()
    {
        var d = ConvDescriptor.Create(2, [1, 1, 8, 7], [1, 1, 3, 4], stride: 2, padding: "same");
        Assert.Equal([4, 4], d.OutputSize);
        Assert.Equal([0, 1], d.PadBegin);
        Assert.Equal([1, 2], d.PadEnd);
        var v = ConvDescriptor.Create(2, [1, 1, 8, 7], [1, 1, 3, 4], stride: 2, padding: Padding.Valid);
        Assert.Equal([0, 0], v.PadBegin);
        Assert.Equal([3, 2], v.OutputSize);
        Assert.Same(Padding.Same, Padding.Parse("SAME"));
        Assert.Equal("same_lower", Padding.Parse("same_lower").ToString());
    }

    [Fact]
    public void AsymmetricPairsAreTopBottomLeftRight()
    {
        var d = ConvDescriptor.Create(2, [1, 1, 5, 6], [1, 1, 3, 3], padding: Padding.Asymmetric(1, 0, 2, 1));
        Assert.Equal([1, 2], d.PadBegin);
        Assert.Equal([0, 1], d.PadEnd);
        Assert.Equal([4, 7], d.OutputSize);
        var sym = ConvDescriptor.Create(3, [1, 1, 5, 6, 4], [1, 1, 3, 3, 3], padding: (1, 0, 2));
        Assert.Equal([1, 0, 2], sym.PadBegin);
        Assert.Equal([1, 0, 2], sym.PadEnd);
    }

    [Fact]
    public void DescriptorShapesCountsAndCore()
    {
        var d = ConvDescriptor.Create(2, [2, 4, 9, 8], [6, 2, 3, 3], hasBias: true, stride: 2, padding: 1, groups: 2);
        Assert.Equal([2, 6, 5, 4], d.OutputShape);
        Assert.Equal([6, 2, 3, 3], d.WeightShape);
        Assert.Equal(2L * 6 * 20 * 2 * 9, d.Macs);
        Assert.Equal(2 * d.Macs, d.Flops);
        Assert.Same(d, d.Core);
        Assert.False(d.IsDepthwise);
        var r = ConvDescriptor.Create(2, [1, 3, 5, 5], [6, 1, 3, 3], padding: Padding.Asymmetric(1, 2, 0, 1), groups: 3, paddingMode: PaddingMode.Reflect, flip: true);
        Assert.True(r.IsDepthwise);
        Assert.NotSame(r, r.Core);
        Assert.Equal([8, 6], r.Core.InputSize);
        Assert.Equal([0, 0], r.Core.PadBegin);
        Assert.Equal(r.OutputShape, r.Core.OutputShape);
        Assert.False(r.Core.Flip);
        Assert.Contains("mode=Reflect", r.ToString());
        var z = ConvDescriptor.Create(1, [1, 1, 5], [1, 1, 3], padding: 2, flip: true);
        Assert.Equal([5], z.Core.InputSize);
        Assert.Equal([2], z.Core.PadBegin);
    }

    [Theory]
    [InlineData(4, 3, 2, 1, 0, 1, 7)]
    [InlineData(4, 3, 2, 1, 1, 1, 8)]
    [InlineData(3, 4, 3, 0, 2, 1, 12)]
    [InlineData(5, 3, 1, 2, 0, 2, 5)]
    [InlineData(5, 3, 1, 2, 1, 2, 6)]
    public void TransposedOutputSize(int size, int k, int s, int p, int op, int d, int expected)
    {
        // (in - 1)·s - 2p + d·(k - 1) + output_padding + 1
        var t = ConvTransposeDescriptor.Create(1, [1, 2, size], [2, 3, k], stride: s, padding: p, outputPadding: op, dilation: d);
        Assert.Equal((size - 1) * s - 2 * p + d * (k - 1) + op + 1, expected);
        Assert.Equal([1, 3, expected], t.OutputShape);
        Assert.Equal([1, 2, size], t.Conv.OutputShape);
        Assert.Equal([op], t.OutputPadding);
    }

    [Fact]
    public void TransposedOutputSizeDerivesOutputPadding()
    {
        var t = ConvTransposeDescriptor.Create(2, [1, 2, 4, 4], [2, 2, 3, 3], stride: 2, padding: 1, outputSize: [8, 7]);
        Assert.Equal([1, 0], t.OutputPadding);
        Assert.Equal([1, 2, 8, 7], t.OutputShape);
        var full = ConvTransposeDescriptor.Create(2, [1, 2, 4, 4], [2, 2, 3, 3], stride: 2, padding: 1, outputSize: [1, 2, 8, 8]);
        Assert.Equal([1, 1], full.OutputPadding);
    }

    [Fact]
    public void DimsExpand()
    {
        Assert.Equal([3, 3], ((Dims)3).Expand(2, "stride", 1, 1));
        Assert.Equal([1, 1, 1], default(Dims).Expand(3, "stride", 1, 1));
        Assert.Equal([2, 5], ((Dims)(2, 5)).Expand(2, "stride", 1, 1));
        Assert.True(default(Dims).IsDefault);
        Assert.Equal("stride", Assert.Throws<ArgumentException>(() => ((Dims)(2, 5)).Expand(3, "stride", 1, 1)).ParamName);
        Assert.Equal("dilation", Assert.Throws<ArgumentException>(() => ((Dims)0).Expand(2, "dilation", 1, 1)).ParamName);
    }
}
