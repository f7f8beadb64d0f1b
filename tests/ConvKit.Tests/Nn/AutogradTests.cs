using ConvKit.Descriptors;
using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Nn;

public class AutogradTests
{
    private static Variable<double> P(ulong seed, params int[] shape) => new(Tensor.Randn<double>(seed, shape), requiresGrad: true);

    [Fact]
    public void Conv2dGradientsMatchFiniteDifferences()
    {
        var x = P(1, 2, 3, 6, 5); var w = P(2, 4, 3, 3, 3); var b = P(3, 4);
        GradCheck.Check(() => GradCheck.WeightedSum(Autograd.Conv2d(x, w, b, stride: 2, padding: 1)), [x, w, b]);
    }

    [Fact]
    public void GroupedDilatedReflectConvGradients()
    {
        var x = P(4, 1, 4, 7, 7); var w = P(5, 6, 2, 3, 3);
        GradCheck.Check(() => GradCheck.WeightedSum(Autograd.Conv2d(x, w, null, stride: 1, padding: 2, dilation: 2, groups: 2, paddingMode: PaddingMode.Reflect)), [x, w]);
    }

    [Fact]
    public void ConvBackwardEqualsFunctionalBackwardOps()
    {
        var x = P(6, 2, 3, 8, 8); var w = P(7, 5, 3, 3, 3); var b = P(8, 5);
        var y = Autograd.Conv2d(x, w, b, stride: 2, padding: 1);
        var gy = Tensor.Randn<double>(9, y.Data.ShapeArray());
        y.Backward(gy);
        var gx = Functional.Conv2dBackwardInput(x.Data.ShapeArray(), w.Data, gy, stride: 2, padding: 1);
        var gw = Functional.Conv2dBackwardWeight(x.Data, w.Data.ShapeArray(), gy, stride: 2, padding: 1);
        var gb = Functional.ConvBackwardBias(gy);
        Assert.Equal(gx.AsSpan().ToArray(), x.Grad!.AsSpan().ToArray());
        Assert.Equal(gw.AsSpan().ToArray(), w.Grad!.AsSpan().ToArray());
        Assert.Equal(gb.AsSpan().ToArray(), b.Grad!.AsSpan().ToArray());
    }

    [Fact]
    public void Conv1dAnd3dModulesGradients()
    {
        Init.ManualSeed(3);
        var c1 = new Conv1d<double>(2, 3, 3, padding: 1);
        var x1 = P(10, 2, 2, 7);
        GradCheck.Check(() => GradCheck.WeightedSum(c1.Forward(x1)), [x1, .. c1.Parameters()]);
        var c3 = new Conv3d<double>(2, 2, 2, stride: 2);
        var x3 = P(11, 1, 2, 4, 4, 4);
        GradCheck.Check(() => GradCheck.WeightedSum(c3.Forward(x3)), [x3, .. c3.Parameters()]);
    }

    [Fact]
    public void ConvTransposeGradients()
    {
        Init.ManualSeed(4);
        var ct = new ConvTranspose2d<double>(3, 2, 3, stride: 2, padding: 1, outputPadding: 1);
        var x = P(12, 2, 3, 4, 3);
        var y = ct.Forward(x);
        Assert.Equal([2, 2, 8, 6], y.Data.ShapeArray());
        GradCheck.Check(() => GradCheck.WeightedSum(ct.Forward(x)), [x, .. ct.Parameters()]);
    }

    [Fact]
    public void LinearCrossEntropyGradients()
    {
        var x = P(13, 5, 7); var w = P(14, 4, 7); var b = P(15, 4);
        int[] y = [0, 3, 1, 1, 2];
        GradCheck.Check(() => Autograd.CrossEntropy(Autograd.Linear(x, w, b), y), [x, w, b]);
        GradCheck.Check(() => Autograd.CrossEntropy(Autograd.Linear(x, w, b), y, labelSmoothing: 0.1), [x, w, b]);
    }

