using System.Text;
using ConvKit.Imaging;
using ConvKit.IO;
using Xunit;

namespace ConvKit.Tests.IO;

public class PnmTests
{
    [Theory]
    [InlineData(1, 255, false)] [InlineData(3, 255, false)] [InlineData(1, 65535, false)] [InlineData(3, 1000, false)]
    [InlineData(1, 255, true)] [InlineData(3, 65535, true)] [InlineData(1, 1, true)] [InlineData(3, 7, false)]
    public void RoundTrips(int channels, int max, bool ascii)
    {
        var img = PngTests.RandomImage(13, 4, channels, max, (ulong)(channels + max));
        var back = Pnm.Decode(Pnm.Encode(img, ascii));
        Assert.Equal((13, 4, channels, max), (back.Width, back.Height, back.Channels, back.MaxValue));
        Assert.Equal(img.Data, back.Data);
    }

    [Fact]
    public void SavesByExtension()
    {
        var img = PngTests.RandomImage(6, 5, 4, 255, 9);
        var dir = Path.Combine(Path.GetTempPath(), $"convkit-pnm-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            img.Save(Path.Combine(dir, "a.ppm"));
            img.Save(Path.Combine(dir, "a.pgm"));
            Assert.Equal(img.WithoutAlpha().Data, Image.Load(Path.Combine(dir, "a.ppm")).Data);
            Assert.Equal(img.ToGray().Data, Image.Load(Path.Combine(dir, "a.pgm")).Data);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("P5 3 2\n255\n\x01\x02", "truncated")]
    [InlineData("P6 100000 1\n255\n", "outside")]
    [InlineData("P5 3 2\n70000\n", "maxval")]
    [InlineData("P2 2 1\n10\n5 11\n", "exceeds")]
    [InlineData("P2 2 1\n10\n5", "truncated")]
    [InlineData("P3 1 1 255 1 2 x", "expected")]
    [InlineData("P5 99999999999 1 255\n", "too large")]
    [InlineData("P5 3", "ends")]
    [InlineData("P7 3 2 255\n", "magic")]
    [InlineData("P5 4000 4000\n255\n", "truncated")]
    public void RefusesMalformedFiles(string text, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => Pnm.Decode(Encoding.Latin1.GetBytes(text)));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void RefusesAlphaOnEncode()
        => Assert.Equal("image", Assert.Throws<ArgumentException>(() => Pnm.Encode(new Image(2, 2, 2))).ParamName);
}
