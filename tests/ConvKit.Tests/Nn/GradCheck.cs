using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Nn;

/// <summary>Central finite differences in double against the tape's gradients.</summary>
internal static class GradCheck
{
    /// <summary>
    /// Checks ∂loss/∂v for every variable in <paramref name="vars"/> (at most <paramref name="maxPerVar"/> entries each,
    /// spread over the tensor). <paramref name="loss"/> must rebuild the graph from the variables' current data.
    /// </summary>
    public static void Check(Func<Variable<double>> loss, IReadOnlyList<Variable<double>> vars, double h = 1e-6, double tol = 1e-6, int maxPerVar = 40)
    {
        foreach (var v in vars) v.Grad = null;
        var l = loss();
        l.Backward();
        foreach (var v in vars)
        {
            Assert.NotNull(v.Grad);
            var g = v.Grad!.AsSpan().ToArray();
            var d = v.Data.AsSpan();
            int step = Math.Max(1, d.Length / maxPerVar);
            for (int i = 0; i < d.Length; i += step)
            {
                double orig = d[i];
                d[i] = orig + h; double lp = Value(loss);
                d[i] = orig - h; double lm = Value(loss);
                d[i] = orig;
                double fd = (lp - lm) / (2 * h);
                double err = Math.Abs(fd - g[i]);
                Assert.True(err <= tol * (1 + Math.Abs(fd)), $"entry {i} of {ShapeMath.Format(v.Shape)}: autograd {g[i]:G10}, finite difference {fd:G10}");
            }
        }
    }

    private static double Value(Func<Variable<double>> loss)
    {
        using (Autograd.NoGrad()) return loss().Data.AsSpan()[0];
    }

    /// <summary>A weighted sum of all outputs as a scalar loss (random fixed weights catch transposed indices).</summary>
    public static Variable<double> WeightedSum(Variable<double> y, ulong seed = 99)
    {
        var w = Tensor.Randn<double>(seed, y.Data.ShapeArray());
        // Σ w·y via MSE identity would be indirect; use a linear layer on the flattened output instead.
        var flat = Autograd.Reshape(y, 1, -1);
        var wv = new Variable<double>(w.Reshape(1, -1));
        return Autograd.Linear(flat, wv);
    }
}
