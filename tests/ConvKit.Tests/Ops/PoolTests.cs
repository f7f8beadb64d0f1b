using ConvKit.Descriptors;
using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

public class PoolTests
{
    private static Tensor<double> Rnd(ulong seed, params int[] shape) => Tensor.Randn<double>(seed, shape);

    // ------------------------------------------------------------------ finite differences (double)

    public static TheoryData<int, int, int, int, int, bool> MaxConfigs() => new()
    {
        // rank, kernel, stride, padding, dilation, ceil
        { 2, 2, 2, 0, 1, false },
        { 2, 3, 2, 1, 1, true },
        { 2, 3, 1, 1, 2, false }, // overlapping windows with dilation
        { 1, 3, 2, 1, 1, true },
        { 1, 4, 1, 2, 1, false },
        { 3, 2, 1, 1, 1, true },
        { 3, 3, 2, 1, 1, false },
    };

    private static int[] Shape(int rank) => rank switch { 1 => [2, 2, 9], 2 => [2, 2, 5, 7], _ => [1, 2, 4, 5, 3] };

    private static (Tensor<double>, int[]) MaxFwd(int r, Tensor<double> x, int k, int s, int p, int d, bool ceil) => r switch
    {
        1 => Functional.MaxPool1dWithIndices(x, k, s, p, d, ceil),
        2 => Functional.MaxPool2dWithIndices(x, k, s, p, d, ceil),
        _ => Functional.MaxPool3dWithIndices(x, k, s, p, d, ceil),
    };

    private static Tensor<double> MaxBwd(int r, Tensor<double> g, Tensor<double> x, int[] idx) => r switch
    {
        1 => Functional.MaxPool1dBackward(g, x, idx),
        2 => Functional.MaxPool2dBackward(g, x, idx),
        _ => Functional.MaxPool3dBackward(g, x, idx),
    };

    [Theory, MemberData(nameof(MaxConfigs))]
    public void MaxPoolBackwardMatchesFiniteDifferences(int r, int k, int s, int p, int d, bool ceil)
    {
        var x = Rnd(1, Shape(r));
        var (y, idx) = MaxFwd(r, x, k, s, p, d, ceil);
        var g = Rnd(2, y.ShapeArray());
        PoolGradCheck.Check(t => MaxFwd(r, t, k, s, p, d, ceil).Item1, x, g, MaxBwd(r, g, x, idx));
    }

    public static TheoryData<int, int, int, int, bool, bool, int> AvgConfigs() => new()
    {
        // rank, kernel, stride, padding, ceil, countIncludePad, divisorOverride (0 = none)
        { 2, 3, 2, 1, true, true, 0 },
        { 2, 3, 2, 1, true, false, 0 },
        { 2, 3, 1, 1, false, true, 0 },
        { 2, 2, 2, 0, true, true, 3 },
        { 1, 4, 3, 2, true, false, 0 },
        { 1, 3, 1, 0, false, true, 0 },
        { 3, 3, 2, 1, true, false, 0 },
        { 3, 2, 1, 1, false, true, 5 },
    };

    private static Tensor<double> AvgFwd(int r, Tensor<double> x, int k, int s, int p, bool ceil, bool cip, int div) => r switch
    {
        1 => Functional.AvgPool1d(x, k, s, p, ceil, cip, div == 0 ? null : div),
        2 => Functional.AvgPool2d(x, k, s, p, ceil, cip, div == 0 ? null : div),
        _ => Functional.AvgPool3d(x, k, s, p, ceil, cip, div == 0 ? null : div),
    };

