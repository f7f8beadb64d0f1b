using System.IO.Compression;
using ConvKit.Data;
using ConvKit.IO;
using Xunit;

namespace ConvKit.Tests.IO;

public class IdxTests
{
    private static readonly byte[] Images = Idx.Serialize([2, 3, 2], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);

    [Fact]
    public void ReadsRawAndGzip()
    {
        var a = Idx.Read(new MemoryStream(Images));
        Assert.Equal([2, 3, 2], a.Dims);
        Assert.Equal(255, a.Data[^1]);
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(Images);
        ms.Position = 0;
        var b = Idx.Read(ms);
        Assert.Equal(a.Data, b.Data);
    }

    [Fact]
    public void BuildsDatasetFromImagesAndLabels()
    {
        var imgs = Idx.Read(new MemoryStream(Images));
        var labs = Idx.Read(new MemoryStream(Idx.Serialize([2], [3, 7])));
        var ds = Datasets.FromIdx(imgs, labs);
        Assert.Equal(2, ds.Count);
        Assert.Equal((1, 3, 2), (ds.Channels, ds.Height, ds.Width));
        Assert.Equal(1f, ds.Images[^1]);
        Assert.Equal([3, 7], ds.Labels);
        var bad = Idx.Read(new MemoryStream(Idx.Serialize([3], [1, 2, 3])));
        Assert.Contains("labels", Assert.Throws<InvalidDataException>(() => Datasets.FromIdx(imgs, bad)).Message);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 8 }, "too short")]
    [InlineData(new byte[] { 1, 0, 8, 1, 0, 0, 0, 1, 0 }, "magic")]
    [InlineData(new byte[] { 0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0 }, "element type")]
    [InlineData(new byte[] { 0, 0, 8, 0 }, "dimensions")]
    [InlineData(new byte[] { 0, 0, 8, 9 }, "dimensions")]
    [InlineData(new byte[] { 0, 0, 8, 2, 0, 0, 0, 2 }, "truncated header")]
    [InlineData(new byte[] { 0, 0, 8, 1, 0, 0, 0, 0 }, "invalid size")]
    [InlineData(new byte[] { 0, 0, 8, 1, 0, 0, 0, 100, 1, 2 }, "need 100")]
    [InlineData(new byte[] { 0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3 }, "need 2")]
    [InlineData(new byte[] { 0, 0, 8, 2, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff }, "more than")]
    public void MalformedFilesAreRefused(byte[] bytes, string fragment)
    {
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(new MemoryStream(bytes)));
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void CorruptGzipIsRefused()
    {
        var bytes = new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff };
        Assert.Throws<InvalidDataException>(() => Idx.Read(new MemoryStream(bytes)));
    }

    [Fact]
    public void EveryTruncationIsRefused()
    {
        for (int len = 0; len < Images.Length; len++)
            Assert.Throws<InvalidDataException>(() => Idx.Read(new MemoryStream(Images.AsSpan(0, len).ToArray())));
    }
}
