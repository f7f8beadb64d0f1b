using ConvKit.IO;
using Xunit;

namespace ConvKit.Tests.Golden;

/// <summary>Every case of Fixtures/conv/cases.json (written by tools/fixtures/gen_conv.py from PyTorch) through the
/// op registry, in float32 (the engine) and float64 (the reference).</summary>
public class ConvGoldenTests
{
    internal static readonly string CasesPath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "conv", "cases.json");
    private static readonly Lazy<Dictionary<string, OpCase>> Cases = new(() => OpCases.Load(CasesPath).ToDictionary(c => c.Name));

    public static TheoryData<string> Names()
    {
        var d = new TheoryData<string>();
        foreach (var n in Cases.Value.Keys) d.Add(n);
        return d;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Float32(string name)
    {
        var r = OpCases.RunAndCheck<float>(Cases.Value[name], writeOutputs: false);
        Assert.True(r.Ok, $"{name}: {r.Message}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Float64(string name)
    {
        var r = OpCases.RunAndCheck<double>(Cases.Value[name], writeOutputs: false);
        Assert.True(r.Ok, $"{name}: {r.Message}");
    }

    [Fact]
    public void FixtureCoversTheWholeFamily()
    {
        var ops = Cases.Value.Values.Select(c => c.Op).ToHashSet();
        foreach (var r in new[] { 1, 2, 3 })
        {
            Assert.Contains($"conv{r}d", ops);
            Assert.Contains($"grad.conv{r}d_input", ops);
            Assert.Contains($"grad.conv{r}d_weight", ops);
            Assert.Contains($"conv_transpose{r}d", ops);
            Assert.Contains($"grad.conv_transpose{r}d_input", ops);
            Assert.Contains($"grad.conv_transpose{r}d_weight", ops);
        }
        Assert.Contains("grad.conv_bias", ops);
        Assert.True(Cases.Value.Count >= 150, $"{Cases.Value.Count} cases");
    }
}
