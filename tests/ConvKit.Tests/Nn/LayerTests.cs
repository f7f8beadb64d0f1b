using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Nn;

public class LayerTests
{
    private static Variable<double> P(ulong seed, params int[] shape) => new(Tensor.Randn<double>(seed, shape), requiresGrad: true);

    [Fact]
    public void ConvBnReluPoolLinearNetworkGradients()
    {
        var net = new Sequential<double>(
            new Conv2d<double>(1, 3, 3, padding: 1, rng: new SeededRandom(1)), new BatchNorm2d<double>(3), new ReLU<double>(), new MaxPool2d<double>(2),
            new Conv2d<double>(3, 4, 3, padding: 1, rng: new SeededRandom(2)), new BatchNorm2d<double>(4), new ReLU<double>(), new AvgPool2d<double>(2),
            new Flatten<double>(), new Linear<double>(4 * 2 * 2, 6, rng: new SeededRandom(3)), new BatchNorm1d<double>(6), new ReLU<double>(),
            new Linear<double>(6, 3, rng: new SeededRandom(4)));
        // Distinct values per window keep max-pool argmaxes stable under the finite-difference step.
        var x = P(5, 4, 1, 8, 8);
        int[] y = [0, 2, 1, 2];
        GradCheck.Check(() => Autograd.CrossEntropy(net.Forward(x), y), [x, .. net.Parameters()], tol: 1e-5);
    }

    [Fact]
    public void ResNetBlocksGradients()
    {
        var net = new Sequential<double>(
            new BasicBlock<double>(2, 4, stride: 2, rng: new SeededRandom(1)), new Bottleneck<double>(4, 2, stride: 1, rng: new SeededRandom(2)),
            new AdaptiveAvgPool2d<double>(1), new Flatten<double>(), new Linear<double>(8, 3, rng: new SeededRandom(3)));
        Assert.Contains("0.downsample.0.weight", net.StateDict().Select(e => e.Name));
        Assert.Contains("1.bn3.running_var", net.StateDict().Select(e => e.Name));
        var x = P(6, 3, 2, 6, 6);
        GradCheck.Check(() => Autograd.CrossEntropy(net.Forward(x), [1, 0, 2]), [x, .. net.Parameters()], tol: 1e-5, maxPerVar: 10);
    }

    [Fact]
    public void BatchNormUpdatesRunningStatisticsLikePyTorch()
    {
        var bn = new BatchNorm2d<double>(2);
        var x = Tensor.Randn<double>(7, 4, 2, 3, 3);
        bn.Forward(x);
        var xs = x.AsSpan();
        for (int c = 0; c < 2; c++)
        {
            var vals = new List<double>();
            for (int n = 0; n < 4; n++) for (int i = 0; i < 9; i++) vals.Add(xs[(n * 2 + c) * 9 + i]);
            double mean = vals.Average(), unbiased = vals.Sum(v => (v - mean) * (v - mean)) / (vals.Count - 1);
            Assert.Equal(0.1 * mean, bn.RunningMean.AsSpan()[c], 12);
            Assert.Equal(0.9 + 0.1 * unbiased, bn.RunningVar.AsSpan()[c], 12);
        }
        Assert.Equal(1.0, bn.NumBatchesTracked.AsSpan()[0]);
        Assert.True(bn.StateDict().Single(e => e.Name == "num_batches_tracked").IsInteger);
        bn.Eval();
        var before = bn.RunningMean.AsSpan().ToArray();
        bn.Forward(x);
        Assert.Equal(before, bn.RunningMean.AsSpan().ToArray());
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.Zeros<double>(1, 3, 2, 2))).ParamName);
    }

    [Fact]
    public void PoolingTapeUsesFunctionalBackward()
    {
        var x = P(8, 2, 3, 6, 6);
        var y = Autograd.MaxPool2d(x, 2);
        var gy = Tensor.Randn<double>(9, y.Data.ShapeArray());
        y.Backward(gy);
        var (_, idx) = Functional.MaxPool2dWithIndices(x.Data, 2);
        Assert.Equal(Functional.MaxPool2dBackward(gy, x.Data, idx).AsSpan().ToArray(), x.Grad!.AsSpan().ToArray());
        x.Grad = null;
        var a = Autograd.AvgPool2d(x, 3, 2, 1);
        var ga = Tensor.Randn<double>(10, a.Data.ShapeArray());
        a.Backward(ga);
        Assert.Equal(Functional.AvgPool2dBackward(ga, x.Data, 3, 2, 1).AsSpan().ToArray(), x.Grad!.AsSpan().ToArray());
        GradCheck.Check(() => GradCheck.WeightedSum(Autograd.AdaptiveAvgPool2d(x, (2, 3))), [x]);
    }

    [Fact]
    public void DepthwiseSeparableEqualsFunctionalAndHasGradients()
    {
        var m = new DepthwiseSeparableConv2d<double>(3, 5, 3, padding: 1, depthMultiplier: 2, relu: true, rng: new SeededRandom(11));
        var x = P(12, 2, 3, 5, 5);
        var expected = Functional.DepthwiseSeparableConv2d(x.Data, m.Depthwise.Weight.Data, m.Pointwise.Weight.Data, m.Depthwise.Bias!.Data,
            m.Pointwise.Bias!.Data, padding: 1, relu: true);
        var actual = m.Forward(x).Data;
        var e = expected.AsSpan().ToArray(); var a = actual.AsSpan().ToArray();
        for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], a[i], 10);
        Assert.Equal(["depthwise.weight", "depthwise.bias", "pointwise.weight", "pointwise.bias"], m.NamedParameters().Select(p => p.Name));
        GradCheck.Check(() => GradCheck.WeightedSum(m.Forward(x)), [x, .. m.Parameters()], tol: 1e-5);
    }

    [Fact]
    public void ModelsBuildForTheirInputs()
    {
        foreach (var name in Models.Names)
        {
            var net = Models.Create<float>(name, 1, 28, 28, 10);
            var y = net.Forward(Tensor.Randn<float>(1, 2, 1, 28, 28));
            Assert.Equal([2, 10], y.ShapeArray());
        }
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => Models.Create<float>("vgg", 1, 28, 28, 10)).ParamName);
        Assert.Equal("height", Assert.Throws<ArgumentException>(() => Models.Create<float>("lenet", 1, 8, 8, 10)).ParamName);
    }
}
