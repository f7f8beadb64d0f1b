using ConvKit.Data;
using Xunit;

namespace ConvKit.Tests.Data;

public class DataTests
{
    [Fact]
    public void DigitsSplitIsStratifiedSeededAndDisjoint()
    {
        var (train, test) = Datasets.Digits(seed: 0);
        Assert.Equal(1797, train.Count + test.Count);
        Assert.InRange(test.Count, 355, 365);
        Assert.Equal((1, 8, 8, 10), (train.Channels, train.Height, train.Width, train.Classes));
        Assert.All(train.Images, v => Assert.InRange(v, 0f, 1f));
        for (int c = 0; c < 10; c++)
        {
            int nTest = test.Labels.Count(l => l == c), nAll = nTest + train.Labels.Count(l => l == c);
            Assert.InRange(nTest, (int)Math.Floor(nAll * 0.2) - 1, (int)Math.Ceiling(nAll * 0.2) + 1);
        }
        var (train2, test2) = Datasets.Digits(seed: 0);
        Assert.Equal(test.Images, test2.Images);
        var (_, test3) = Datasets.Digits(seed: 1);
        Assert.NotEqual(test.Images, test3.Images);
    }

    [Fact]
    public void LoaderShufflesPerEpochAndNormalizes()
    {
        var (train, _) = Datasets.Digits();
        var small = train.Take(10);
        var loader = new DataLoader<double>(small, 4, shuffle: true, seed: 3, mean: 0.5f, std: 0.25f);
        Assert.Equal(3, loader.BatchCount);
        var e1 = loader.Epoch().SelectMany(b => b.Labels.ToArray()).ToArray();
        var sizes = loader.Epoch().Select(b => b.Images.Size(0)).ToArray();
        Assert.Equal([4, 4, 2], sizes);
        Assert.Equal(small.Labels.OrderBy(x => x), e1.OrderBy(x => x));
        var plain = new DataLoader<double>(small, 10, mean: 0.5f, std: 0.25f).Epoch().First();
        Assert.Equal((small.Images[5] - 0.5) / 0.25, plain.Images.AsSpan()[5], 6);
    }

    [Fact]
    public void AugmentationKeepsShapeAndIsSeeded()
    {
        var (train, _) = Datasets.Digits();
        var small = train.Take(8);
        double[] Run() => new DataLoader<double>(small, 8, shuffle: true, seed: 9) { CropPadding = 1, RandomFlip = true }
            .Epoch().First().Images.AsSpan().ToArray();
        var a = Run(); var b = Run();
        Assert.Equal(a, b);
        Assert.Equal(8 * 64, a.Length);
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        var (train, _) = Datasets.Digits();
        Assert.Equal("batchSize", Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader<float>(train, 0)).ParamName);
        Assert.Throws<DirectoryNotFoundException>(() => Datasets.FromIdxDirectory("/nonexistent/dir"));
    }
}

public class IdxDirectoryTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "convkit-idx-" + Guid.NewGuid().ToString("N"));

    public IdxDirectoryTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string name, int[] dims, byte[] data, bool gzip)
    {
        var bytes = ConvKit.IO.Idx.Serialize(dims, data);
        if (!gzip) { File.WriteAllBytes(Path.Combine(_dir, name), bytes); return; }
        using var f = File.Create(Path.Combine(_dir, name + ".gz"));
        using var gz = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest);
        gz.Write(bytes);
    }

    [Fact]
    public void LoadsMixedRawAndGzipDirectory()
    {
        var img = Enumerable.Range(0, 3 * 16).Select(i => (byte)(i * 5)).ToArray();
        Write("train-images-idx3-ubyte", [3, 4, 4], img, gzip: true);
        Write("train-labels-idx1-ubyte", [3], [1, 2, 9], gzip: false);
        Write("t10k-images-idx3-ubyte", [2, 4, 4], img[..32], gzip: false);
        Write("t10k-labels-idx1-ubyte", [2], [0, 4], gzip: true);
        var (train, test) = Datasets.FromIdxDirectory(_dir, "tiny");
        Assert.Equal((3, 2), (train.Count, test.Count));
        Assert.Equal((1, 4, 4, 10), (train.Channels, train.Height, train.Width, train.Classes));
        Assert.Equal(img[47] / 255f, train.Images[47]);
        Assert.Equal([0, 4], test.Labels);
    }

    [Fact]
    public void MissingOrCorruptFilesAreReported()
    {
        Write("train-images-idx3-ubyte", [1, 2, 2], [1, 2, 3, 4], gzip: false);
        Assert.Throws<FileNotFoundException>(() => Datasets.FromIdxDirectory(_dir));
        Write("train-labels-idx1-ubyte", [1], [0], gzip: false);
        Write("t10k-images-idx3-ubyte", [1, 2, 2], [1, 2, 3, 4], gzip: false);
        File.WriteAllBytes(Path.Combine(_dir, "t10k-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 5, 1]);
        var e = Assert.Throws<InvalidDataException>(() => Datasets.FromIdxDirectory(_dir));
        Assert.Contains("t10k-labels-idx1-ubyte", e.Message);
    }
}
