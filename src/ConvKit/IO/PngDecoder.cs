using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ConvKit.Imaging;

namespace ConvKit.IO;

/// <summary>The PNG decoder behind <see cref="Png.Decode"/>. Every length field is checked against the bytes that
/// are actually there, and the decompressed size is bounded by the header before anything large is allocated.</summary>
internal static class PngDecoder
{
    // zlib's deflate cannot expand data by more than about 1032:1; a header that promises more image bytes than the
    // IDAT data could hold is refused before the pixel buffer is allocated.
    private const long MaxDeflateRatio = 1032;

    private static InvalidDataException Bad(string message) => new($"PNG: {message}");

    public static Image Decode(byte[] png)
    {
        ArgumentNullException.ThrowIfNull(png);
        if (!Png.IsPng(png)) throw Bad("not a PNG file (bad signature).");

        int width = 0, height = 0, depth = 0, colorType = 0, interlace = 0;
        bool haveHeader = false, haveEnd = false, idatDone = false;
        byte[]? palette = null; // RGB triples
        byte[]? trns = null;
        var idatParts = new List<(int Offset, int Length)>();
        long idatTotal = 0;
        int pos = 8, index = 0;
        while (!haveEnd)
        {
            if (png.Length - pos < 12)
                throw Bad(pos == png.Length ? "file ends without an IEND chunk." : $"truncated chunk header at offset {pos} ({png.Length - pos} bytes left).");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos));
            var typeBytes = png.AsSpan(pos + 4, 4);
            foreach (var b in typeBytes)
                if (!((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z')))
                    throw Bad($"invalid chunk type bytes at offset {pos + 4}.");
            string type = Encoding.ASCII.GetString(typeBytes);
            if (length > int.MaxValue || length > (ulong)(png.Length - pos - 12))
                throw Bad($"chunk '{type}' at offset {pos} declares {length} data bytes but only {Math.Max(0, png.Length - pos - 12)} remain in the file.");
            int len = (int)length;
            var data = png.AsSpan(pos + 8, len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + len));
            if (Png.Crc32(png.AsSpan(pos + 4, len + 4)) != crc)
                throw Bad($"CRC mismatch in chunk '{type}' at offset {pos}.");

            if (index == 0 && type != "IHDR") throw Bad($"the first chunk must be IHDR, found '{type}'.");
            if (idatParts.Count > 0 && type != "IDAT") idatDone = true;
            switch (type)
            {
                case "IHDR":
                    if (index != 0) throw Bad("duplicate IHDR chunk.");
                    if (len != 13) throw Bad($"IHDR must hold 13 bytes, found {len}.");
                    ReadHeader(data, out width, out height, out depth, out colorType, out interlace);
                    haveHeader = true;
                    break;
                case "PLTE":
                    if (palette is not null) throw Bad("duplicate PLTE chunk.");
                    if (idatParts.Count > 0) throw Bad("PLTE after IDAT.");
                    if (colorType is 0 or 4) throw Bad($"PLTE is not allowed for color type {colorType}.");
                    if (len == 0 || len % 3 != 0 || len / 3 > 256) throw Bad($"PLTE length {len} is not a multiple of 3 between 3 and 768.");
                    palette = data.ToArray();
                    break;
                case "tRNS":
                    if (idatParts.Count > 0) throw Bad("tRNS after IDAT.");
                    if (trns is not null) throw Bad("duplicate tRNS chunk.");
                    switch (colorType)
                    {
                        case 0 when len != 2: throw Bad($"tRNS for gray images must hold 2 bytes, found {len}.");
                        case 2 when len != 6: throw Bad($"tRNS for RGB images must hold 6 bytes, found {len}.");
                        case 3 when palette is null: throw Bad("tRNS before PLTE.");
                        case 3 when len > palette.Length / 3: throw Bad($"tRNS holds {len} entries for a palette of {palette.Length / 3}.");
                        case 4 or 6: break; // images with an alpha channel ignore tRNS, as libpng does
                        default: trns = data.ToArray(); break;
                    }
                    break;
                case "IDAT":
                    if (idatDone) throw Bad("IDAT chunks are not consecutive.");
                    if (colorType == 3 && palette is null) throw Bad("palette image without a PLTE chunk before IDAT.");
                    idatParts.Add((pos + 8, len));
                    idatTotal += len;
                    break;
                case "IEND":
                    if (len != 0) throw Bad($"IEND must be empty, found {len} bytes.");
                    haveEnd = true;
                    break;
                default:
                    if ((typeBytes[0] & 0x20) == 0) throw Bad($"unknown critical chunk '{type}'.");
                    break; // ancillary chunks are skipped
            }
            pos += 12 + len;
            index++;
        }
        if (!haveHeader) throw Bad("missing IHDR.");
        if (idatParts.Count == 0) throw Bad("no IDAT chunk.");

        int channelsIn = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        int bpp = channelsIn * depth; // bits per pixel
        long expected = 0;
        if (interlace == 0) expected = height * (1 + Png.RowBytes(width, bpp));
        else
            foreach (var p in Png.Adam7)
            {
                long pw = PassSize(width, p.X0, p.Dx), ph = PassSize(height, p.Y0, p.Dy);
                if (pw > 0 && ph > 0) expected += ph * (1 + Png.RowBytes((int)pw, bpp));
            }
        if (expected > idatTotal * MaxDeflateRatio + 1024)
            throw Bad($"{idatTotal} bytes of IDAT data cannot hold a {width}x{height} image ({expected} bytes after decompression).");

        var idat = new byte[idatTotal];
        int o = 0;
        foreach (var (off, l) in idatParts) { Buffer.BlockCopy(png, off, idat, o, l); o += l; }
        var raw = new byte[expected];
        int got;
        try
        {
            using var z = new ZLibStream(new MemoryStream(idat), CompressionMode.Decompress);
            got = z.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e) { throw Bad($"corrupt zlib data in IDAT: {e.Message}"); }
        catch (Exception e) when (e is IOException or NotSupportedException or InvalidOperationException)
        { throw Bad($"corrupt zlib data in IDAT: {e.Message}"); }
        if (got < expected) throw Bad($"image data ends early: {got} of {expected} bytes after decompression.");

        bool hasTrns = trns is not null;
        int outCh = colorType switch { 0 => hasTrns ? 2 : 1, 2 => hasTrns ? 4 : 3, 3 => hasTrns ? 4 : 3, 4 => 2, _ => 4 };
        var img = new Image(width, height, outCh, depth == 16 ? 65535 : 255);
        var state = new RowState(img, depth, colorType, channelsIn, palette, trns);
        if (interlace == 0) Unfilter(raw, 0, width, height, bpp, 0, 0, 1, 1, state);
        else
        {
            long at = 0;
            foreach (var p in Png.Adam7)
            {
                int pw = PassSize(width, p.X0, p.Dx), ph = PassSize(height, p.Y0, p.Dy);
                if (pw == 0 || ph == 0) continue;
                Unfilter(raw, at, pw, ph, bpp, p.X0, p.Y0, p.Dx, p.Dy, state);
                at += ph * (1 + Png.RowBytes(pw, bpp));
            }
        }
        return img;
    }