    [Theory, MemberData(nameof(AvgConfigs))]
    public void AvgPoolBackwardMatchesFiniteDifferences(int r, int k, int s, int p, bool ceil, bool cip, int div)
    {
        var x = Rnd(3, Shape(r));
        var y = AvgFwd(r, x, k, s, p, ceil, cip, div);
        var g = Rnd(4, y.ShapeArray());
        int? dv = div == 0 ? null : div;
        var gx = r switch
        {
            1 => Functional.AvgPool1dBackward(g, x, k, s, p, ceil, cip, dv),
            2 => Functional.AvgPool2dBackward(g, x, k, s, p, ceil, cip, dv),
            _ => Functional.AvgPool3dBackward(g, x, k, s, p, ceil, cip, dv),
        };
        PoolGradCheck.Check(t => AvgFwd(r, t, k, s, p, ceil, cip, div), x, g, gx);
    }

    public static TheoryData<int, int[]> AdaptiveConfigs() => new()
    {
        { 1, [4] }, { 1, [13] }, { 2, [3, 4] }, { 2, [1, 1] }, { 2, [6, 9] }, { 3, [3, 2, 2] },
    };

    [Theory, MemberData(nameof(AdaptiveConfigs))]
    public void AdaptiveBackwardMatchesFiniteDifferences(int r, int[] outSize)
    {
        var x = Rnd(5, Shape(r));
        Func<Tensor<double>, Tensor<double>> avg = r switch
        {
            1 => t => Functional.AdaptiveAvgPool1d(t, outSize),
            2 => t => Functional.AdaptiveAvgPool2d(t, outSize),
            _ => t => Functional.AdaptiveAvgPool3d(t, outSize),
        };
        Func<Tensor<double>, (Tensor<double>, int[])> max = r switch
        {
            1 => t => Functional.AdaptiveMaxPool1dWithIndices(t, outSize),
            2 => t => Functional.AdaptiveMaxPool2dWithIndices(t, outSize),
            _ => t => Functional.AdaptiveMaxPool3dWithIndices(t, outSize),
        };
        var ya = avg(x);
        var g = Rnd(6, ya.ShapeArray());
        var ga = r switch
        {
            1 => Functional.AdaptiveAvgPool1dBackward(g, x),
            2 => Functional.AdaptiveAvgPool2dBackward(g, x),
            _ => Functional.AdaptiveAvgPool3dBackward(g, x),
        };
        PoolGradCheck.Check(avg, x, g, ga);
        var (_, idx) = max(x);
        var gm = r switch
        {
            1 => Functional.AdaptiveMaxPool1dBackward(g, x, idx),
            2 => Functional.AdaptiveMaxPool2dBackward(g, x, idx),
            _ => Functional.AdaptiveMaxPool3dBackward(g, x, idx),
        };
        PoolGradCheck.Check(t => max(t).Item1, x, g, gm);
    }

    [Theory, InlineData(1), InlineData(2), InlineData(3)]
    public void MaxUnpoolBackwardMatchesFiniteDifferences(int r)
    {
        var src = Rnd(7, Shape(r));
        var (pooled, idx) = MaxFwd(r, src, 2, 2, 0, 1, false);
        var size = src.ShapeArray()[2..]; // odd sizes: the default output would be one short
        Func<Tensor<double>, Tensor<double>> f = r switch
        {
            1 => t => Functional.MaxUnpool1d(t, idx, 2, outputSize: size),
            2 => t => Functional.MaxUnpool2d(t, idx, 2, outputSize: size),
            _ => t => Functional.MaxUnpool3d(t, idx, 2, outputSize: size),
        };
        var y = f(pooled);
        var g = Rnd(8, y.ShapeArray());
        var gx = r switch
        {
            1 => Functional.MaxUnpool1dBackward(g, pooled, idx),
            2 => Functional.MaxUnpool2dBackward(g, pooled, idx),
            _ => Functional.MaxUnpool3dBackward(g, pooled, idx),
        };
        PoolGradCheck.Check(f, pooled, g, gx);
    }

