using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

/// <summary>Central finite differences in double for the gradient tests of pooling, batch norm and activations.</summary>
internal static class PoolGradCheck
{
    /// <summary>Checks <paramref name="analytic"/> = d(Σ g·f(x))/dx by central differences at every element of x.</summary>
    public static void Check(Func<Tensor<double>, Tensor<double>> f, Tensor<double> x, Tensor<double> g, Tensor<double> analytic,
        double eps = 1e-6, double tol = 1e-6)
    {
        Assert.Equal(x.ShapeArray(), analytic.ShapeArray());
        var xs = x.AsSpan();
        var a = analytic.AsSpan();
        for (int i = 0; i < xs.Length; i++)
        {
            double keep = xs[i];
            xs[i] = keep + eps; double lp = Dot(f(x), g);
            xs[i] = keep - eps; double lm = Dot(f(x), g);
            xs[i] = keep;
            double num = (lp - lm) / (2 * eps);
            Assert.True(Math.Abs(num - a[i]) <= tol * (1 + Math.Abs(num)), $"element {i}: numeric {num:G10}, analytic {a[i]:G10}");
        }
    }

    public static double Dot(Tensor<double> y, Tensor<double> g)
    {
        Assert.Equal(g.ShapeArray(), y.ShapeArray());
        var ys = y.AsSpan(); var gs = g.AsSpan();
        double s = 0;
        for (int i = 0; i < ys.Length; i++) s += ys[i] * gs[i];
        return s;
    }

    /// <summary>Largest |a − b| over two float tensors of the same shape.</summary>
    public static double MaxDiff(Tensor<float> a, Tensor<float> b)
    {
        Assert.Equal(a.ShapeArray(), b.ShapeArray());
        double m = 0;
        var x = a.AsSpan(); var y = b.AsSpan();
        for (int i = 0; i < x.Length; i++)
        {
            if (float.IsNaN(x[i]) || float.IsNaN(y[i])) { Assert.True(float.IsNaN(x[i]) && float.IsNaN(y[i]), $"NaN mismatch at {i}"); continue; }
            m = Math.Max(m, Math.Abs(x[i] - y[i]));
        }
        return m;
    }
}
