using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Reference;

public class WorkedExampleTests
{
    [Fact]
    public void ThreeByThreeInputTwoByTwoKernel()
    {
        var x = Tensor.Arange<float>(1, 1, 3, 3);
        var w = Tensor.FromArray([0f, 1, 2, 3], 1, 1, 2, 2);
        var y = Functional.Conv2d(x, w);
        Assert.Equal([1, 1, 2, 2], y.ShapeArray());
        Assert.Equal([19f, 25, 37, 43], y.AsSpan().ToArray());
    }
}
