using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

public class StochasticPoolingTests
{
    [Fact]
    public void InferenceIsProbabilityWeightedAverage()
    {
        var x = Tensor.FromArray([1.0, 2, 0, 0, 3, 4, 0, 0], 1, 1, 2, 4);
        var y = Functional.StochasticPool2d(x, 2, training: false);
        Assert.Equal([1, 1, 1, 2], y.ShapeArray());
        Assert.Equal(30.0 / 10.0, y[0, 0, 0, 0], 12); // (1+4+9+16)/(1+2+3+4)
        Assert.Equal(0.0, y[0, 0, 0, 1]);              // all-zero window
    }

    [Fact]
    public void TrainingPicksOnlyPositiveEntriesAndZeroWindowsGiveZero()
    {
        var x = Tensor.FromArray([0.0, 0, 0, 0, 0, 0, 7, 0], 1, 1, 2, 4);
        var rng = new SeededRandom(5);
        for (int t = 0; t < 50; t++)
        {
            var (y, idx) = Functional.StochasticPool2dWithIndices(x, 2, generator: rng);
            Assert.Equal(0.0, y[0, 0, 0, 0]);
            Assert.Equal(-1.0, idx[0, 0, 0, 0]);
            Assert.Equal(7.0, y[0, 0, 0, 1]);
            Assert.Equal(6.0, idx[0, 0, 0, 1]); // row 1, column 2 of a 4-wide plane
        }
    }

    [Fact]
    public void SamplingFrequenciesFollowActivations()
    {
        // 20000 identical 2x2 windows holding 1, 2, 3, 4: each position should be picked with probability a/10.
        const int windows = 20000;
        var data = new double[2 * 2 * windows];
        for (int k = 0; k < windows; k++)
        {
            data[2 * k] = 1; data[2 * k + 1] = 2;
            data[2 * windows + 2 * k] = 3; data[2 * windows + 2 * k + 1] = 4;
        }
        var x = Tensor.FromArray(data, 1, 1, 2, 2 * windows);
        var (y, _) = Functional.StochasticPool2dWithIndices(x, 2, generator: new SeededRandom(2013));
        var counts = new double[5];
        foreach (var v in y.AsSpan()) counts[(int)v]++;
        double chi2 = 0;
        for (int a = 1; a <= 4; a++)
        {
            double expected = windows * a / 10.0;
            chi2 += (counts[a] - expected) * (counts[a] - expected) / expected;
        }
        Assert.Equal(0, counts[0]);
        Assert.True(chi2 < 16.27, $"chi-square {chi2:F2} over 3 degrees of freedom (p = 0.001 bound 16.27); counts {string.Join(", ", counts)}");
        // The expected value of a training output equals the inference output (Σa²/Σa = 3).
        Assert.Equal(3.0, y.AsSpan().ToArray().Average(), 1);
    }

    [Theory]
    [InlineData(2, 3, 7, 9, 3, 3, 2, 2, 1, 1)]
    [InlineData(1, 2, 5, 5, 2, 2, 2, 2, 0, 0)]
    [InlineData(1, 1, 6, 4, 3, 2, 1, 3, 1, 0)]
    public void FastPathMatchesReference(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw)
    {
        var x = Tensor.Rand<double>((ulong)(h * w + c), [n, c, h, w]);
        var s = x.AsSpan();
        for (int i = 0; i < s.Length; i += 3) s[i] = 0; // zeros, including whole windows for small kernels
        for (int i = 0; i < Math.Min(8, s.Length); i++) s[i] = 0;
        var g = StochasticPoolGeometry.Create(x.Shape, (kh, kw), (sh, sw), (ph, pw));
        foreach (bool training in new[] { true, false })
        {
            var (y, idx) = Functional.StochasticPool2dWithIndices(x, (kh, kw), (sh, sw), (ph, pw), training, new SeededRandom(99));
            var ry = new double[y.Length];
            var ri = new int[y.Length];
            StochasticPooling.ForwardReference<double>(g, x.AsSpan(), ry, ri, training ? new SeededRandom(99) : null);
            Assert.Equal(ry, y.AsSpan().ToArray());
            if (training) Assert.Equal(ri.Select(v => (double)v).ToArray(), idx.AsSpan().ToArray());
            var yf = Functional.StochasticPool2d(x.Cast<float>(), (kh, kw), (sh, sw), (ph, pw), training, new SeededRandom(99));
            OpsBSupport.AssertClose(y, yf.Cast<double>(), 1e-6);
        }
    }

