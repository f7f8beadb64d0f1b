using ConvKit.Tensors;
using Xunit;
using BN = ConvKit.Ops.BatchNorm;

namespace ConvKit.Tests.Ops;

public class BatchNormTests
{
    public static TheoryData<int[], bool> Configs() => new()
    {
        { [6, 3], true }, { [3, 2, 5], true }, { [2, 3, 4, 5], true }, { [2, 2, 2, 3, 3], true },
        { [6, 3], false }, { [2, 3, 4, 5], false },
    };

    private static (Tensor<double> W, Tensor<double> B, Tensor<double> Rm, Tensor<double> Rv) Params(int c)
    {
        var w = Tensor.Rand<double>(11, [c], 0.5, 1.5);
        var b = Tensor.Randn<double>(12, c);
        var rm = Tensor.Randn<double>(13, c);
        var rv = Tensor.Rand<double>(14, [c], 0.5, 1.5);
        return (w, b, rm, rv);
    }

    [Theory, MemberData(nameof(Configs))]
    public void BackwardMatchesFiniteDifferences(int[] shape, bool training)
    {
        int c = shape[1];
        var x = Tensor.Randn<double>(1, shape);
        var (w, b, rm, rv) = Params(c);
        var g = Tensor.Randn<double>(2, shape);
        // running stats are cloned per evaluation so the finite differences see the same state
        Tensor<double> F(Tensor<double> xi, Tensor<double> wi, Tensor<double> bi)
            => Functional.BatchNorm(xi, rm.Clone(), rv.Clone(), wi, bi, training, 0.1, 1e-5);
        var (_, sm, si) = Functional.BatchNormForward(x, rm.Clone(), rv.Clone(), w, b, training);
        var (gx, gw, gb) = Functional.BatchNormBackward(g, x, w, sm, si, training);
        PoolGradCheck.Check(t => F(t, w, b), x, g, gx, tol: 1e-5);
        PoolGradCheck.Check(t => F(x, t, b), w, g, gw, tol: 1e-5);
        PoolGradCheck.Check(t => F(x, w, t), b, g, gb, tol: 1e-5);
    }

    [Fact]
    public void BackwardWithoutWeightMatchesFiniteDifferences()
    {
        var x = Tensor.Randn<double>(3, 4, 2, 3, 3);
        var g = Tensor.Randn<double>(4, 4, 2, 3, 3);
        var (_, sm, si) = Functional.BatchNormForward(x, null, null, training: true);
        var (gx, _, _) = Functional.BatchNormBackward(g, x, null, sm, si, true);
        PoolGradCheck.Check(t => Functional.BatchNorm(t, null, null, training: true), x, g, gx, tol: 1e-5);
    }

