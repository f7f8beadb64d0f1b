using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Nn;

public class OptimizerTests
{
    // Expected parameters after three steps with the gradients below, printed by torch.optim (PyTorch 1.13, float64).
    private static readonly double[][] Grads = [[0.1, -0.2, 0.3], [-0.5, 0.4, 0.05], [0.2, 0.2, -0.1]];

    private static double[] Run(Func<Variable<double>[], Optimizer<double>> make)
    {
        var p = new Variable<double>(Tensor.FromArray(new[] { 1.0, -2.0, 0.5 }, 3), requiresGrad: true);
        var opt = make([p]);
        foreach (var g in Grads)
        {
            p.Grad = Tensor.FromArray(g, 3);
            opt.Step();
        }
        return p.Data.AsSpan().ToArray();
    }

    private static void Near(double[] expected, double[] actual)
    {
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
    }

    [Fact]
    public void PlainSgd() => Near([1.02, -2.04, 0.475], Run(p => new Sgd<double>(p, 0.1)));

    [Fact]
    public void SgdNesterovWeightDecay() =>
        Near([1.054997312551, -2.061611225102, 0.39858923480049996], Run(p => new Sgd<double>(p, 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true)));

    [Fact]
    public void SgdMomentumDampening() =>
        Near([1.0404, -2.0322, 0.41914999999999997], Run(p => new Sgd<double>(p, 0.1, momentum: 0.9, dampening: 0.1)));

    [Fact]
    public void AdamL2() =>
        Near([0.9924789170128919, -1.9853301190099575, 0.4759441126353258], Run(p => new Adam<double>(p, 0.01, weightDecay: 0.1)));

    [Fact]
    public void AdamWDecoupled() =>
        Near([0.9949724973437736, -1.9928757705970124, 0.47694150919072464], Run(p => new AdamW<double>(p, 0.01, weightDecay: 0.1)));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void VectorizedFloatAdamMatchesDoubleUpdates(bool decoupled)
    {
        // 37 elements: 4 vectors of 8 plus a scalar tail.
        var init = Tensor.Randn<double>(30, 37);
        var pd = new Variable<double>(init.Clone(), requiresGrad: true);
        var pf = new Variable<float>(init.Cast<float>(), requiresGrad: true);
        var od = new Adam<double>([pd], 0.01, weightDecay: 0.05, decoupledWeightDecay: decoupled);
        var of = new Adam<float>([pf], 0.01, weightDecay: 0.05, decoupledWeightDecay: decoupled);
        for (int s = 0; s < 5; s++)
        {
            var g = Tensor.Randn<double>(31 + (ulong)s, 37);
            pd.Grad = g; pf.Grad = g.Cast<float>();
            od.Step(); of.Step();
        }
        for (int i = 0; i < 37; i++) Assert.True(Math.Abs(pd.Data.AsSpan()[i] - pf.Data.AsSpan()[i]) < 1e-5, $"element {i}");
    }

    [Fact]
    public void SchedulesMatchPyTorch()
    {
        var cos = new CosineLr(0.1, 5, 0.001);
        double[] expectedCos = [0.0905463412215599, 0.06579634122155989, 0.035203658778440096, 0.010453658778440105, 0.001];
        foreach (var e in expectedCos) Assert.Equal(e, cos.Step(), 12);
        var step = new StepLr(0.1, 2, 0.5);
        foreach (var e in new[] { 0.1, 0.05, 0.05, 0.025, 0.025 }) Assert.Equal(e, step.Step(), 12);
    }

    [Fact]
    public void SkipsParametersWithoutGradient()
    {
        var p = new Variable<double>(Tensor.Full(1.0, 2), requiresGrad: true);
        new Adam<double>([p]).Step();
        Assert.Equal([1.0, 1.0], p.Data.AsSpan().ToArray());
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var p = new[] { new Variable<double>(Tensor.Full(1.0, 2), requiresGrad: true) };
        Assert.Equal("lr", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd<double>(p, -1)).ParamName);
        Assert.Equal("nesterov", Assert.Throws<ArgumentException>(() => new Sgd<double>(p, 0.1, nesterov: true)).ParamName);
        Assert.Equal("beta1", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam<double>(p, beta1: 1)).ParamName);
    }
}
