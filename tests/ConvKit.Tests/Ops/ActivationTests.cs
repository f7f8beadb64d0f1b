using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

public class ActivationTests
{
    public static TheoryData<string> Kinds() => ["relu", "leaky", "relu6", "hardtanh", "sigmoid", "tanh", "silu", "gelu", "gelu_tanh"];

    private static Tensor<T> Fwd<T>(string k, Tensor<T> x) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => k switch
    {
        "relu" => Functional.Relu(x),
        "leaky" => Functional.LeakyRelu(x, 0.1),
        "relu6" => Functional.Relu6(x),
        "hardtanh" => Functional.Hardtanh(x, -0.5, 1.5),
        "sigmoid" => Functional.Sigmoid(x),
        "tanh" => Functional.Tanh(x),
        "silu" => Functional.Silu(x),
        "gelu" => Functional.Gelu(x),
        "gelu_tanh" => Functional.Gelu(x, "tanh"),
        _ => throw new ArgumentException(k),
    };

    private static Tensor<T> Bwd<T>(string k, Tensor<T> g, Tensor<T> x) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => k switch
    {
        "relu" => Functional.ReluBackward(g, Functional.Relu(x)),
        "leaky" => Functional.LeakyReluBackward(g, x, 0.1),
        "relu6" => Functional.Relu6Backward(g, x),
        "hardtanh" => Functional.HardtanhBackward(g, x, -0.5, 1.5),
        "sigmoid" => Functional.SigmoidBackward(g, Functional.Sigmoid(x)),
        "tanh" => Functional.TanhBackward(g, Functional.Tanh(x)),
        "silu" => Functional.SiluBackward(g, x),
        "gelu" => Functional.GeluBackward(g, x),
        "gelu_tanh" => Functional.GeluBackward(g, x, "tanh"),
        _ => throw new ArgumentException(k),
    };

    [Theory, MemberData(nameof(Kinds))]
    public void BackwardMatchesFiniteDifferences(string kind)
    {
        var x = Tensor.Randn<double>(3, 4, 5, 3);
        var s = x.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] *= 3; // reach the clamps of relu6/hardtanh
        for (int i = 0; i < s.Length; i++) // keep away from kinks, where the derivative is one-sided
            if (Math.Abs(s[i]) < 1e-3 || Math.Abs(s[i] - 6) < 1e-3 || Math.Abs(s[i] + 0.5) < 1e-3 || Math.Abs(s[i] - 1.5) < 1e-3) s[i] += 0.01;
        var g = Tensor.Randn<double>(4, 4, 5, 3);
        PoolGradCheck.Check(t => Fwd(kind, t), x, g, Bwd(kind, g, x));
    }

    [Theory, MemberData(nameof(Kinds))]
    public void FloatFastPathMatchesDouble(string kind)
    {
        foreach (int n in new[] { 1, 7, 8, 9, 31, 1000 })
        {
            var xd = Tensor.Randn<double>((ulong)n, n);
            foreach (ref var v in xd.AsSpan()) v *= 4;
            var gd = Tensor.Randn<double>((ulong)n + 99, n);
            var x = xd.Cast<float>(); var g = gd.Cast<float>();
            Assert.True(PoolGradCheck.MaxDiff(Fwd(kind, x), Fwd(kind, x.Cast<double>()).Cast<float>()) < 2e-6, "forward n=" + n);
            Assert.True(PoolGradCheck.MaxDiff(Bwd(kind, g, x), Bwd(kind, g.Cast<double>(), x.Cast<double>()).Cast<float>()) < 1e-5, "backward n=" + n);
        }
    }

    [Fact]
    public void NaNPropagatesLikePyTorch()
    {
        var x = Tensor.FromArray(Enumerable.Repeat(float.NaN, 11).ToArray(), 11);
        foreach (var k in new[] { "relu", "leaky", "relu6", "hardtanh", "sigmoid", "tanh", "silu", "gelu", "gelu_tanh" })
            Assert.All(Fwd(k, x).AsSpan().ToArray(), v => Assert.True(float.IsNaN(v), k));
    }

    [Fact]
    public void InplaceOverwritesInput()
    {
        var x = Tensor.FromArray([-1f, 2, -3, 7], 4);
        var y = Functional.Relu6(x, inplace: true);
        Assert.Same(x, y);
        Assert.Equal([0f, 2, 0, 6], x.AsSpan().ToArray());
        var z = Tensor.FromArray([-1f, 2], 2);
        Functional.Silu(z, inplace: true);
        Assert.Equal(-1 / (1 + Math.Exp(1)), z[0], 6);
    }

    [Fact]
    public void ErfIsAccurate()
    {
        // reference values of erf
        Assert.True(Math.Abs(0.8427007929497149 - Activations.Erf(1)) < 1e-14);
        Assert.True(Math.Abs(0.9953222650189527 - Activations.Erf(2)) < 1e-14);
        Assert.True(Math.Abs(-0.5204998778130465 - Activations.Erf(-0.5)) < 1e-14);
        Assert.True(Math.Abs(0.9999999845827421 - Activations.Erf(4)) < 1e-14);
        Assert.Equal(1.0, Activations.Erf(7));
    }

    [Fact]
    public void Errors()
    {
        var x = Tensor.Zeros(2, 3);
        var e = Assert.Throws<ArgumentException>(() => Functional.ReluBackward(Tensor.Zeros(3, 2), x));
        Assert.Equal("gradOutput", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => Functional.Gelu(x, "fast"));
        Assert.Equal("approximate", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => Functional.Hardtanh(x, 2, 1));
        Assert.Equal("minVal", e.ParamName);
        Assert.Throws<ArgumentNullException>(() => Functional.Relu<float>(null!));
    }
}
