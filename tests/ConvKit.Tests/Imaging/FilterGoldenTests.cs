using System.Text.Json;
using ConvKit.Imaging;
using ConvKit.IO;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Imaging;

/// <summary>Filters photo crops like OpenCV (filter2D, Sobel, Scharr, GaussianBlur, Laplacian) in every border mode.</summary>
[Collection(FilterPaths.Name)]
public class FilterGoldenTests
{
    private static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "images");

    public static IEnumerable<object[]> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "filters.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            yield return [c.GetProperty("name").GetString()!];
    }

    private static (Tensor<float> Input, FilterSpec Filter, BorderMode Border, bool Conv, Tensor<float> Expected) Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "filters.json")));
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var kernel = c.GetProperty("kernel").GetString()!;
        if (kernel.EndsWith(".npy", StringComparison.Ordinal)) kernel = Path.Combine(Dir, kernel);
        return (Npy.ReadTensor<float>(Path.Combine(Dir, c.GetProperty("input").GetString()!)), Filters.Parse(kernel),
            Filter2D.ParseBorder(c.GetProperty("border").GetString()!), c.GetProperty("conv").GetBoolean(),
            Npy.ReadTensor<float>(Path.Combine(Dir, c.GetProperty("expected").GetString()!)));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesOpenCv(string name)
    {
        var (x, f, border, conv, expected) = Load(name);
        foreach (var path in FilterPaths.Each())
        {
            var y = f.Apply(x, border, 0f, conv);
            Assert.Equal(expected.ShapeArray(), y.ShapeArray());
            AssertClose(expected, y, 1e-4, $"{name} ({path})");
        }
        // The plain-loop reference agrees as well (single-kernel filters).
        if (f.KernelY is null) AssertClose(expected, Filter2D.Reference(x, f.Kernel, border, 0f, conv), 1e-4, name + " (reference)");
    }

    internal static void AssertClose(Tensor<float> expected, Tensor<float> actual, double atol, string what)
    {
        Assert.Equal(expected.ShapeArray(), actual.ShapeArray());
        var e = expected.AsSpan(); var a = actual.AsSpan();
        for (int i = 0; i < e.Length; i++)
            if (!(Math.Abs(e[i] - a[i]) <= atol))
                Assert.Fail($"{what}: element {i} is {a[i]}, expected {e[i]} (|diff| {Math.Abs(e[i] - a[i]):G3} > {atol}).");
    }
}
