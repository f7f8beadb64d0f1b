using ConvKit.IO;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

/// <summary>Helpers shared by the ops-b tests: golden case lookup and central finite differences in double.</summary>
internal static class OpsBSupport
{
    public static string CasesPath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "opsb", "cases.json");

    private static readonly Lazy<List<OpCase>> All = new(() => OpCases.Load(CasesPath));

    public static TheoryData<string> Names(Func<string, bool> opFilter)
    {
        var d = new TheoryData<string>();
        foreach (var c in All.Value.Where(c => opFilter(c.Op))) d.Add(c.Name);
        return d;
    }

    public static OpCase Case(string name) => All.Value.Single(c => c.Name == name);

    public static void AssertGolden<T>(string name) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var r = OpCases.RunAndCheck<T>(Case(name), writeOutputs: false);
        Assert.True(r.Ok, $"{name} ({typeof(T).Name}): {r.Message}");
    }

    /// <summary>Checks <paramref name="analytic"/> = ∂L/∂x by central differences, where L = loss() and x is perturbed in place.</summary>
    public static void CheckGradient(Tensor<double> x, Tensor<double> analytic, Func<double> loss, double eps = 1e-6, double tol = 1e-6, string what = "")
    {
        Assert.Equal(x.ShapeArray(), analytic.ShapeArray());
        var s = x.AsSpan();
        for (int i = 0; i < x.Length; i++)
        {
            double old = x.Data[x.Offset + i];
            x.Data[x.Offset + i] = old + eps;
            double lp = loss();
            x.Data[x.Offset + i] = old - eps;
            double lm = loss();
            x.Data[x.Offset + i] = old;
            double fd = (lp - lm) / (2 * eps);
            double an = analytic.Data[analytic.Offset + i];
            Assert.True(Math.Abs(fd - an) <= tol * (1 + Math.Abs(fd)), $"{what}[{i}]: finite difference {fd:G10}, analytic {an:G10}");
        }
    }

    /// <summary>Σ a·b.</summary>
    public static double Dot(Tensor<double> a, Tensor<double> b)
    {
        Assert.Equal(a.ShapeArray(), b.ShapeArray());
        double acc = 0;
        var x = a.AsSpan(); var y = b.AsSpan();
        for (int i = 0; i < x.Length; i++) acc += x[i] * y[i];
        return acc;
    }

    public static void AssertClose<T>(Tensor<T> expected, Tensor<T> actual, double tol) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.ShapeArray(), actual.ShapeArray());
        var e = expected.AsSpan(); var a = actual.AsSpan();
        for (int i = 0; i < e.Length; i++)
        {
            double ev = double.CreateTruncating(e[i]), av = double.CreateTruncating(a[i]);
            Assert.True(Math.Abs(ev - av) <= tol * (1 + Math.Abs(ev)), $"[{i}]: expected {ev:G9}, got {av:G9}");
        }
    }
}
