using System.Text.Json;
using ConvKit.Bench;
using Xunit;

namespace ConvKit.Tests.Algorithms;

public class BenchHarnessTests
{
    [Fact]
    public void JsonUsesThePeerScriptFieldNames()
    {
        var r = new BenchResult("x", 2, 0.5, 1, 2, 4, "a", "b", "c", false);
        using var doc = JsonDocument.Parse(BenchHarness.ToJson(r));
        Assert.Equal(["name", "threads", "gflop", "fwd_ms", "fwd_gflops", "bwd_data_ms", "bwd_data_gflops", "bwd_w_ms", "bwd_w_gflops"],
            doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(500.0, doc.RootElement.GetProperty("fwd_gflops").GetDouble(), 6);
        var extra = new BenchResult("dcgan.convT4x4s2", 1, 0.5, 1, double.NaN, double.NaN, "a", "", "", true);
        using var doc2 = JsonDocument.Parse(BenchHarness.ToJson(extra));
        Assert.Equal(["name", "threads", "fwd_ms", "fwd_gflops"], doc2.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
    }

    [Fact]
    public void SuiteLoadsAndUnknownLayersAreRejected()
    {
        Assert.Equal(14, BenchHarness.LoadLayers().Count);
        var ex = Assert.Throws<ArgumentException>(() => BenchHarness.Validate(new BenchOptions { Layers = ["nope"] }));
        Assert.Equal("layers", ex.ParamName);
    }

    [Fact]
    public void QuickRunOfOneLayerProducesFiniteRates()
    {
        var results = BenchHarness.Run(new BenchOptions { Threads = 1, Quick = true, Layers = ["mnist.lenet.5x5"] });
        var r = Assert.Single(results);
        Assert.True(r.FwdMs > 0 && r.BwdDataMs > 0 && r.BwdWMs > 0);
    }

    [Fact]
    public void PeakProbeAndTableRowQuoteAPositivePeak()
    {
        // a rate, not a speed assertion: the probe ran and the row prints a percentage of it
        double peak = PeakProbe.Measure(1, wide: false);
        Assert.True(peak > 0 && double.IsFinite(peak), $"peak {peak}");
        var row = BenchHarness.TableRow(new BenchResult("x", 1, 1.0, 10, 20, 40, "a", "b", "c", false), 200);
        Assert.Contains("  50%", row);
    }
}
