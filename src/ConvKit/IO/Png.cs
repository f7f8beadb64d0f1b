using ConvKit.Imaging;

namespace ConvKit.IO;

/// <summary>PNG row filter choice for <see cref="Png.Encode"/>.</summary>
public enum PngFilter
{
    /// <summary>Per row, the filter whose output has the smallest sum of absolute (signed) bytes.</summary>
    Adaptive = -1,
    /// <summary>Filter type 0 on every row.</summary>
    None = 0,
    /// <summary>Filter type 1 (left neighbour) on every row.</summary>
    Sub = 1,
    /// <summary>Filter type 2 (upper neighbour) on every row.</summary>
    Up = 2,
    /// <summary>Filter type 3 (mean of left and upper) on every row.</summary>
    Average = 3,
    /// <summary>Filter type 4 (Paeth predictor) on every row.</summary>
    Paeth = 4,
}

/// <summary>
/// PNG reader and writer in plain C# (zlib through <see cref="System.IO.Compression.ZLibStream"/>).
/// Decoding supports every color type (gray, RGB, palette, gray + alpha, RGBA), bit depths 1-16, tRNS
/// transparency, Adam7 interlacing and all five row filters; every chunk's CRC-32 is checked. Samples of depth
/// 1-8 decode to 8-bit (low depths scaled, as libpng's expansion does), 16 stays 16-bit; palette images become
/// RGB, or RGBA when they carry tRNS. Encoding writes 8- or 16-bit gray, gray + alpha, RGB or RGBA.
/// Malformed input raises <see cref="InvalidDataException"/>.
/// </summary>
public static class Png
{
    internal static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>True when <paramref name="bytes"/> starts with the PNG signature.</summary>
    public static bool IsPng(ReadOnlySpan<byte> bytes) => bytes.Length >= 8 && bytes[..8].SequenceEqual(Signature);

    /// <summary>Reads and decodes a PNG file.</summary>
    public static Image Read(string path) => PngDecoder.Decode(File.ReadAllBytes(path));

    /// <summary>Decodes PNG bytes.</summary>
    public static Image Decode(byte[] bytes) => PngDecoder.Decode(bytes);

    /// <summary>Encodes an image and writes it to <paramref name="path"/>.</summary>
    public static void Write(string path, Image image, PngFilter filter = PngFilter.Adaptive, bool interlace = false)
        => File.WriteAllBytes(path, Encode(image, filter, interlace));

    /// <summary>Encodes an image as PNG: 8-bit when <see cref="Image.MaxValue"/> ≤ 255 (rescaled unless it is 255),
    /// 16-bit otherwise.</summary>
    /// <param name="image">The image (1-4 channels).</param>
    /// <param name="filter">Row filter (adaptive by default).</param>
    /// <param name="interlace">Write Adam7-interlaced.</param>
    public static byte[] Encode(Image image, PngFilter filter = PngFilter.Adaptive, bool interlace = false)
        => PngEncoder.Encode(image, filter, interlace);

    // Adam7 passes: x0, y0, dx, dy.
    internal static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    private static readonly uint[] CrcTable = MakeCrcTable();

    private static uint[] MakeCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    /// <summary>CRC-32 (ISO-HDLC polynomial, as PNG and zlib use) of <paramref name="data"/>.</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    internal static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Bytes per row (without the filter byte) for a given width and bits per pixel.</summary>
    internal static long RowBytes(int width, int bitsPerPixel) => ((long)width * bitsPerPixel + 7) / 8;
}
