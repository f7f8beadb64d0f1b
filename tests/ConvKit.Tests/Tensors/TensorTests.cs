using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Tensors;

public class TensorTests
{
    [Fact]
    public void ReshapeIsAViewAndInfersMinusOne()
    {
        var t = Tensor.Arange<float>(2, 3, 4);
        var r = t.Reshape(4, -1);
        Assert.Equal([4, 6], r.ShapeArray());
        Assert.Same(t.Data, r.Data);
        r[1, 0] = 100;
        Assert.Equal(100f, t[0, 1, 2]);
        Assert.Equal([6, 1], r.Strides.ToArray());
        Assert.Equal([12, 4, 1], t.Strides.ToArray());
    }

    [Fact]
    public void ReshapeRejectsWrongSizesNamingShape()
    {
        var t = Tensor.Arange<float>(2, 3);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(4, 2)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(-1, -1)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(4, -1)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(-2, -3)).ParamName);
    }

    [Fact]
    public void SliceAndSelectAreViewsWithOffsets()
    {
        var t = Tensor.Arange<double>(4, 2, 3);
        var s = t.Slice(1, 2);
        Assert.Equal([2, 2, 3], s.ShapeArray());
        Assert.Equal(6, s.Offset);
        Assert.Equal(6.0, s[0, 0, 0]);
        var sel = s.Select(1).Select(1);
        Assert.Equal([3], sel.ShapeArray());
        Assert.Equal(15, sel.Offset);
        Assert.Equal([15.0, 16, 17], sel.AsSpan().ToArray());
        sel[2] = -1;
        Assert.Equal(-1.0, t[2, 1, 2]);
        var scalar = sel.Select(0);
        Assert.Equal(0, scalar.Rank);
        Assert.Equal(15.0, scalar.AsSpan()[0]);
        // A reshape of a slice keeps the slice's offset.
        Assert.Equal([6.0, 7, 8, 9, 10, 11], s.Reshape(2, 6).Select(0).AsSpan().ToArray());
    }

    [Fact]
    public void SliceAndSelectRejectOutOfRange()
    {
        var t = Tensor.Arange<float>(3, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(1, int.MaxValue));
        Assert.Equal("index", Assert.Throws<ArgumentOutOfRangeException>(() => t.Select(3)).ParamName);
        Assert.Throws<IndexOutOfRangeException>(() => t[3, 0]);
        Assert.Equal("index", Assert.Throws<ArgumentException>(() => t[1]).ParamName);
        Assert.Equal("dim", Assert.Throws<ArgumentOutOfRangeException>(() => t.Size(2)).ParamName);
        Assert.Equal(2, t.Size(-1));
    }

    [Fact]
    public void CloneAndCastCopy()
    {
        var t = Tensor.Arange<float>(2, 2);
        var c = t.Clone();
        c[0, 0] = 9;
        Assert.Equal(0f, t[0, 0]);
        var d = t.Slice(1, 1).Cast<double>();
        Assert.Equal([1, 2], d.ShapeArray());
        Assert.Equal([2.0, 3.0], d.AsSpan().ToArray());
    }

    [Fact]
    public void ToStringPrintsNestedValuesLikePyTorch()
    {
        var t = Tensor.Arange<float>(2, 2);
        Assert.Equal("tensor([[0.0000, 1.0000],\n        [2.0000, 3.0000]], shape=[2, 2])", t.ToString());
        Assert.Equal("tensor([1.0000e+5, -5.0000e-4], shape=[2])", Tensor.FromArray([1e5, -5e-4], 2).ToString());
        Assert.Equal("tensor(shape=[10, 200])", Tensor.Zeros(10, 200).ToString());
        var three = Tensor.Arange<double>(2, 1, 2).ToString();
        Assert.Equal("tensor([[[0.0000, 1.0000]],\n\n        [[2.0000, 3.0000]]], shape=[2, 1, 2])", three);
    }

    [Fact]
    public void SeededRandomIsDeterministic()
    {
        var a = Tensor.Randn<float>(42, 3, 5);
        var b = Tensor.Randn<float>(42, 3, 5);
        var c = Tensor.Randn<float>(43, 3, 5);
        Assert.Equal(a.AsSpan().ToArray(), b.AsSpan().ToArray());
        Assert.NotEqual(a.AsSpan().ToArray(), c.AsSpan().ToArray());
        var u = Tensor.Rand<double>(7, [1000], -2, 3);
        Assert.All(u.AsSpan().ToArray(), v => Assert.InRange(v, -2, 3));
        Assert.Equal(Tensor.Rand<double>(7, [1000], -2, 3).AsSpan().ToArray(), u.AsSpan().ToArray());
        // A pinned value: the generator's sequence must not change between versions.
        var r1 = new SeededRandom(1);
        var r2 = new SeededRandom(1);
        for (int i = 0; i < 10; i++) Assert.Equal(r1.NextUInt(), r2.NextUInt());
        var n = Tensor.Randn<double>(3, 20000).AsSpan().ToArray();
        Assert.InRange(n.Average(), -0.05, 0.05);
        Assert.InRange(n.Select(v => v * v).Average(), 0.95, 1.05);
    }

    [Fact]
    public void SeededRandomIntsAreUniformAndShuffleIsAPermutation()
    {
        var r = new SeededRandom(5);
        var counts = new int[5];
        for (int i = 0; i < 5000; i++) counts[r.NextInt(5)]++;
        Assert.All(counts, c => Assert.InRange(c, 850, 1150));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.NextInt(0));
        var items = Enumerable.Range(0, 20).ToArray();
        r.Shuffle<int>(items);
        Assert.Equal(Enumerable.Range(0, 20), items.Order());
    }

    [Fact]
    public void FactoriesValidateAndShapeMathChecksOverflow()
    {
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => Tensor.FromArray([1f, 2f], 3)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => new Tensor<float>(65536, 65536)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => new Tensor<float>(2, -1)).ParamName);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => new Tensor<float>(new float[5], 2, 2, 2)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => ShapeMath.Numel([1 << 16, 1 << 16], "weight"));
        Assert.Equal("weight", e.ParamName);
        Assert.Contains("[65536, 65536]", e.Message);
        Assert.Equal(0, ShapeMath.Numel([3, 0, 5], "x"));
        Assert.Equal(1, ShapeMath.Numel([], "x"));
        Assert.Equal("[2, 3]", ShapeMath.Format([2, 3]));
        Assert.Equal(7f, Tensor.Full(7f, 2, 2)[1, 1]);
        Assert.Equal(4, Tensor.Ones(2, 2).AsSpan().ToArray().Sum());
    }
}