    [Fact]
    public void GlobalPooling()
    {
        var x = Rnd(9, 2, 3, 4, 5);
        var y = Functional.GlobalAvgPool2d(x);
        Assert.Equal([2, 3, 1, 1], y.ShapeArray());
        double s = 0;
        for (int i = 0; i < 20; i++) s += x.AsSpan()[20 + i];
        Assert.Equal(s / 20, y[0, 1, 0, 0], 12);
        var g = Rnd(10, 2, 3, 1, 1);
        PoolGradCheck.Check(Functional.GlobalAvgPool2d, x, g, Functional.GlobalAvgPool2dBackward(g, x));
        var (m, idx) = Functional.GlobalMaxPool2d(x);
        Assert.Equal([2, 3, 1, 1], m.ShapeArray());
        Assert.Equal(x.AsSpan().Slice(20, 20).ToArray().Max(), m[0, 1, 0, 0]);
        Assert.Equal(x.AsSpan()[20 + idx[1]], m[0, 1, 0, 0]);
    }

    // ------------------------------------------------------------------ fast paths vs plain-loop twins

    [Theory]
    [InlineData(2, 2, 2, 0, 1, false)]
    [InlineData(2, 2, 2, 0, 1, true)]
    [InlineData(2, 3, 2, 1, 1, true)]
    [InlineData(2, 3, 1, 1, 2, false)]
    [InlineData(1, 2, 2, 0, 1, false)]
    [InlineData(3, 2, 2, 1, 1, true)]
    public void MaxPoolMatchesReferenceOnAwkwardSizes(int r, int k, int s, int p, int d, bool ceil)
    {
        foreach (var sp in new[] { 3, 4, 7, 8, 17, 33 })
        {
            int[] shape = r switch { 1 => [3, 5, sp], 2 => [3, 5, sp, sp + 3], _ => [2, 3, 3, sp, sp + 1] };
            var x = Tensor.Randn<float>((ulong)sp, shape);
            x.AsSpan()[5] = float.NaN; // NaN must win its window, as in PyTorch
            var desc = PoolDescriptor.Create(r, shape, k, s, p, d, ceil);
            var idx = new int[ShapeMath.Numel(desc.OutputShape, "o")];
            var y = Pooling.MaxPool(desc, x, idx);
            var (yr, ir) = Pooling.MaxPoolReference(desc, x);
            Assert.Equal(ir, idx);
            Assert.Equal(0, PoolGradCheck.MaxDiff(y, yr));
        }
    }

    [Fact]
    public void MaxPool2x2FastPathKeepsPyTorchTieOrderAndNaN()
    {
        // small integers (and ReLU-like zeros) make ties in most windows; NaN in a few
        var x = Tensor.Rand<float>(21, [2, 3, 6, 38], 0, 3);
        var s = x.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = MathF.Max(MathF.Floor(s[i]) - 1, 0);
        s[3] = float.NaN; s[40] = float.NaN; s[41] = float.NaN; s[77] = float.NaN; s[38 + 77] = float.NaN;
        var desc = PoolDescriptor.Create(2, x.Shape, 2);
        Assert.True(Pooling.Is2x2(desc));
        var idx = new int[ShapeMath.Numel(desc.OutputShape, "o")];
        var y = Pooling.MaxPool(desc, x, idx);
        var (yr, ir) = Pooling.MaxPoolReference(desc, x);
        Assert.Equal(ir, idx);
        Assert.Equal(0, PoolGradCheck.MaxDiff(y, yr));
        Assert.Equal(0, PoolGradCheck.MaxDiff(Functional.MaxPool2d(x, 2), yr));
    }