    [Fact]
    public void CrossEntropyValueMatchesPyTorch()
    {
        // Values printed by torch.nn.functional.cross_entropy in double for these logits and targets.
        var logits = new Variable<double>(Tensor.FromArray(new double[] { 1, 2, 3, 1, -1, 0 }, 2, 3));
        double l = Autograd.CrossEntropy(logits, [2, 0]).Data.AsSpan()[0];
        double lse0 = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3)), lse1 = Math.Log(Math.Exp(1) + Math.Exp(-1) + 1);
        Assert.Equal(((lse0 - 3) + (lse1 - 1)) / 2, l, 12);
        Assert.Equal(0.4076059644443804, l, 12);
        double ls = Autograd.CrossEntropy(logits, [2, 0], 0.2).Data.AsSpan()[0];
        double s0 = 0.8 * (lse0 - 3) + 0.2 * (3 * lse0 - 6) / 3, s1 = 0.8 * (lse1 - 1) + 0.2 * (3 * lse1 - 0) / 3;
        Assert.Equal((s0 + s1) / 2, ls, 12);
        Assert.Equal(0.6076059644443805, ls, 12);
    }

    [Fact]
    public void CrossEntropyRejectsBadLabels()
    {
        var logits = new Variable<double>(Tensor.Zeros<double>(2, 3));
        var e = Assert.Throws<ArgumentException>(() => Autograd.CrossEntropy(logits, [0, 3]));
        Assert.Equal("target", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => Autograd.CrossEntropy(logits, [0]));
        Assert.Equal("target", e.ParamName);
    }

    [Fact]
    public void MseAddConcatReshapeGradients()
    {
        var a = P(16, 2, 3, 2, 2); var b = P(17, 2, 3, 2, 2); var c = P(18, 2, 1, 2, 2);
        var t = Tensor.Randn<double>(19, 2, 4, 2, 2);
        GradCheck.Check(() => Autograd.MseLoss(Autograd.ConcatChannels(Autograd.Add(a, b), c), t), [a, b, c]);
        GradCheck.Check(() => GradCheck.WeightedSum(Autograd.Flatten(Autograd.Add(a, a))), [a]);
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndScaledInTraining()
    {
        var x = new Variable<double>(Tensor.Full(1.0, 1000), requiresGrad: true);
        var d = new Dropout<double>(0.25, seed: 5);
        var y = d.Forward(x);
        var ys = y.Data.AsSpan().ToArray();
        Assert.All(ys, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75) < 1e-12));
        int zeros = ys.Count(v => v == 0);
        Assert.InRange(zeros, 180, 320);
        GradCheck.WeightedSum(y).Backward();
        d.Eval();
        Assert.Same(x, d.Forward(x));
    }

    [Fact]
    public void GradientsAccumulateUntilZeroed()
    {
        var w = P(20, 3, 2); var x = new Variable<double>(Tensor.Randn<double>(21, 4, 2));
        Autograd.Mean(Autograd.Linear(x, w)).Backward();
        var g1 = w.Grad!.AsSpan().ToArray();
        Autograd.Mean(Autograd.Linear(x, w)).Backward();
        var g2 = w.Grad!.AsSpan().ToArray();
        for (int i = 0; i < g1.Length; i++) Assert.Equal(2 * g1[i], g2[i], 12);
        w.ZeroGrad();
        Assert.All(w.Grad!.AsSpan().ToArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void SharedSubgraphGetsSummedGradient()
    {
        // y = (x + x) used twice: dL/dx = 4·w for L = Σ w·(h + h) with h = x + x.
        var x = P(22, 1, 5);
        var h = Autograd.Add(x, x);
        var y = Autograd.Add(h, h);
        var w = Tensor.Randn<double>(23, 1, 5);
        y.Backward(w);
        for (int i = 0; i < 5; i++) Assert.Equal(4 * w.AsSpan()[i], x.Grad!.AsSpan()[i], 12);
    }

    [Fact]
    public void LinearFloatUsesSgemmAndMatchesDouble()
    {
        var xd = Tensor.Randn<double>(24, 9, 33); var wd = Tensor.Randn<double>(25, 17, 33); var bd = Tensor.Randn<double>(26, 17);
        var yd = Autograd.Linear(new Variable<double>(xd), new Variable<double>(wd), new Variable<double>(bd)).Data.AsSpan().ToArray();
        var yf = Autograd.Linear(new Variable<float>(xd.Cast<float>()), new Variable<float>(wd.Cast<float>()), new Variable<float>(bd.Cast<float>())).Data.AsSpan().ToArray();
        for (int i = 0; i < yd.Length; i++) Assert.Equal(yd[i], yf[i], 3);
    }

    [Fact]
    public void NoGradScopeRecordsNothing()
    {
        var w = P(27, 2, 2);
        using (Autograd.NoGrad())
        {
            var y = Autograd.Linear(new Variable<double>(Tensor.Randn<double>(28, 1, 2)), w);
            Assert.False(y.RequiresGrad);
        }
        Assert.True(Autograd.Linear(new Variable<double>(Tensor.Randn<double>(28, 1, 2)), w).RequiresGrad);
    }
}
