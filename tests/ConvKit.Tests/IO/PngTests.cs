using System.Buffers.Binary;
using System.Text.Json;
using ConvKit.Imaging;
using ConvKit.IO;
using Xunit;

namespace ConvKit.Tests.IO;

public class PngTests
{
    internal static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "images");

    public static IEnumerable<object[]> CodecCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "codecs.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            yield return [c.GetProperty("file").GetString()!, c.GetProperty("expected").GetString()!, c.GetProperty("maxval").GetInt32()];
    }

    [Theory]
    [MemberData(nameof(CodecCases))]
    public void DecodesFixture(string file, string expected, int maxval)
    {
        var img = Image.Load(Path.Combine(Dir, file));
        var e = Npy.Read(Path.Combine(Dir, expected));
        Assert.Equal(maxval, img.MaxValue);
        Assert.Equal([img.Height, img.Width, img.Channels], e.Shape);
        for (int i = 0; i < e.Values.Length; i++)
            if (img.Data[i] != e.Values[i]) Assert.Fail($"{file}: sample {i} is {img.Data[i]}, expected {e.Values[i]}.");
    }

    [Theory]
    [InlineData(1, 8)] [InlineData(2, 8)] [InlineData(3, 8)] [InlineData(4, 8)]
    [InlineData(1, 16)] [InlineData(2, 16)] [InlineData(3, 16)] [InlineData(4, 16)]
    public void RoundTripsEveryColorTypeAndDepth(int channels, int depth)
    {
        int max = depth == 8 ? 255 : 65535;
        foreach (var (w, h) in new[] { (1, 1), (17, 5), (8, 9), (33, 2) })
        {
            var img = RandomImage(w, h, channels, max, (ulong)(w * 100 + h + channels * 7 + depth));
            foreach (var filter in new[] { PngFilter.Adaptive, PngFilter.None, PngFilter.Sub, PngFilter.Up, PngFilter.Average, PngFilter.Paeth })
                foreach (var interlace in new[] { false, true })
                {
                    var bytes = Png.Encode(img, filter, interlace);
                    var back = Png.Decode(bytes);
                    Assert.Equal((img.Width, img.Height, img.Channels, img.MaxValue), (back.Width, back.Height, back.Channels, back.MaxValue));
                    Assert.Equal(img.Data, back.Data);
                }
        }
    }

    [Fact]
    public void RoundTripsThroughAFileAndTheTensorConversion()
    {
        var img = RandomImage(20, 11, 3, 255, 5);
        var path = Path.Combine(Path.GetTempPath(), $"convkit-png-{Guid.NewGuid():N}.png");
        try
        {
            img.Save(path);
            var back = Image.Load(path);
            Assert.Equal(img.Data, back.Data);
            var t = back.ToTensor();
            Assert.Equal([3, 11, 20], t.ShapeArray());
            Assert.Equal(img[4, 7, 2] / 255f, t[2, 7, 4]);
            Assert.Equal(img.Data, Image.FromTensor(t).Data);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void DecodesThePhotosAndMatchesTheirGrayVersions()
    {
        // The photo ships in docs/images; find it above the test binaries.
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "images", "china.png"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var src = Path.Combine(dir.FullName, "docs", "images");
        var china = Image.Load(Path.Combine(src, "china.png"));
        Assert.Equal((640, 427, 3, 255), (china.Width, china.Height, china.Channels, china.MaxValue));
        var re = Png.Decode(Png.Encode(china));
        Assert.Equal(china.Data, re.Data);
    }

    internal static Image RandomImage(int w, int h, int channels, int max, ulong seed)
    {
        var rng = new ConvKit.Tensors.SeededRandom(seed);
        var img = new Image(w, h, channels, max);
        // Smooth-ish content so that every filter type gets chosen somewhere, plus noise.
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < channels; c++)
                    img[x, y, c] = (ushort)((rng.NextDouble() < 0.5 ? (x * 37 + y * 11 + c * 50) % (max + 1) : rng.NextDouble() * max));
        return img;
    }

    // ---------------------------------------------------------------- malformed files

    private static byte[] Valid() => Png.Encode(RandomImage(9, 7, 3, 255, 1));

    private static void SetChunk(byte[] png, int offset, ReadOnlySpan<byte> newData)
    {
        newData.CopyTo(png.AsSpan(offset + 8));
        uint len = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(offset + 8 + (int)len), Png.Crc32(png.AsSpan(offset + 4, (int)len + 4)));
    }

    private static string Refused(byte[] bytes) => Assert.Throws<InvalidDataException>(() => Png.Decode(bytes)).Message;

    [Fact]
    public void RefusesBadSignature()
    {
        var b = Valid(); b[1] = (byte)'X';
        Assert.Contains("signature", Refused(b));
    }

    [Fact]
    public void RefusesCrcMismatch()
    {
        var b = Valid(); b[8 + 8 + 3] ^= 1; // a byte of IHDR's width
        Assert.Contains("CRC", Refused(b));
    }

    [Fact]
    public void RefusesHugeChunkLength()
    {
        var b = Valid();
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(33), 0x7FFFFFF0); // the first chunk after IHDR
        Assert.Contains("remain", Refused(b));
    }

    [Fact]
    public void RefusesHugeDimensionsBeforeAllocating()
    {
        var b = Valid();
        var ihdr = b.AsSpan(16, 13).ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, 60000);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), 60000);
        SetChunk(b, 8, ihdr);
        Assert.Contains("limit", Refused(b));
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, 100000);
        SetChunk(b, 8, ihdr);
        Assert.Contains("limit", Refused(b));
    }

    [Fact]
    public void RefusesDimensionsTheDataCannotHold()
    {
        var b = Valid();
        var ihdr = b.AsSpan(16, 13).ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, 8000);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), 8000);
        SetChunk(b, 8, ihdr);
        Assert.Contains("cannot hold", Refused(b));
    }

    [Fact]
    public void RefusesInvalidHeaderFields()
    {
        foreach (var (field, value) in new[] { (8, 3), (9, 5), (9, 3 + 0), (10, 1), (11, 1), (12, 2) })
        {
            var b = Valid();
            var ihdr = b.AsSpan(16, 13).ToArray();
            ihdr[field] = (byte)value;
            if (field == 9 && value == 3) ihdr[8] = 16; // palette with 16 bits
            SetChunk(b, 8, ihdr);
            Refused(b);
        }
    }

    [Fact]
    public void RefusesTruncationEverywhere()
    {
        var b = Valid();
        for (int n = 0; n < b.Length - 12; n++) Refused(b[..n]);
    }

    [Fact]
    public void RefusesMissingPaletteAndOutOfRangeIndices()
    {
        var img = new Image(4, 1, 1);
        var b = Png.Encode(img);
        var ihdr = b.AsSpan(16, 13).ToArray();
        ihdr[9] = 3; // palette without PLTE
        SetChunk(b, 8, ihdr);
        Assert.Contains("PLTE", Refused(b));
    }

    [Fact]
    public void RefusesUnknownCriticalChunkAndMisplacedChunks()
    {
        var v = Valid();
        // Insert a critical "ABCD" chunk after IHDR.
        var chunk = MakeChunk("ABCD", [1, 2, 3]);
        Assert.Contains("critical", Refused([.. v[..33], .. chunk, .. v[33..]]));
        // An ancillary one is skipped.
        var ok = Png.Decode([.. v[..33], .. MakeChunk("abCD", [1]), .. v[33..]]);
        Assert.Equal(9, ok.Width);
        // IHDR must be first.
        Assert.Contains("first chunk", Refused([.. v[..8], .. MakeChunk("abCD", [1]), .. v[8..]]));
        // Data after IEND is ignored; an IEND with data is refused.
        Assert.Equal(9, Png.Decode([.. v, 1, 2, 3]).Width);
        Assert.Contains("IEND", Refused([.. v[..^12], .. MakeChunk("IEND", [0])]));
    }

    [Fact]
    public void RefusesNonConsecutiveIdat()
    {
        var img = RandomImage(300, 300, 3, 255, 3);
        var b = Png.Encode(img, PngFilter.None);
        // Split the single IDAT into two with a tEXt between.
        int len = (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(33));
        var data = b.AsSpan(41, len).ToArray();
        byte[] split = [.. b[..33], .. MakeChunk("IDAT", data[..(len / 2)]), .. MakeChunk("tEXt", [65, 0, 66]), .. MakeChunk("IDAT", data[(len / 2)..]), .. b[(41 + len + 4)..]];
        Assert.Contains("consecutive", Refused(split));
        byte[] ok = [.. b[..33], .. MakeChunk("IDAT", data[..(len / 2)]), .. MakeChunk("IDAT", data[(len / 2)..]), .. b[(41 + len + 4)..]];
        Assert.Equal(img.Data, Png.Decode(ok).Data);
    }

    [Fact]
    public void RefusesBadFilterTypeAndCorruptZlib()
    {
        var img = RandomImage(5, 3, 1, 255, 4);
        var b = Png.Encode(img, PngFilter.None);
        int len = (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(33));
        // Rebuild IDAT with a filter byte of 7.
        var raw = new byte[3 * 6];
        raw[6] = 7;
        using var ms = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(ms, System.IO.Compression.CompressionLevel.Optimal, true)) z.Write(raw);
        byte[] bad = [.. b[..33], .. MakeChunk("IDAT", ms.ToArray()), .. b[(41 + len + 4)..]];
        Assert.Contains("filter type 7", Refused(bad));
        byte[] garbage = [.. b[..33], .. MakeChunk("IDAT", [0x78, 0x9C, 0xFF, 0xFF, 0xFF, 0x00, 0x13]), .. b[(41 + len + 4)..]];
        Refused(garbage);
    }

    internal static byte[] MakeChunk(string type, byte[] data)
    {
        var buf = new byte[data.Length + 12];
        BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)data.Length);
        for (int i = 0; i < 4; i++) buf[4 + i] = (byte)type[i];
        data.CopyTo(buf, 8);
        BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(8 + data.Length), Png.Crc32(buf.AsSpan(4, data.Length + 4)));
        return buf;
    }

    [Fact]
    public void Crc32MatchesTheStandardCheckValue()
        => Assert.Equal(0xCBF43926u, Png.Crc32("123456789"u8));
}
