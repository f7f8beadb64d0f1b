using System.Text.Json;
using ConvKit.Tests.Cli;
using Xunit;

namespace ConvKit.Tests.Nn;

/// <summary>convkit train / eval / predict end to end on a small slice of the embedded digits.</summary>
[Collection("Console")]
public class TrainCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "convkit-train-" + Guid.NewGuid().ToString("N"));

    public TrainCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Output) Run(string command, params string[] args)
    {
        var old = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        try { return (OpCommandTests.RunCommand(command, args), sw.ToString()); }
        finally { Console.SetOut(old); }
    }

    [Fact]
    public void TrainSavesEvalAndPredictReload()
    {
        string model = Path.Combine(_dir, "m.safetensors"), plot = Path.Combine(_dir, "c.svg");
        var (code, output) = Run("TrainCommand", "--epochs", "2", "--limit", "600", "--save", model, "--plot", plot, "--json");
        Assert.Equal(0, code);
        var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal("digits", json.GetProperty("dataset").GetString());
        Assert.Equal("digits-cnn", json.GetProperty("model").GetString());
        Assert.Equal(2, json.GetProperty("epochs").GetInt32());
        double acc = json.GetProperty("test_accuracy").GetDouble();
        Assert.InRange(acc, 0.8, 1.0);
        Assert.True(json.GetProperty("seconds_per_epoch").GetDouble() > 0);
        Assert.StartsWith("<svg", File.ReadAllText(plot));

        (code, output) = Run("EvalCommand", "--model", model, "--json");
        Assert.Equal(0, code);
        Assert.Equal(acc, JsonDocument.Parse(output.Trim()).RootElement.GetProperty("test_accuracy").GetDouble(), 6);

        var npy = Path.Combine(_dir, "x.npy");
        var (_, test) = ConvKit.Data.Datasets.Digits();
        ConvKit.IO.Npy.Write(npy, test.Sample(0).Reshape(8, 8));
        (code, output) = Run("PredictCommand", npy, "--model", model, "--json");
        Assert.Equal(0, code);
        var p = JsonDocument.Parse(output.Trim()).RootElement;
        Assert.InRange(p.GetProperty("class").GetInt32(), 0, 9);
        Assert.InRange(p.GetProperty("probability").GetDouble(), 0.1, 1.0);

        // The same image as PNG (8-bit, through the library's codec) gets the same class.
        var png = Path.Combine(_dir, "x.png");
        ConvKit.Imaging.Image.FromTensor(test.Sample(0)).Save(png);
        (code, output) = Run("PredictCommand", png, "--model", model, "--json");
        Assert.Equal(0, code);
        Assert.Equal(p.GetProperty("class").GetInt32(), JsonDocument.Parse(output.Trim()).RootElement.GetProperty("class").GetInt32());
    }

    [Fact]
    public void TextOutputHasSummaryAndConfusionMatrix()
    {
        var (code, output) = Run("TrainCommand", "--epochs", "1", "--limit", "300", "--plot", Path.Combine(_dir, "p.svg"));
        Assert.Equal(0, code);
        Assert.Contains("confusion matrix", output);
        Assert.Contains("test accuracy", output);
    }

    [Fact]
    public void BadArgumentsAndFilesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Run("TrainCommand", "--model", "nope", "--epochs", "1"));
        Assert.Throws<ArgumentException>(() => Run("TrainCommand", "--dataset", "cifar"));
        Assert.Throws<ArgumentException>(() => Run("TrainCommand", "--epochs", "0"));
        var bad = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(bad, [1, 2, 3]);
        Assert.Throws<InvalidDataException>(() => Run("EvalCommand", "--model", bad));
        Assert.Throws<FileNotFoundException>(() => Run("EvalCommand", "--model", Path.Combine(_dir, "missing.safetensors")));
    }
}
