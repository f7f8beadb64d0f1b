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