    private static int PassSize(int size, int start, int step) => size <= start ? 0 : (size - start + step - 1) / step;

    private static void ReadHeader(ReadOnlySpan<byte> d, out int width, out int height, out int depth, out int colorType, out int interlace)
    {
        uint w = BinaryPrimitives.ReadUInt32BigEndian(d), h = BinaryPrimitives.ReadUInt32BigEndian(d[4..]);
        depth = d[8]; colorType = d[9]; interlace = d[12];
        if (w == 0 || h == 0) throw Bad($"image size {w}x{h} is empty.");
        if (w > Image.MaxDimension || h > Image.MaxDimension)
            throw Bad($"image size {w}x{h} exceeds the limit of {Image.MaxDimension} pixels per side.");
        width = (int)w; height = (int)h;
        bool ok = colorType switch
        {
            0 => depth is 1 or 2 or 4 or 8 or 16,
            3 => depth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => depth is 8 or 16,
            _ => false,
        };
        if (!ok) throw Bad($"invalid color type {colorType} with bit depth {depth}.");
        int outCh = colorType switch { 0 => 2, 4 => 2, _ => 4 }; // worst case with tRNS
        if ((long)width * height * outCh > Image.MaxSamples)
            throw Bad($"image size {width}x{height} exceeds the limit of {Image.MaxSamples} samples.");
        if (d[10] != 0) throw Bad($"unknown compression method {d[10]}.");
        if (d[11] != 0) throw Bad($"unknown filter method {d[11]}.");
        if (interlace > 1) throw Bad($"unknown interlace method {interlace}.");
    }

