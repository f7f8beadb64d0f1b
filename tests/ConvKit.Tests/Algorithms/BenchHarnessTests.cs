using System.Text.Json;
using ConvKit.Bench;
using Xunit;

namespace ConvKit.Tests.Algorithms;

[Collection(EngineSettingsCollection.Name)]
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
    public void ServeTimesRequestedPassesAndRefusesUnknownOnes()
    {
        string path = Path.Combine(Path.GetTempPath(), $"convkit-serve-{Environment.ProcessId}.json");
        File.WriteAllText(path, """[{"name":"tiny","n":1,"c":2,"h":5,"w":5,"k":3,"r":3,"s":3,"stride":1,"pad":1,"dil":1,"groups":1}]""");
        try
        {
            int saved = ConvKit.Algorithms.ConvEngine.MaxThreads;
            var output = new StringWriter();
            var input = new StringReader("tiny bwd-w\nnope fwd\ntiny sideways\ndcgan.convT4x4s2 bwd-data\n\ntiny fwd\n");
            Assert.Equal(0, BenchHarness.Serve(1, path, input, output));
            var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
            // the empty line ends the session: the request after it is not answered
            Assert.Equal(5, lines.Length);
            Assert.Equal("ready", lines[0]);
            Assert.True(double.Parse(lines[1], System.Globalization.CultureInfo.InvariantCulture) > 0);
            Assert.StartsWith("error: expected 'NAME PASS'", lines[2]);
            Assert.StartsWith("error: no pass 'sideways'", lines[3]);
            Assert.StartsWith("error: no pass 'bwd-data' for dcgan", lines[4]);
            Assert.Equal(saved, ConvKit.Algorithms.ConvEngine.MaxThreads);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void QuickRunOfOneLayerProducesFiniteRates()
    {
        var results = BenchHarness.Run(new BenchOptions { Threads = 1, Quick = true, Layers = ["mnist.lenet.5x5"] });
        var r = Assert.Single(results);
        Assert.True(r.FwdMs > 0 && r.BwdDataMs > 0 && r.BwdWMs > 0);
    }

    [Fact]
    public void FindPlansEveryPassByMeasurement()
    {
        // a layer of its own (Find replaces the planner's cached choice for its shape)
        string path = Path.Combine(Path.GetTempPath(), $"convkit-find-{Environment.ProcessId}.json");
        File.WriteAllText(path, """[{"name":"odd","n":1,"c":12,"h":11,"w":13,"k":20,"r":3,"s":3,"stride":1,"pad":1,"dil":1,"groups":1}]""");
        try
        {
            var r = Assert.Single(BenchHarness.Run(new BenchOptions { Threads = 1, Quick = true, LayersPath = path, Algorithm = BenchOptions.FindAll, Layers = ["odd"] }));
            var d = ConvKit.Descriptors.ConvDescriptor.Create(2, [1, 12, 11, 13], [20, 12, 3, 3], true, 1, 1).Core;
            Assert.Equal(ConvKit.Algorithms.ConvPlanner.Choose(d, ConvKit.Algorithms.ConvDirection.Forward), r.FwdAlgo);
            Assert.Equal(ConvKit.Algorithms.ConvPlanner.Choose(d, ConvKit.Algorithms.ConvDirection.BackwardData), r.BwdDataAlgo);
            Assert.True(r.FwdMs > 0 && r.BwdDataMs > 0 && r.BwdWMs > 0);
        }
        finally { File.Delete(path); }
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

    [Fact]
    public void CompareAlternatesTwoPlansAndNamesTheirRatio()
    {
        var lenet = BenchHarness.LoadLayers().Single(l => l.Name == "mnist.lenet.5x5");
        string line = BenchHarness.Compare(lenet, ConvKit.Algorithms.ConvDirection.BackwardWeight, "auto", "im2col_gemm", 1, 0.05);
        var d = ConvKit.Descriptors.ConvDescriptor.Create(2, [lenet.N, lenet.C, lenet.H, lenet.W], [lenet.K, lenet.C, lenet.R, lenet.S], true, 1, lenet.Pad);
        Assert.Contains($"auto ({ConvKit.Algorithms.ConvPlanner.Choose(d.Core, ConvKit.Algorithms.ConvDirection.BackwardWeight)})", line);
        Assert.Contains("auto / im2col_gemm time", line);
        var strided = BenchHarness.LoadLayers().Single(l => l.Name == "resnet50.conv1");
        var ex = Assert.Throws<ArgumentException>(() => BenchHarness.Compare(strided, ConvKit.Algorithms.ConvDirection.Forward, "auto", "winograd_f2x2_3x3", 1, 0.05));
        Assert.Equal("compare", ex.ParamName);
    }

    [Fact]
    public void CompareCommandRejectsBadArgumentsAndSkipsDeclinedLayers()
    {
        Assert.Equal("compare", Assert.Throws<ArgumentException>(() => BenchHarness.CompareCli("auto", "fwd", null, null, 1, 0.01, TextWriter.Null)).ParamName);
        Assert.Equal("pass", Assert.Throws<ArgumentException>(() => BenchHarness.CompareCli("auto,im2col_gemm", "back", null, null, 1, 0.01, TextWriter.Null)).ParamName);
        Assert.Equal("layers", Assert.Throws<ArgumentException>(() => BenchHarness.CompareCli("auto,im2col_gemm", "fwd", "nope", null, 1, 0.01, TextWriter.Null)).ParamName);
        var output = new StringWriter();
        Assert.Equal(0, BenchHarness.CompareCli("auto,winograd_f2x2_3x3", "fwd", "resnet50.conv1", null, 1, 0.01, output));
        Assert.StartsWith("resnet50.conv1: skipped", output.ToString());
    }
}
