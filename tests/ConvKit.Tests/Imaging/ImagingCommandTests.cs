using ConvKit.Imaging;
using ConvKit.IO;
using ConvKit.Tensors;
using ConvKit.Tests.Cli;
using Xunit;

namespace ConvKit.Tests.Imaging;

/// <summary>`convkit filter`, `explain` and `features` end to end through the CLI command classes.</summary>
[Collection("CLI console output")]
public sealed class ImagingCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "convkit-img-" + Guid.NewGuid().ToString("N"));
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "images");

    public ImagingCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Output) Run(string command, params string[] args)
    {
        var old = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        try { return (OpCommandTests.RunCommand(command, args), sw.ToString()); }
        finally { Console.SetOut(old); }
    }

    [Fact]
    public void FilterWritesThePngAndTheFloatResult()
    {
        var input = Path.Combine(Fixtures, "cv_rgb8.png");
        var png = Path.Combine(_dir, "out.png");
        var npy = Path.Combine(_dir, "out.npy");
        Assert.Equal(0, Run("FilterCommand", input, "-k", "sobel-x", "--border", "replicate", "-o", png).Code);
        Assert.Equal(0, Run("FilterCommand", input, "-k", "sobel-x", "--border", "replicate", "--signed", "-o", npy).Code);
        var x = Image.Load(input).ToTensor();
        var expected = Filters.Parse("sobel-x").Apply(x, BorderMode.Replicate);
        FilterGoldenTests.AssertClose(expected, Npy.ReadTensor<float>(npy), 1e-6, "npy");
        // The PNG holds |response| clamped to [0, 1] in 8 bits (edge kernels default to --abs).
        var abs = expected.Clone();
        var s = abs.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = Math.Abs(s[i]);
        Assert.Equal(Image.FromTensor(abs).Data, Image.Load(png).Data);
    }

    [Fact]
    public void FilterBatchModeFiltersEveryImage()
    {
        var inDir = Path.Combine(_dir, "in");
        Directory.CreateDirectory(inDir);
        foreach (var f in new[] { "cv_rgb8.png", "cv_gray16.png", "cv_gray8.pgm" }) File.Copy(Path.Combine(Fixtures, f), Path.Combine(inDir, f));
        File.WriteAllText(Path.Combine(inDir, "notes.txt"), "skipped");
        var outDir = Path.Combine(_dir, "out");
        var (code, output) = Run("FilterCommand", inDir, "-k", "gaussian:3", "--gray", "-o", outDir);
        Assert.Equal(0, code);
        Assert.Contains("3 of 3 images", output);
        Assert.Equal(3, Directory.GetFiles(outDir).Length);
        Assert.Equal(1, Image.Load(Path.Combine(outDir, "cv_rgb8.png")).Channels);
    }

    [Fact]
    public void FilterRefusesBadOptions()
    {
        var input = Path.Combine(Fixtures, "cv_rgb8.png");
        Assert.Throws<ArgumentException>(() => Run("FilterCommand", input, "-k", "box:4", "-o", Path.Combine(_dir, "o.png")));
        Assert.Throws<ArgumentException>(() => Run("FilterCommand", input, "-k", "edge", "--border", "mirror", "-o", Path.Combine(_dir, "o.png")));
        Assert.Throws<ArgumentException>(() => Run("FilterCommand", input, "-k", "edge", "--bogus", "-o", Path.Combine(_dir, "o.png")));
        var bad = Path.Combine(_dir, "bad.png");
        File.WriteAllBytes(bad, File.ReadAllBytes(input)[..60]);
        Assert.Throws<InvalidDataException>(() => Run("FilterCommand", bad, "-k", "edge", "-o", Path.Combine(_dir, "o.png")));
    }

    [Fact]
    public void ExplainPrintsTheStepsAndWritesSvg()
    {
        var svg = Path.Combine(_dir, "e.svg");
        var (code, output) = Run("ExplainCommand", "--input", "5", "--kernel", "[[1,0],[0,-1]]", "--stride", "2", "--padding", "1", "--svg", svg);
        Assert.Equal(0, code);
        Assert.Contains("C is 9x25", output);
        Assert.Contains("Functional.ConvTranspose2d", output);
        Assert.Contains("largest difference", output);
        System.Xml.Linq.XDocument.Load(svg);
    }

    [Fact]
    public void FeaturesRendersNpyWeights()
    {
        var w1 = Path.Combine(_dir, "w1.npy");
        var w2 = Path.Combine(_dir, "w2.npy");
        Npy.Write(w1, Tensor.Randn<float>(1, 4, 3, 3, 3));
        Npy.Write(Path.Combine(_dir, "w1.bias.npy"), Tensor.Randn<float>(2, 4));
        Npy.Write(w2, Tensor.Randn<float>(3, 2, 4, 3, 3));
        var grid = Path.Combine(_dir, "grid.png");
        var (code, output) = Run("FeaturesCommand", $"{w1},{w2}", Path.Combine(Fixtures, "cv_rgb8.png"), "-o", grid, "--size", "24x32", "--tile", "32");
        Assert.Equal(0, code);
        Assert.Contains("2 conv layer(s), 4 first-layer kernels", output);
        var img = Image.Load(grid);
        Assert.Equal(3, img.Channels);
        Assert.True(img.Width >= 8 * 38);
    }
}
