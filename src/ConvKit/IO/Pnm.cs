using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using ConvKit.Imaging;

namespace ConvKit.IO;

/// <summary>
/// Netpbm gray and color images: PGM (P2 ASCII, P5 binary) and PPM (P3 ASCII, P6 binary) with any maxval from 1
/// to 65535 (two big-endian bytes per sample above 255). Header comments (#) are skipped. Malformed input raises
/// <see cref="InvalidDataException"/>; sizes are checked against the data present before allocating.
/// </summary>
public static class Pnm
{
    private static InvalidDataException Bad(string message) => new($"PNM: {message}");

    /// <summary>Reads a PGM/PPM file.</summary>
    public static Image Read(string path) => Decode(File.ReadAllBytes(path));

    /// <summary>Decodes PGM/PPM bytes (P2, P3, P5, P6).</summary>
    public static Image Decode(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 2 || bytes[0] != 'P' || bytes[1] is not ((byte)'2' or (byte)'3' or (byte)'5' or (byte)'6'))
            throw Bad("not a PGM/PPM file (expected magic P2, P3, P5 or P6).");
        char kind = (char)bytes[1];
        int pos = 2;
        long w = ReadHeaderInt(bytes, ref pos, "width");
        long h = ReadHeaderInt(bytes, ref pos, "height");
        long maxval = ReadHeaderInt(bytes, ref pos, "maxval");
        if (w < 1 || h < 1 || w > Image.MaxDimension || h > Image.MaxDimension)
            throw Bad($"image size {w}x{h} is outside [1, {Image.MaxDimension}].");
        if (maxval is < 1 or > 65535) throw Bad($"maxval {maxval} is outside [1, 65535].");
        int ch = kind is '2' or '5' ? 1 : 3;
        long n = w * h * ch;
        if (n > Image.MaxSamples) throw Bad($"image size {w}x{h}x{ch} exceeds the limit of {Image.MaxSamples} samples.");
        if (pos >= bytes.Length || !IsSpace(bytes[pos])) throw Bad("missing whitespace after maxval.");
        pos++; // exactly one whitespace byte separates the header from binary data
        int bps = maxval > 255 ? 2 : 1;
        bool binary = kind is '5' or '6';
        // Check the data present before allocating: binary samples take bps bytes, ASCII ones at least a digit and a separator.
        if (binary && bytes.Length - pos < n * bps) throw Bad($"pixel data is truncated: {bytes.Length - pos} of {n * bps} bytes.");
        if (!binary && (bytes.Length - pos + 2) / 2 < n) throw Bad($"pixel data is truncated: {bytes.Length - pos + 1} bytes cannot hold {n} ASCII samples.");
        var img = new Image((int)w, (int)h, ch, (int)maxval);
        var d = img.Data;
        if (binary)
        {
            for (long i = 0; i < n; i++)
            {
                int v = bps == 1 ? bytes[pos + i] : BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan((int)(pos + 2 * i)));
                if (v > maxval) throw Bad($"sample {v} exceeds maxval {maxval}.");
                d[i] = (ushort)v;
            }
        }
        else
        {
            pos--;
            for (long i = 0; i < n; i++)
            {
                long v = ReadHeaderInt(bytes, ref pos, "sample");
                if (v > maxval) throw Bad($"sample {v} exceeds maxval {maxval}.");
                d[i] = (ushort)v;
            }
        }
        return img;
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    private static long ReadHeaderInt(byte[] b, ref int pos, string what)
    {
        while (pos < b.Length)
        {
            if (IsSpace(b[pos])) pos++;
            else if (b[pos] == '#') { while (pos < b.Length && b[pos] != '\n' && b[pos] != '\r') pos++; }
            else break;
        }
        if (pos >= b.Length) throw Bad($"file ends before the {what}.");
        long v = 0; int digits = 0;
        while (pos < b.Length && b[pos] >= '0' && b[pos] <= '9')
        {
            v = v * 10 + (b[pos] - '0');
            if (v > int.MaxValue) throw Bad($"{what} is too large.");
            pos++; digits++;
        }
        if (digits == 0) throw Bad($"expected a decimal {what} at offset {pos}.");
        return v;
    }

    /// <summary>Encodes a 1-channel (PGM) or 3-channel (PPM) image; binary (P5/P6) unless <paramref name="ascii"/> (P2/P3).</summary>
    public static byte[] Encode(Image image, bool ascii = false)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Channels is not (1 or 3))
            throw new ArgumentException($"image: PNM holds 1 (gray) or 3 (RGB) channels, got {image.Channels}.", nameof(image));
        char kind = image.Channels == 1 ? (ascii ? '2' : '5') : (ascii ? '3' : '6');
        var header = Encoding.ASCII.GetBytes($"P{kind}\n{image.Width} {image.Height}\n{image.MaxValue}\n");
        using var ms = new MemoryStream();
        ms.Write(header);
        var d = image.Data;
        if (ascii)
        {
            var sb = new StringBuilder();
            int perLine = image.Width * image.Channels;
            for (int i = 0; i < d.Length; i++)
            {
                sb.Append(d[i].ToString(CultureInfo.InvariantCulture));
                sb.Append((i + 1) % perLine == 0 ? '\n' : ' ');
            }
            ms.Write(Encoding.ASCII.GetBytes(sb.ToString()));
        }
        else if (image.MaxValue > 255)
        {
            var buf = new byte[d.Length * 2];
            for (int i = 0; i < d.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(2 * i), d[i]);
            ms.Write(buf);
        }
        else
        {
            var buf = new byte[d.Length];
            for (int i = 0; i < d.Length; i++) buf[i] = (byte)d[i];
            ms.Write(buf);
        }
        return ms.ToArray();
    }

    /// <summary>Writes a PGM/PPM file (binary unless <paramref name="ascii"/>).</summary>
    public static void Write(string path, Image image, bool ascii = false) => File.WriteAllBytes(path, Encode(image, ascii));
}
