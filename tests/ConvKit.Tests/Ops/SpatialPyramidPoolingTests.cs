using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

public class SpatialPyramidPoolingTests
{
    public static TheoryData<string> GoldenCases => OpsBSupport.Names(op => op == "spatial_pyramid_pool2d");

    [Theory, MemberData(nameof(GoldenCases))]
    public void MatchesConcatenatedAdaptivePoolingFloat(string name) => OpsBSupport.AssertGolden<float>(name);

    [Theory, MemberData(nameof(GoldenCases))]
    public void MatchesConcatenatedAdaptivePoolingDouble(string name) => OpsBSupport.AssertGolden<double>(name);

    [Fact]
    public void HandWorkedFourByFour()
    {
        var x = Tensor.Arange<double>(1, 1, 4, 4);
        Assert.Equal([15.0, 5, 7, 13, 15], Functional.SpatialPyramidPool2d(x, [1, 2]).AsSpan().ToArray());
        Assert.Equal([7.5, 2.5, 4.5, 10.5, 12.5], Functional.SpatialPyramidPool2d(x, [1, 2], PyramidPoolMode.Avg).AsSpan().ToArray());
    }

    [Fact]
    public void OverlappingBinsOnOddSizes()
    {
        // Width 5 in 2 bins: [0, 3) and [2, 5) share column 2.
        var x = Tensor.FromArray([1.0, 2, 9, 3, 4], 1, 1, 1, 5);
        Assert.Equal([9.0, 9, 9, 9, 9], Functional.SpatialPyramidPool2d(x, [1, 2]).AsSpan().ToArray()); // one row: both row bins are row 0
        var y = Functional.SpatialPyramidPool2d(x, [2], PyramidPoolMode.Avg);
        Assert.Equal([4.0, 16.0 / 3, 4.0, 16.0 / 3], y.AsSpan().ToArray());
        Assert.Equal(0, SpatialPyramidPooling.BinStart(0, 5, 2));
        Assert.Equal(3, SpatialPyramidPooling.BinEnd(0, 5, 2));
        Assert.Equal(2, SpatialPyramidPooling.BinStart(1, 5, 2));
        Assert.Equal(5, SpatialPyramidPooling.BinEnd(1, 5, 2));
    }

    [Theory]
    [InlineData(13, 7)]
    [InlineData(3, 2)]
    [InlineData(1, 1)]
    [InlineData(32, 17)]
    public void AnyInputSizeGivesFixedLengthAndMatchesReference(int h, int w)
    {
        int[] levels = [1, 2, 4];
        var x = Tensor.Randn<double>((ulong)(h * 100 + w), 2, 3, h, w);
        foreach (var mode in new[] { PyramidPoolMode.Max, PyramidPoolMode.Avg })
        {
            var y = Functional.SpatialPyramidPool2d(x, levels, mode);
            Assert.Equal([2, 3 * 21], y.ShapeArray());
            var r = new double[y.Length];
            SpatialPyramidPooling.ForwardReference<double>(x.Shape, levels, mode, x.AsSpan(), r);
            Assert.Equal(r, y.AsSpan().ToArray());
            var yf = Functional.SpatialPyramidPool2d(x.Cast<float>(), levels, mode);
            OpsBSupport.AssertClose(y, yf.Cast<double>(), 1e-6);
        }
    }

    [Fact]
    public void MaxPropagatesNaN()
    {
        var x = Tensor.Arange<double>(1, 1, 4, 4);
        x[0, 0, 3, 0] = double.NaN;
        var y = Functional.SpatialPyramidPool2d(x, [1, 2]).AsSpan().ToArray();
        Assert.True(double.IsNaN(y[0]) && double.IsNaN(y[3]));
        Assert.Equal(5.0, y[1]);
    }

    [Theory]
    [InlineData(PyramidPoolMode.Max)]
    [InlineData(PyramidPoolMode.Avg)]
    public void GradientMatchesFiniteDifferences(PyramidPoolMode mode)
    {
        int[] levels = [1, 2, 3];
        var x = Tensor.Randn<double>(21, 2, 2, 5, 7);
        var gy = Tensor.Randn<double>(22, 2, 2 * 14);
        var gx = Functional.SpatialPyramidPool2dBackward(gy, x, levels, mode);
        OpsBSupport.CheckGradient(x, gx, () => OpsBSupport.Dot(Functional.SpatialPyramidPool2d(x, levels, mode), gy), what: mode.ToString());
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        var x = new Tensor<float>(1, 2, 4, 4);
        Assert.Equal("levels", Assert.Throws<ArgumentException>(() => Functional.SpatialPyramidPool2d(x, [])).ParamName);
        Assert.Equal("levels", Assert.Throws<ArgumentException>(() => Functional.SpatialPyramidPool2d(x, [1, 0])).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.SpatialPyramidPool2d(new Tensor<float>(2, 4, 4), [1])).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.SpatialPyramidPool2d(new Tensor<float>(1, 2, 0, 4), [1])).ParamName);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => Functional.SpatialPyramidPool2dBackward(new Tensor<float>(1, 9), x, [1, 2])).ParamName);
        Assert.Equal("mode", Assert.Throws<ArgumentException>(() => SpatialPyramidPooling.ParseMode("median")).ParamName);
    }
}