    [Fact]
    public void TrainingGradientFlowsToSampledPositionsOnly()
    {
        var x = Tensor.Rand<double>(3, [2, 2, 6, 6]);
        var (y, idx) = Functional.StochasticPool2dWithIndices(x, 3, 2, 1, generator: new SeededRandom(4));
        var gy = Tensor.Randn<double>(5, y.ShapeArray());
        var gx = Functional.StochasticPool2dBackward(gy, idx, x.ShapeArray());
        var expected = new Tensor<double>(x.ShapeArray());
        var (yy, ii) = (y.AsSpan().ToArray(), idx.AsSpan().ToArray());
        int op = y.Size(2) * y.Size(3);
        for (int q = 0; q < ii.Length; q++)
        {
            int plane = q / op, pos = (int)ii[q];
            Assert.Equal(x.AsSpan()[plane * 36 + pos], yy[q]);
            expected.AsSpan()[plane * 36 + pos] += gy.AsSpan()[q];
        }
        Assert.Equal(expected.AsSpan().ToArray(), gx.AsSpan().ToArray());
        // With the draws fixed, y = a_pick is linear in the picked input: d(Σ gy·y)/dx = gx.
        double eps = 1e-7;
        for (int i = 0; i < x.Length; i += 7)
        {
            var xp = x.Clone(); xp.AsSpan()[i] += eps;
            var (yp, ip) = Functional.StochasticPool2dWithIndices(xp, 3, 2, 1, generator: new SeededRandom(4));
            if (!ip.AsSpan().SequenceEqual(idx.AsSpan())) continue; // the perturbation changed a draw's outcome
            Assert.Equal(gx.AsSpan()[i], (OpsBSupport.Dot(yp, gy) - OpsBSupport.Dot(y, gy)) / eps, 5);
        }
    }

    [Fact]
    public void InferenceGradientMatchesFiniteDifferences()
    {
        var x = Tensor.Rand<double>(8, [2, 3, 5, 6], 0.1, 2);
        x.AsSpan()[0] = 0; x.AsSpan()[1] = 0; // zeros inside windows
        var gy = Tensor.Randn<double>(9, 2, 3, 3, 4);
        double Loss() => OpsBSupport.Dot(Functional.StochasticPool2d(x, (3, 2), 2, (1, 1), training: false), gy);
        var gx = Functional.StochasticPool2dInferenceBackward(gy, x, (3, 2), 2, (1, 1));
        // The zeros sit on the one-sided boundary of the domain; perturb only the positive entries.
        var s = x.AsSpan();
        for (int i = 2; i < s.Length; i++)
        {
            double old = s[i];
            s[i] = old + 1e-6; double lp = Loss();
            s[i] = old - 1e-6; double lm = Loss();
            s[i] = old;
            Assert.Equal((lp - lm) / 2e-6, gx.AsSpan()[i], 6);
        }
    }

    [Fact]
    public void UnbatchedInputIsAccepted()
    {
        var x = Tensor.Rand<float>(1, [3, 4, 4]);
        var y = Functional.StochasticPool2d(x, 2, training: false);
        Assert.Equal([3, 2, 2], y.ShapeArray());
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        var x = Tensor.Rand<float>(1, [1, 1, 4, 4]);
        var neg = x.Clone(); neg[0, 0, 2, 1] = -0.5f;
        var e = Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(neg, 2));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("[1, 1, 4, 4]", e.Message);
        var nan = x.Clone(); nan[0, 0, 0, 0] = float.NaN;
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(nan, 2, training: false)).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(new Tensor<float>(4, 4), 2)).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(x, 5)).ParamName);
        Assert.Equal("kernelSize", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(x, 0)).ParamName);
        Assert.Equal("kernelSize", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(x, default)).ParamName);
        Assert.Equal("padding", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(x, 2, padding: 2)).ParamName);
        Assert.Equal("stride", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2d(x, 2, stride: 0)).ParamName);
        var (y, idx) = Functional.StochasticPool2dWithIndices(x, 2);
        Assert.Equal("indices", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2dBackward(y, Tensor.Full(16f, 1, 1, 2, 2), [1, 1, 4, 4])).ParamName);
        Assert.Equal("indices", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2dBackward(y, new Tensor<float>(1, 1, 2, 3), [1, 1, 4, 4])).ParamName);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2dBackward(y, idx, [2, 1, 4, 4])).ParamName);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => Functional.StochasticPool2dInferenceBackward(new Tensor<float>(1, 1, 3, 2), x, 2)).ParamName);
    }
}
