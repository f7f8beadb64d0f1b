using Xunit;

namespace ConvKit.Tests.Cli;

[CollectionDefinition("CLI console output", DisableParallelization = true)]
public sealed class CliConsoleCollection;

/// <summary>`convkit info` through the CLI's InfoCommand, capturing what it prints.</summary>
[Collection("CLI console output")]
public class InfoCommandTests
{
    private static (int Code, string Output) Run(params string[] args)
    {
        var old = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        try { return (OpCommandTests.RunCommand("InfoCommand", args), sw.ToString()); }
        finally { Console.SetOut(old); }
    }

    [Fact]
    public void ResNet18PrintsParametersAndMacs()
    {
        var (code, output) = Run("--model", "resnet18");
        Assert.Equal(0, code);
        Assert.Contains("11,689,512 (11.69M)", output);
        Assert.Contains("1.81G MACs", output);
        Assert.Contains("3.63G FLOPs", output);
        Assert.Contains("512x7x7", output);
    }

    [Fact]
    public void InlineSpecAndFile()
    {
        var (code, output) = Run("--spec", "input 1x28x28; conv 8 k3; conv 8 k3; conv 8 k3 d2");
        Assert.Equal(0, code);
        Assert.Contains("8x26x26", output);
        Assert.Contains("8x20x20", output);
        Assert.Contains("Total parameters: 1,248", output); // 8·9+8 + 2·(8·8·9+8)
        var path = Path.Combine(Path.GetTempPath(), "convkit-info-" + Guid.NewGuid().ToString("N") + ".json");
        try
        {
            File.WriteAllText(path, """{"input": [3, 32, 32], "layers": [{"type": "conv", "out": 4, "kernel": 3}, "gap", "fc 2"]}""");
            var (c2, o2) = Run(path, "--input", "3x16x16");
            Assert.Equal(0, c2);
            Assert.Contains("4x14x14", o2);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void UsageAndErrors()
    {
        Assert.Equal(2, Run().Code);
        Assert.Equal(0, Run("--help").Code);
        Assert.Contains("resnet18", Run("--list").Output);
        var e = Assert.ThrowsAny<ArgumentException>(() => Run("--spec", "input 3x8x8; conv 8 k9"));
        Assert.Contains("layer 1", e.Message);
        Assert.ThrowsAny<ArgumentException>(() => Run("--model", "resnet18", "--bogus", "1"));
    }
}