    [Theory]
    [InlineData(new[] { 7, 3 }, true)]
    [InlineData(new[] { 3, 5, 13 }, true)]
    [InlineData(new[] { 2, 4, 7, 9 }, true)]
    [InlineData(new[] { 8, 16, 16, 16 }, true)]  // large enough for the two-core split
    [InlineData(new[] { 2, 3, 3, 5, 7 }, true)]
    [InlineData(new[] { 2, 4, 7, 9 }, false)]
    public void FloatFastPathMatchesReference(int[] shape, bool training)
    {
        int c = shape[1];
        var x = Tensor.Randn<float>(5, shape);
        foreach (ref var v in x.AsSpan()) v = v * 0.5f + 3; // a mean away from zero
        var w = Tensor.Rand<float>(6, [c], 0.5, 1.5); var b = Tensor.Randn<float>(7, c);
        var rm = Tensor.Randn<float>(8, c); var rv = Tensor.Rand<float>(9, [c], 0.5, 1.5);
        var rm2 = rm.Clone(); var rv2 = rv.Clone();
        var (y, sm, si) = Functional.BatchNormForward(x, rm, rv, w, b, training, 0.2);
        var (yr, smr, sir) = BN.ForwardReference(x.Cast<double>(), rm2.Cast<double>(), rv2.Cast<double>(), w.Cast<double>(), b.Cast<double>(), training, 0.2, 1e-5);
        var rmRef = rm2.Cast<double>(); var rvRef = rv2.Cast<double>();
        BN.ForwardReference(x.Cast<double>(), rmRef, rvRef, w.Cast<double>(), b.Cast<double>(), training, 0.2, 1e-5);
        Assert.True(PoolGradCheck.MaxDiff(y, yr.Cast<float>()) < 1e-5);
        Assert.True(PoolGradCheck.MaxDiff(sm, smr.Cast<float>()) < 1e-5);
        Assert.True(PoolGradCheck.MaxDiff(si, sir.Cast<float>()) < 1e-4);
        Assert.True(PoolGradCheck.MaxDiff(rm, rmRef.Cast<float>()) < 1e-5);
        Assert.True(PoolGradCheck.MaxDiff(rv, rvRef.Cast<float>()) < 1e-5);

        var g = Tensor.Randn<float>(10, shape);
        var (gx, gw, gb) = Functional.BatchNormBackward(g, x, w, sm, si, training);
        var (gxr, gwr, gbr) = BN.BackwardReference(g.Cast<double>(), x.Cast<double>(), w.Cast<double>(), sm.Cast<double>(), si.Cast<double>(), training);
        Assert.True(PoolGradCheck.MaxDiff(gx, gxr.Cast<float>()) < 1e-4);
        Assert.True(PoolGradCheck.MaxDiff(gw, gwr.Cast<float>()) < 1e-3);
        Assert.True(PoolGradCheck.MaxDiff(gb, gbr.Cast<float>()) < 1e-3);
    }

    [Fact]
    public void RunningStatisticsFollowPyTorch()
    {
        // one channel, values 1..4: mean 2.5, biased var 1.25, unbiased 5/3
        var x = Tensor.FromArray([1.0, 2, 3, 4], 4, 1);
        var rm = Tensor.FromArray([1.0], 1); var rv = Tensor.FromArray([2.0], 1);
        var y = Functional.BatchNorm(x, rm, rv, training: true, momentum: 0.25, eps: 0);
        Assert.Equal(0.75 * 1 + 0.25 * 2.5, rm[0], 12);
        Assert.Equal(0.75 * 2 + 0.25 * 5.0 / 3, rv[0], 12);
        Assert.Equal(-1.5 / Math.Sqrt(1.25), y[0, 0], 12);
        var e = Functional.BatchNorm(x, rm, rv, eps: 0); // eval: running statistics, not updated
        Assert.Equal((1 - rm[0]) / Math.Sqrt(rv[0]), e[0, 0], 12);
        Assert.Equal(0.75 * 1 + 0.25 * 2.5, rm[0], 12);
    }

    [Fact]
    public void Errors()
    {
        var x = Tensor.Zeros(2, 3, 4, 4);
        var c3 = Tensor.Zeros(3); var c4 = Tensor.Zeros(4);
        void Throws(string p, Action a) => Assert.Equal(p, Assert.Throws<ArgumentException>(a).ParamName);
        Throws("weight", () => Functional.BatchNorm(x, c3, c3.Clone(), c4, c3, true));
        Throws("bias", () => Functional.BatchNorm(x, c3, c3.Clone(), c3, c4, true));
        Throws("runningMean", () => Functional.BatchNorm(x, c4, c3, training: true));
        Throws("runningVar", () => Functional.BatchNorm(x, c3, Tensor.Zeros(3, 1), training: true));
        Throws("runningMean", () => Functional.BatchNorm(x, null, null));         // eval needs running stats
        Throws("runningMean", () => Functional.BatchNorm(x, c3, null, training: true));
        Throws("input", () => Functional.BatchNorm(Tensor.Zeros(3), c3, c3));      // wrong rank
        Throws("input", () => Functional.BatchNorm(Tensor.Zeros(1, 3), c3, c3, training: true)); // one value per channel
        var (_, sm, si) = Functional.BatchNormForward(x, null, null, training: true);
        Throws("gradOutput", () => Functional.BatchNormBackward(Tensor.Zeros(2, 3, 4, 5), x, null, sm, si));
        Throws("saveMean", () => Functional.BatchNormBackward(x, x, null, c4, si));
    }
}
