using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

public class ShuffleTests
{
    public static TheoryData<string> GoldenCases => OpsBSupport.Names(op => op is "pixel_shuffle" or "pixel_unshuffle" or "channel_shuffle");

    [Theory, MemberData(nameof(GoldenCases))]
    public void MatchesPyTorchFloat(string name) => OpsBSupport.AssertGolden<float>(name);

    [Theory, MemberData(nameof(GoldenCases))]
    public void MatchesPyTorchDouble(string name) => OpsBSupport.AssertGolden<double>(name);

    [Fact]
    public void ChannelShuffleHandWorked()
    {
        var x = Tensor.Arange<float>(1, 6, 1);
        // groups 2: [0 1 2 | 3 4 5] -> 0 3 1 4 2 5 ; groups 3: [0 1 | 2 3 | 4 5] -> 0 2 4 1 3 5
        Assert.Equal([0f, 3, 1, 4, 2, 5], Functional.ChannelShuffle(x, 2).AsSpan().ToArray());
        Assert.Equal([0f, 2, 4, 1, 3, 5], Functional.ChannelShuffle(x, 3).AsSpan().ToArray());
        Assert.Equal(x.AsSpan().ToArray(), Functional.ChannelShuffle(x, 1).AsSpan().ToArray());
    }

    [Fact]
    public void PixelShuffleHandWorked()
    {
        // 4 channels of 1x1 become one 2x2 plane in (i, j) order.
        var x = Tensor.FromArray([1f, 2, 3, 4], 1, 4, 1, 1);
        var y = Functional.PixelShuffle(x, 2);
        Assert.Equal([1, 1, 2, 2], y.ShapeArray());
        Assert.Equal([1f, 2, 3, 4], y.AsSpan().ToArray());
        Assert.Equal(x.AsSpan().ToArray(), Functional.PixelUnshuffle(y, 2).AsSpan().ToArray());
    }

    [Theory]
    [InlineData(new[] { 2, 12, 3, 5 }, 2, 3)]
    [InlineData(new[] { 3, 6, 18, 2, 3 }, 3, 3)]
    [InlineData(new[] { 9, 1, 1 }, 3, 9)]
    public void BackwardIsTheInversePermutationAndAdjoint(int[] shape, int r, int groups)
    {
        var x = Tensor.Randn<double>(7, shape);
        // Round trips.
        Assert.Equal(x.AsSpan().ToArray(), Functional.PixelUnshuffle(Functional.PixelShuffle(x, r), r).AsSpan().ToArray());
        var cs = shape.Length == 3 ? x.Reshape(1, shape[0], shape[1] * shape[2]) : x;
        Assert.Equal(cs.AsSpan().ToArray(), Functional.ChannelShuffleBackward(Functional.ChannelShuffle(cs, groups), groups).AsSpan().ToArray());
        // Adjoint identities: <P x, g> = <x, Pᵀ g> for each permutation and its backward.
        var ps = Functional.PixelShuffle(x, r);
        var g1 = Tensor.Randn<double>(8, ps.ShapeArray());
        Assert.Equal(OpsBSupport.Dot(ps, g1), OpsBSupport.Dot(x, Functional.PixelShuffleBackward(g1, r)), 10);
        var pu = Functional.PixelUnshuffle(ps, r);
        var g2 = Tensor.Randn<double>(9, pu.ShapeArray());
        Assert.Equal(OpsBSupport.Dot(pu, g2), OpsBSupport.Dot(ps, Functional.PixelUnshuffleBackward(g2, r)), 10);
        var ch = Functional.ChannelShuffle(cs, groups);
        var g3 = Tensor.Randn<double>(10, ch.ShapeArray());
        Assert.Equal(OpsBSupport.Dot(ch, g3), OpsBSupport.Dot(cs, Functional.ChannelShuffleBackward(g3, groups)), 10);
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        var x = Tensor.Randn<double>(3, 1, 8, 2, 3);
        var gy = Tensor.Randn<double>(4, 1, 2, 4, 6);
        OpsBSupport.CheckGradient(x, Functional.PixelShuffleBackward(gy, 2), () => OpsBSupport.Dot(Functional.PixelShuffle(x, 2), gy), what: "pixel_shuffle");
        var gz = Tensor.Randn<double>(5, 1, 8, 2, 3);
        OpsBSupport.CheckGradient(x, Functional.ChannelShuffleBackward(gz, 4), () => OpsBSupport.Dot(Functional.ChannelShuffle(x, 4), gz), what: "channel_shuffle");
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        var x = new Tensor<float>(1, 6, 4, 4);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => Functional.ChannelShuffle(x, 4)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => Functional.ChannelShuffle(x, 0)).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.ChannelShuffle(new Tensor<float>(6), 2)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => Functional.PixelShuffle(x, 2));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("[1, 6, 4, 4]", e.Message);
        Assert.Equal("upscaleFactor", Assert.Throws<ArgumentException>(() => Functional.PixelShuffle(x, 0)).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.PixelShuffle(new Tensor<float>(4, 4), 2)).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.PixelUnshuffle(x, 3)).ParamName);
        Assert.Equal("downscaleFactor", Assert.Throws<ArgumentException>(() => Functional.PixelUnshuffle(x, -1)).ParamName);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => Functional.PixelUnshuffleBackward(x, 2)).ParamName);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => Functional.PixelShuffleBackward(new Tensor<float>(1, 6, 3, 4), 2)).ParamName);
    }
}
