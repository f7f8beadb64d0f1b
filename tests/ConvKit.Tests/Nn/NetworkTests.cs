using ConvKit.Data;
using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Nn;

/// <summary>Whole networks: gradient checks in double, PyTorch naming and init, and a training smoke test.</summary>
public class NetworkTests
{
    [Fact]
    public void ConvReluLinearNetworkGradientsMatchFiniteDifferences()
    {
        var net = new Sequential<double>(
            new Conv2d<double>(2, 3, 3, padding: 1, rng: new SeededRandom(1)), new ReLU<double>(),
            new Conv2d<double>(3, 4, 3, stride: 2, padding: 1, rng: new SeededRandom(2)), new LeakyReLU<double>(0.1),
            new Flatten<double>(), new Linear<double>(4 * 3 * 3, 5, rng: new SeededRandom(3)), new Tanh<double>(), new Linear<double>(5, 3, rng: new SeededRandom(4)));
        var x = new Variable<double>(Tensor.Randn<double>(5, 3, 2, 6, 6), requiresGrad: true);
        int[] y = [0, 2, 1];
        GradCheck.Check(() => Autograd.CrossEntropy(net.Forward(x), y, 0.05), [x, .. net.Parameters()], tol: 1e-5);
    }

    [Fact]
    public void HourglassGradientsAndShape()
    {
        var net = new Hourglass<double>(1, 2, width: 2, rng: new SeededRandom(6));
        var x = new Variable<double>(Tensor.Randn<double>(7, 2, 1, 4, 6), requiresGrad: true);
        Assert.Equal([2, 2, 4, 6], net.Forward(x).Data.ShapeArray());
        Assert.Equal(["enc.0.weight", "enc.0.bias", "down.0.weight", "down.0.bias", "mid.0.weight", "mid.0.bias", "up.weight", "up.bias",
            "dec.0.weight", "dec.0.bias", "head.weight", "head.bias"], net.NamedParameters().Select(p => p.Name));
        var target = Tensor.Randn<double>(8, 2, 2, 4, 6);
        GradCheck.Check(() => Autograd.MseLoss(net.Forward(x), target), [x, .. net.Parameters()], tol: 1e-5);
    }

    [Fact]
    public void DeformConvModuleGradients()
    {
        var m = new DeformConv2d<double>(2, 3, 3, padding: 1, rng: new SeededRandom(9));
        // Non-zero offsets so the bilinear paths are exercised.
        Init.Uniform(m.OffsetConv.Weight.Data, -0.2, 0.2, new SeededRandom(10));
        var x = new Variable<double>(Tensor.Randn<double>(11, 1, 2, 5, 5), requiresGrad: true);
        GradCheck.Check(() => GradCheck.WeightedSum(m.Forward(x)), [x, .. m.Parameters()], tol: 1e-4);
    }

    [Fact]
    public void DefaultInitIsPyTorchsKaimingUniformBound()
    {
        var conv = new Conv2d<float>(4, 8, 3, rng: new SeededRandom(1));
        double bound = 1 / Math.Sqrt(4 * 9);
        Assert.All(conv.Weight.Data.AsSpan().ToArray(), v => Assert.InRange(v, -bound, bound));
        Assert.All(conv.Bias!.Data.AsSpan().ToArray(), v => Assert.InRange(v, -bound, bound));
        // Spread close to the bound (uniform): the largest magnitude is near it.
        Assert.True(conv.Weight.Data.AsSpan().ToArray().Max(Math.Abs) > 0.9 * bound);
        var lin = new Linear<float>(100, 10, rng: new SeededRandom(2));
        Assert.All(lin.Weight.Data.AsSpan().ToArray(), v => Assert.InRange(v, -0.1, 0.1));
        // Same seed, same weights.
        Assert.Equal(conv.Weight.Data.AsSpan().ToArray(), new Conv2d<float>(4, 8, 3, rng: new SeededRandom(1)).Weight.Data.AsSpan().ToArray());
    }

    [Fact]
    public void SequentialNamesMatchPyTorch()
    {
        var net = Models.Create<float>("digits-cnn", 1, 8, 8, 10);
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias"], net.StateDict().Select(e => e.Name));
        Assert.False(net.Eval().Training);
        Assert.All(((Sequential<float>)net).Layers, l => Assert.False(l.Training));
    }

    [Fact]
    public void TrainingOnDigitsLearns()
    {
        var (train, test) = Datasets.Digits(seed: 0);
        var (mean, std) = train.MeanStd();
        var net = new Sequential<float>(
            new Conv2d<float>(1, 8, 3, stride: 2, padding: 1, rng: new SeededRandom(1)), new ReLU<float>(),
            new Flatten<float>(), new Linear<float>(8 * 16, 10, rng: new SeededRandom(2)));
        var history = Trainer.Fit(net, train, test, new TrainOptions { Epochs = 3, BatchSize = 32, LearningRate = 3e-3, Mean = mean, Std = std });
        Assert.Equal(3, history.Count);
        Assert.True(history[^1].TrainLoss < history[0].TrainLoss);
        Assert.True(history[^1].TestAccuracy > 0.85, $"test accuracy {history[^1].TestAccuracy}");
        var ev = Trainer.Evaluate(net, test, mean, std);
        Assert.Equal(test.Count, ev.Confusion.Cast<int>().Sum());
    }
}
