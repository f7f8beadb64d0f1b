using System.IO.Compression;

namespace ConvKit.IO;

/// <summary>An IDX array (the MNIST file format): dimensions and unsigned byte values.</summary>
/// <param name="Dims">Dimensions, e.g. [60000, 28, 28] for images or [60000] for labels.</param>
/// <param name="Data">Values in row-major order.</param>
public sealed record IdxArray(int[] Dims, byte[] Data);

/// <summary>
/// Reads IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed (detected by the gzip magic). Only unsigned byte
/// data (type 0x08) is accepted. The header is validated strictly: two zero bytes, the type code, 1..4 dimensions,
/// positive sizes, and a payload of exactly the product of the dimensions.
/// </summary>
public static class Idx
{
    /// <summary>Largest payload accepted (1 GiB), so a forged header cannot request an absurd allocation.</summary>
    public const long MaxElements = 1L << 30;

    /// <summary>Reads an IDX file from disk.</summary>
    public static IdxArray Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var f = File.OpenRead(path);
        try { return Read(f); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{Path.GetFileName(path)}: {e.Message}", e); }
    }

    /// <summary>Reads an IDX stream (gzip or raw).</summary>
    public static IdxArray Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var raw = ReadAll(stream);
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                raw = ReadAll(gz, MaxElements + 64);
            }
            catch (InvalidDataException e) { throw new InvalidDataException($"IDX: corrupt gzip data ({e.Message}).", e); }
        }
        return Parse(raw);
    }

    /// <summary>Parses uncompressed IDX bytes.</summary>
    public static IdxArray Parse(ReadOnlySpan<byte> b)
    {
        if (b.Length < 4) throw new InvalidDataException($"IDX: {b.Length} bytes is too short for the 4-byte magic number.");
        if (b[0] != 0 || b[1] != 0) throw new InvalidDataException($"IDX: bad magic number 0x{b[0]:x2}{b[1]:x2}{b[2]:x2}{b[3]:x2} (must start with two zero bytes).");
        if (b[2] != 0x08) throw new InvalidDataException($"IDX: element type 0x{b[2]:x2} is not supported (only unsigned bytes, 0x08).");
        int nd = b[3];
        if (nd is < 1 or > 4) throw new InvalidDataException($"IDX: {nd} dimensions (expected 1 to 4).");
        if (b.Length < 4 + 4 * nd) throw new InvalidDataException($"IDX: truncated header ({b.Length} bytes for {nd} dimensions).");
        var dims = new int[nd];
        long count = 1;
        for (int i = 0; i < nd; i++)
        {
            uint d = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b.Slice(4 + 4 * i, 4));
            if (d == 0 || d > int.MaxValue) throw new InvalidDataException($"IDX: dimension {i} has invalid size {d}.");
            dims[i] = (int)d;
            count *= d;
            if (count > MaxElements) throw new InvalidDataException($"IDX: the dimensions describe more than {MaxElements} elements.");
        }
        long payload = b.Length - (4 + 4 * nd);
        if (payload != count)
            throw new InvalidDataException($"IDX: dimensions [{string.Join(", ", dims)}] need {count} data bytes, the file has {payload}.");
        return new IdxArray(dims, b.Slice(4 + 4 * nd).ToArray());
    }

    /// <summary>Writes an uncompressed unsigned-byte IDX file (used by tests and tools).</summary>
    public static byte[] Serialize(int[] dims, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(dims);
        if (dims.Length is < 1 or > 4) throw new ArgumentException($"dims: 1 to 4 dimensions, got {dims.Length}.", nameof(dims));
        long count = 1;
        foreach (var d in dims) count *= d;
        if (count != data.Length) throw new ArgumentException($"data: {data.Length} bytes for dims [{string.Join(", ", dims)}].", nameof(data));
        var r = new byte[4 + 4 * dims.Length + data.Length];
        r[2] = 0x08; r[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(r.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(r.AsSpan(4 + 4 * dims.Length));
        return r;
    }

    private static byte[] ReadAll(Stream s, long limit = long.MaxValue)
    {
        using var ms = new MemoryStream();
        var buf = new byte[1 << 16];
        int n;
        while ((n = s.Read(buf, 0, buf.Length)) > 0)
        {
            ms.Write(buf, 0, n);
            if (ms.Length > limit) throw new InvalidDataException($"IDX: decompressed data exceeds {limit} bytes.");
        }
        return ms.ToArray();
    }
}