    private sealed class RowState(Image img, int depth, int colorType, int channelsIn, byte[]? palette, byte[]? trns)
    {
        public readonly Image Img = img;
        public readonly int Depth = depth, ColorType = colorType, ChannelsIn = channelsIn;
        public readonly byte[]? Palette = palette, Trns = trns;
    }

    private static void Unfilter(byte[] raw, long start, int w, int h, int bpp, int x0, int y0, int dx, int dy, RowState s)
    {
        int rowBytes = (int)Png.RowBytes(w, bpp);
        int step = Math.Max(1, bpp / 8); // bytes between corresponding bytes of neighbouring pixels
        var prev = new byte[rowBytes];
        var cur = new byte[rowBytes];
        for (int y = 0; y < h; y++)
        {
            long at = start + (long)y * (rowBytes + 1);
            int ft = raw[at];
            Array.Copy(raw, at + 1, cur, 0, rowBytes);
            switch (ft)
            {
                case 0: break;
                case 1: for (int i = step; i < rowBytes; i++) cur[i] += cur[i - step]; break;
                case 2: for (int i = 0; i < rowBytes; i++) cur[i] += prev[i]; break;
                case 3:
                    for (int i = 0; i < rowBytes; i++) cur[i] += (byte)(((i >= step ? cur[i - step] : 0) + prev[i]) >> 1);
                    break;
                case 4:
                    for (int i = 0; i < rowBytes; i++)
                        cur[i] += (byte)Png.Paeth(i >= step ? cur[i - step] : 0, prev[i], i >= step ? prev[i - step] : 0);
                    break;
                default: throw Bad($"invalid filter type {ft} on row {y}.");
            }
            Emit(cur, w, y0 + y * dy, x0, dx, s);
            (prev, cur) = (cur, prev);
        }
    }

    private static int Sample(byte[] row, int i, int depth) => depth switch
    {
        8 => row[i],
        16 => (row[2 * i] << 8) | row[2 * i + 1],
        _ => (row[(i * depth) >> 3] >> (8 - depth - ((i * depth) & 7))) & ((1 << depth) - 1),
    };

    private static void Emit(byte[] row, int w, int y, int x0, int dx, RowState s)
    {
        var img = s.Img;
        var dst = img.Data;
        int oc = img.Channels, depth = s.Depth, ci = s.ChannelsIn;
        int scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1;
        for (int i = 0; i < w; i++)
        {
            long o = ((long)y * img.Width + x0 + (long)i * dx) * oc;
            switch (s.ColorType)
            {
                case 0:
                {
                    int v = Sample(row, i, depth);
                    dst[o] = (ushort)(v * scale);
                    if (s.Trns is { } t) dst[o + 1] = (ushort)(v == ((t[0] << 8) | t[1]) ? 0 : img.MaxValue);
                    break;
                }
                case 3:
                {
                    int v = Sample(row, i, depth);
                    var pal = s.Palette!;
                    if (v * 3 >= pal.Length) throw Bad($"palette index {v} is out of range for a palette of {pal.Length / 3} colors.");
                    dst[o] = pal[v * 3]; dst[o + 1] = pal[v * 3 + 1]; dst[o + 2] = pal[v * 3 + 2];
                    if (s.Trns is { } t) dst[o + 3] = v < t.Length ? t[v] : (ushort)255;
                    break;
                }
                case 2:
                {
                    int r = Sample(row, i * 3, depth), g = Sample(row, i * 3 + 1, depth), b = Sample(row, i * 3 + 2, depth);
                    dst[o] = (ushort)r; dst[o + 1] = (ushort)g; dst[o + 2] = (ushort)b;
                    if (s.Trns is { } t)
                        dst[o + 3] = (ushort)(r == ((t[0] << 8) | t[1]) && g == ((t[2] << 8) | t[3]) && b == ((t[4] << 8) | t[5]) ? 0 : img.MaxValue);
                    break;
                }
                default:
                    for (int c = 0; c < ci; c++) dst[o + c] = (ushort)Sample(row, i * ci + c, depth);
                    break;
            }
        }
    }
}