    [Theory]
    [InlineData(2, 2, 0, 8, 10)]
    [InlineData(2, 2, 0, 7, 9)]    // odd sizes: the last row and column get no gradient
    [InlineData(2, 2, 0, 6, 34)]   // vector blocks of 8 plus an overlapping remainder
    [InlineData(2, 2, 0, 5, 19)]
    [InlineData(3, 2, 1, 8, 8)]    // output is half the input too, but windows overlap: the general path must run
    [InlineData(3, 1, 1, 6, 6)]
    public void MaxPoolBackwardFloatMatchesDouble(int k, int s, int p, int h, int w)
    {
        var x = Tensor.Randn<float>(31, 3, 4, h, w);
        var (y, idx) = Functional.MaxPool2dWithIndices(x, k, s, p);
        var g = Tensor.Randn<float>(32, y.ShapeArray());
        var gx = Functional.MaxPool2dBackward(g, x, idx);
        var gr = Functional.MaxPool2dBackward(g.Cast<double>(), x.Cast<double>(), idx).Cast<float>();
        Assert.True(PoolGradCheck.MaxDiff(gx, gr) < 1e-6); // overlapping windows sum in float vs double
    }

    [Fact]
    public void MaxPool2x2FastPathOn3dWithUnitDepthKernel()
    {
        var x = Tensor.Randn<float>(11, 2, 3, 4, 6, 8);
        var desc = PoolDescriptor.Create(3, x.Shape, new Dims(1, 2, 2));
        Assert.True(Pooling.Is2x2(desc));
        var idx = new int[ShapeMath.Numel(desc.OutputShape, "o")];
        var y = Pooling.MaxPool(desc, x, idx);
        var (yr, ir) = Pooling.MaxPoolReference(desc, x);
        Assert.Equal(ir, idx);
        Assert.Equal(0, PoolGradCheck.MaxDiff(y, yr));
    }

    [Theory]
    [InlineData(2, 3, 2, 1, true, true, 0)]
    [InlineData(2, 3, 2, 1, true, false, 0)]
    [InlineData(2, 2, 2, 1, true, true, 0)]
    [InlineData(2, 4, 3, 2, false, false, 7)]
    [InlineData(1, 3, 2, 1, true, false, 0)]
    [InlineData(3, 3, 2, 1, true, true, 0)]
    public void AvgPoolMatchesReferenceOnAwkwardSizes(int r, int k, int s, int p, bool ceil, bool cip, int div)
    {
        foreach (var sp in new[] { 4, 5, 9, 16 })
        {
            int[] shape = r switch { 1 => [2, 3, sp], 2 => [2, 3, sp, sp + 1], _ => [1, 2, 3, sp, sp + 2] };
            var x = Tensor.Randn<float>((ulong)sp + 40, shape);
            var desc = PoolDescriptor.Create(r, shape, k, s, p, 1, ceil);
            var y = Functional.AvgPool(r, x, k, s, p, ceil, cip, div == 0 ? null : div);
            var yr = Pooling.AvgPoolReference(desc, x, cip, div);
            Assert.True(PoolGradCheck.MaxDiff(y, yr) < 1e-5);
        }
    }

    // ------------------------------------------------------------------ semantics

    [Theory]
    [InlineData(5, 2, 2, 0, 1, false, 2)]
    [InlineData(5, 2, 2, 0, 1, true, 3)]
    [InlineData(5, 2, 2, 1, 1, true, 3)]  // 4 would start in the right padding: dropped
    [InlineData(6, 3, 2, 1, 1, true, 4)]
    [InlineData(7, 3, 2, 1, 2, false, 3)]
    [InlineData(3, 3, 1, 0, 1, false, 1)]
    public void OutputSizeFollowsPyTorch(int n, int k, int s, int p, int d, bool ceil, int expected)
        => Assert.Equal(expected, PoolDescriptor.OutputSize(n, k, s, p, d, ceil));

    [Fact]
    public void UnbatchedInputKeepsItsRank()
    {
        var x = Tensor.Randn<float>(3, 2, 6, 6);
        var y = Functional.MaxPool2d(x, 2);
        Assert.Equal([2, 3, 3], y.ShapeArray());
        var (yb, _) = Functional.MaxPool2dWithIndices(x.Reshape(1, 2, 6, 6), 2);
        Assert.Equal(yb.AsSpan().ToArray(), y.AsSpan().ToArray());
        Assert.Equal([2, 5], Functional.AdaptiveAvgPool1d(Tensor.Randn<float>(1, 2, 9), 5).ShapeArray());
    }

