using System.Reflection;
using System.Text.Json.Nodes;
using ConvKit.Cli;
using ConvKit.IO;
using Xunit;

namespace ConvKit.Tests.Cli;

/// <summary>`convkit op` end to end on a temporary copy of the conv fixtures, through the CLI's OpCommand.</summary>
[Collection("CLI console output")]
public sealed class OpCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "convkit-op-" + Guid.NewGuid().ToString("N"));

    public OpCommandTests()
    {
        Directory.CreateDirectory(_dir);
        File.Copy(Golden.ConvGoldenTests.CasesPath, Path.Combine(_dir, "cases.json"));
    }

    /// <summary>Copies the fixture's .npy files, and keeps only every <paramref name="every"/>-th case.</summary>
    private void CopyFixtures(int every = 1)
    {
        var src = Path.GetDirectoryName(Golden.ConvGoldenTests.CasesPath)!;
        foreach (var f in Directory.GetFiles(src, "*.npy")) File.Copy(f, Path.Combine(_dir, Path.GetFileName(f)));
        if (every == 1) return;
        var root = JsonNode.Parse(File.ReadAllText(Json))!;
        var kept = new JsonArray(root["cases"]!.AsArray().Where((_, i) => i % every == 0).Select(c => c!.DeepClone()).ToArray());
        root["cases"] = kept;
        File.WriteAllText(Json, root.ToJsonString());
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>OpCommand is internal to the CLI assembly; it is reached the way Program.cs dispatches it.</summary>
    internal static int RunCommand(string command, params string[] args)
    {
        var type = typeof(CliArgs).Assembly.GetType($"ConvKit.Cli.Commands.{command}", throwOnError: true)!;
        var run = type.GetMethod("Run", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;
        try { return (int)run.Invoke(null, [new CliArgs(args)])!; }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    private string Json => Path.Combine(_dir, "cases.json");

    [Fact]
    public void RunsEveryCaseWritesOutputsAndPasses()
    {
        CopyFixtures();
        Assert.Equal(0, RunCommand("OpCommand", Json));
        var cases = OpCases.Load(Json);
        foreach (var c in cases)
        {
            var got = Npy.Read(Path.Combine(_dir, c.Outputs[0]));
            var exp = Npy.Read(Path.Combine(_dir, c.Expected[0]));
            Assert.Equal(exp.Shape, got.Shape);
            Assert.Equal("f4", got.DType);
        }
    }

    [Fact]
    public void DoublePathWritesFloat64()
    {
        CopyFixtures(every: 10);
        Assert.Equal(0, RunCommand("OpCommand", Json, "--double"));
        var c = OpCases.Load(Json)[0];
        Assert.Equal("f8", Npy.Read(Path.Combine(_dir, c.Outputs[0])).DType);
    }

    [Fact]
    public void WrongExpectedValueFailsWithExitCode1()
    {
        CopyFixtures();
        var root = JsonNode.Parse(File.ReadAllText(Json))!;
        var first = root["cases"]!.AsArray()[0]!;
        // Point the first case's expectation at another tensor of a different case: the check must fail.
        first["expected"] = new JsonArray(root["cases"]!.AsArray()[1]!["expected"]![0]!.GetValue<string>());
        root["cases"] = new JsonArray(first.DeepClone());
        File.WriteAllText(Json, root.ToJsonString());
        Assert.Equal(1, RunCommand("OpCommand", Json));
    }

    [Fact]
    public void UnknownOperatorIsReportedAsAFailedCase()
    {
        File.WriteAllText(Json, """{"cases": [{"name": "bad", "op": "conv4d", "inputs": {}, "attrs": {}, "outputs": ["o.npy"]}]}""");
        var c = OpCases.Load(Json)[0];
        var r = OpCases.RunAndCheck<float>(c, writeOutputs: false);
        Assert.False(r.Ok);
        Assert.Contains("conv4d", r.Message);
        Assert.Equal(1, RunCommand("OpCommand", Json));
    }

    [Fact]
    public void MalformedCaseFileIsInvalidData()
    {
        File.WriteAllText(Json, """{"cases": [{"name": "x"}]}""");
        var e = Assert.Throws<InvalidDataException>(() => RunCommand("OpCommand", Json));
        Assert.Contains("op", e.Message);
        File.WriteAllText(Json, "{ not json");
        Assert.Throws<InvalidDataException>(() => RunCommand("OpCommand", Json));
    }
}
