using System.Buffers.Binary;
using System.IO.Compression;
using ConvKit.Imaging;

namespace ConvKit.IO;

/// <summary>The PNG encoder behind <see cref="Png.Encode"/>.</summary>
internal static class PngEncoder
{
    public static byte[] Encode(Image image, PngFilter filter, bool interlace)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (filter is < PngFilter.Adaptive or > PngFilter.Paeth) throw new ArgumentOutOfRangeException(nameof(filter));
        int depth = image.MaxValue <= 255 ? 8 : 16;
        int target = depth == 8 ? 255 : 65535;
        int ch = image.Channels;
        int colorType = ch switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 };
        int bpp = ch * depth / 8;
        int w = image.Width, h = image.Height;

        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
        {
            (int X0, int Y0, int Dx, int Dy)[] passes = interlace ? Png.Adam7 : [(0, 0, 1, 1)];
            foreach (var (x0, y0, dx, dy) in passes)
            {
                int pw = w <= x0 ? 0 : (w - x0 + dx - 1) / dx, ph = h <= y0 ? 0 : (h - y0 + dy - 1) / dy;
                if (pw == 0 || ph == 0) continue;
                int rowBytes = pw * bpp;
                var prev = new byte[rowBytes];
                var cur = new byte[rowBytes];
                var outs = new byte[5][];
                for (int f = 0; f < 5; f++) outs[f] = new byte[rowBytes + 1];
                for (int py = 0; py < ph; py++)
                {
                    int y = y0 + py * dy;
                    for (int px = 0; px < pw; px++)
                    {
                        int x = x0 + px * dx;
                        for (int c = 0; c < ch; c++)
                        {
                            int v = image.Data[((long)y * w + x) * ch + c];
                            if (image.MaxValue != target) v = (int)((v * (long)target + image.MaxValue / 2) / image.MaxValue);
                            if (depth == 8) cur[px * ch + c] = (byte)v;
                            else BinaryPrimitives.WriteUInt16BigEndian(cur.AsSpan((px * ch + c) * 2), (ushort)v);
                        }
                    }
                    byte[] chosen = filter == PngFilter.Adaptive ? ChooseFilter(cur, prev, bpp, outs) : ApplyFilter((int)filter, cur, prev, bpp, outs[(int)filter]);
                    z.Write(chosen);
                    (prev, cur) = (cur, prev);
                }
            }
        }

        using var ms = new MemoryStream();
        ms.Write(Png.Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr[4..], (uint)h);
        ihdr[8] = (byte)depth; ihdr[9] = (byte)colorType; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = (byte)(interlace ? 1 : 0);
        WriteChunk(ms, "IHDR", ihdr);
        var compressed = idat.GetBuffer().AsSpan(0, (int)idat.Length);
        const int MaxIdat = 1 << 20;
        for (int off = 0; off < compressed.Length; off += MaxIdat)
            WriteChunk(ms, "IDAT", compressed.Slice(off, Math.Min(MaxIdat, compressed.Length - off)));
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream s, string type, ReadOnlySpan<byte> data)
    {
        var buf = new byte[data.Length + 12];
        BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)data.Length);
        for (int i = 0; i < 4; i++) buf[4 + i] = (byte)type[i];
        data.CopyTo(buf.AsSpan(8));
        BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(8 + data.Length), Png.Crc32(buf.AsSpan(4, data.Length + 4)));
        s.Write(buf);
    }

    private static byte[] ChooseFilter(byte[] cur, byte[] prev, int bpp, byte[][] outs)
    {
        // The usual heuristic: the filter whose bytes, read as signed, have the smallest absolute sum.
        byte[] best = outs[0];
        long bestScore = long.MaxValue;
        for (int f = 0; f < 5; f++)
        {
            var o = ApplyFilter(f, cur, prev, bpp, outs[f]);
            long score = 0;
            for (int i = 1; i < o.Length; i++) { int v = (sbyte)o[i]; score += v < 0 ? -v : v; }
            if (score < bestScore) { bestScore = score; best = o; }
        }
        return best;
    }

    private static byte[] ApplyFilter(int f, byte[] cur, byte[] prev, int bpp, byte[] o)
    {
        o[0] = (byte)f;
        for (int i = 0; i < cur.Length; i++)
        {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
            o[i + 1] = f switch
            {
                0 => cur[i],
                1 => (byte)(cur[i] - a),
                2 => (byte)(cur[i] - b),
                3 => (byte)(cur[i] - ((a + b) >> 1)),
                _ => (byte)(cur[i] - Png.Paeth(a, b, c)),
            };
        }
        return o;
    }
}