    [Fact]
    public void TiesPickTheFirstElement()
    {
        var x = Tensor.FromArray([1f, 1, 1, 1], 1, 1, 2, 2);
        var (_, idx) = Functional.MaxPool2dWithIndices(x, 2);
        Assert.Equal([0], idx);
    }

    // ------------------------------------------------------------------ errors

    private static void Throws(string param, Action a)
    {
        var e = Assert.Throws<ArgumentException>(a);
        Assert.Equal(param, e.ParamName);
    }

    [Fact]
    public void Errors()
    {
        var x = Tensor.Randn<float>(1, 1, 2, 4, 4);
        Throws("kernelSize", () => Functional.MaxPool2d(Tensor.Zeros(1, 1, 2, 2), 3));          // window larger than the padded input
        Throws("kernelSize", () => Functional.AvgPool1d(Tensor.Zeros(1, 1, 2), 5, padding: 1));
        Throws("padding", () => Functional.MaxPool2d(x, 2, padding: 2));                         // more than half the kernel
        Throws("padding", () => Functional.AvgPool2d(x, 3, padding: 2));
        Throws("padding", () => Functional.MaxPool2d(x, 3, padding: -1));
        Throws("input", () => Functional.MaxPool2d(Tensor.Zeros(4, 4), 2));                      // wrong rank
        Throws("input", () => Functional.MaxPool3d(Tensor.Zeros(1, 1, 4, 4, 4, 4), 2));
        Throws("input", () => Functional.AdaptiveAvgPool2d(Tensor.Zeros(1, 1, 0, 4), 2));         // empty spatial axis
        Throws("kernelSize", () => Functional.MaxPool2d(x, -1));                                 // negative sizes
        Throws("kernelSize", () => Functional.MaxPool2d(x, new Dims(2, 2, 2)));
        Throws("stride", () => Functional.AvgPool2d(x, 2, stride: 0));
        Throws("dilation", () => Functional.MaxPool2d(x, 2, dilation: 0));
        Throws("outputSize", () => Functional.AdaptiveAvgPool2d(x, -1));
        Throws("outputSize", () => Functional.AdaptiveMaxPool2dWithIndices(x, new Dims(2, 0)));
        Throws("divisorOverride", () => Functional.AvgPool2d(x, 2, divisorOverride: 0));
        var (y, idx) = Functional.MaxPool2dWithIndices(x, 2);
        Throws("gradOutput", () => Functional.MaxPool2dBackward(Tensor.Zeros(1, 3, 2, 2), x, idx));
        Throws("indices", () => Functional.MaxPool2dBackward(y, x, new int[3]));
        Throws("indices", () => Functional.MaxPool2dBackward(y, x, Enumerable.Repeat(16, idx.Length).ToArray()));
        Throws("gradOutput", () => Functional.AvgPool2dBackward(Tensor.Zeros(1, 2, 3, 3), x, 2));
        Throws("outputSize", () => Functional.MaxUnpool2d(y, idx, 2, outputSize: [6, 6]));      // beyond one stride of 4
        Throws("outputSize", () => Functional.MaxUnpool2d(y, idx, 2, outputSize: [1, 2, 3]));
        Throws("indices", () => Functional.MaxUnpool2d(y, Enumerable.Repeat(99, idx.Length).ToArray(), 2));
        Throws("indices", () => Functional.MaxUnpool2d(y, new int[1], 2));
        Throws("kernelSize", () => Functional.MaxUnpool2d(y, idx, 0));
        Assert.Equal([1, 2, 5, 5], Functional.MaxUnpool2d(y, idx, 2, outputSize: [5, 5]).ShapeArray());
    }
}
