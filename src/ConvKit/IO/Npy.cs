using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using ConvKit.Tensors;

namespace ConvKit.IO;

/// <summary>An array read from a .npy file: its shape, NumPy dtype and values (kept as double, exact for
/// float32/float64 and for int64 up to 2^53).</summary>
public sealed class NpyArray
{
    /// <summary>Shape in C order.</summary>
    public int[] Shape { get; }
    /// <summary>NumPy dtype descriptor without byte order, e.g. "f4", "f8", "i8".</summary>
    public string DType { get; }
    /// <summary>The values.</summary>
    public double[] Values { get; }

    internal NpyArray(int[] shape, string dtype, double[] values) { Shape = shape; DType = dtype; Values = values; }

    /// <summary>Converts to a tensor of element type <typeparamref name="T"/>.</summary>
    public Tensor<T> ToTensor<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var data = new T[Values.Length];
        for (int i = 0; i < data.Length; i++) data[i] = T.CreateTruncating(Values[i]);
        return new Tensor<T>(data, Shape);
    }
}

/// <summary>
/// Reader and writer of NumPy's .npy format (versions 1-3; float32, float64, int64, int32, uint8, bool; C order,
/// little-endian). The interchange format with NumPy and PyTorch. The header is parsed strictly and the data
/// length is checked against the file before anything is allocated.
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads a .npy file.</summary>
    public static NpyArray Read(string path)
    {
        using var fs = File.OpenRead(path);
        try { return Read(fs); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>Reads a .npy stream.</summary>
    public static NpyArray Read(Stream s)
    {
        var pre = ReadExactly(s, 8, "preamble");
        for (int i = 0; i < 6; i++)
            if (pre[i] != Magic[i]) throw new InvalidDataException("not a .npy file (bad magic string).");
        int major = pre[6];
        int headerLen;
        if (major == 1) headerLen = BinaryPrimitives.ReadUInt16LittleEndian(ReadExactly(s, 2, "header length"));
        else if (major is 2 or 3)
        {
            uint h = BinaryPrimitives.ReadUInt32LittleEndian(ReadExactly(s, 4, "header length"));
            if (h > 1 << 20) throw new InvalidDataException($"header length {h} is implausibly large.");
            headerLen = (int)h;
        }
        else throw new InvalidDataException($"unsupported .npy version {major}.{pre[7]}.");
        if (s.CanSeek && headerLen > s.Length - s.Position) throw new InvalidDataException($"header length {headerLen} exceeds the file.");
        string header = Encoding.UTF8.GetString(ReadExactly(s, headerLen, "header"));
        var (descr, fortran, shape) = ParseHeader(header);
        if (fortran) throw new InvalidDataException("Fortran-order arrays are not supported; save with np.ascontiguousarray (C order).");
        char order = descr[0];
        string dtype = descr[1..];
        int itemSize = dtype switch
        {
            "f4" or "i4" => 4,
            "f8" or "i8" => 8,
            "u1" or "b1" => 1,
            _ => throw new InvalidDataException($"unsupported dtype '{descr}' (supported: float32, float64, int64, int32, uint8, bool)."),
        };
        if (itemSize > 1 && order != '<' && !(order == '=' && BitConverter.IsLittleEndian))
            throw new InvalidDataException($"unsupported byte order in dtype '{descr}' (little-endian only).");
        // The header is untrusted: a shape whose product overflows is a malformed file, not a bad argument.
        long countL = 1;
        foreach (var v0 in shape)
        {
            countL *= v0;
            if (countL > int.MaxValue) throw new InvalidDataException($"shape {ShapeMath.Format(shape)} has more than {int.MaxValue} elements.");
        }
        int count = (int)countL;
        long bytes = (long)count * itemSize;
        if (bytes > Array.MaxLength) throw new InvalidDataException($"shape {ShapeMath.Format(shape)} of {dtype} needs {bytes} bytes, more than one array can hold.");
        if (s.CanSeek && bytes > s.Length - s.Position)
            throw new InvalidDataException($"data is truncated: shape {ShapeMath.Format(shape)} of {dtype} needs {bytes} bytes, {s.Length - s.Position} remain.");
        var raw = ReadExactly(s, (int)bytes, "data");
        var v = new double[count];
        for (int i = 0; i < count; i++)
        {
            var b = raw.AsSpan(i * itemSize, itemSize);
            v[i] = dtype switch
            {
                "f4" => BinaryPrimitives.ReadSingleLittleEndian(b),
                "f8" => BinaryPrimitives.ReadDoubleLittleEndian(b),
                "i4" => BinaryPrimitives.ReadInt32LittleEndian(b),
                "i8" => BinaryPrimitives.ReadInt64LittleEndian(b),
                _ => b[0],
            };
        }
        return new NpyArray(shape, dtype, v);
    }

    /// <summary>Reads a .npy file straight into a tensor.</summary>
    public static Tensor<T> ReadTensor<T>(string path) where T : unmanaged, IFloatingPointIeee754<T> => Read(path).ToTensor<T>();

    /// <summary>Writes a float32 (or float64 for double tensors) .npy file.</summary>
    public static void Write<T>(string path, Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool dbl = typeof(T) == typeof(double);
        var span = t.AsSpan();
        var data = new byte[span.Length * (dbl ? 8 : 4)];
        for (int i = 0; i < span.Length; i++)
        {
            if (dbl) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(i * 8), double.CreateTruncating(span[i]));
            else BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), float.CreateTruncating(span[i]));
        }
        WriteRaw(path, dbl ? "<f8" : "<f4", t.Shape, data);
    }

    /// <summary>Writes an int64 .npy file (indices, labels).</summary>
    public static void WriteInt64(string path, ReadOnlySpan<int> shape, ReadOnlySpan<long> values)
    {
        var data = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(i * 8), values[i]);
        WriteRaw(path, "<i8", shape, data);
    }

    private static void WriteRaw(string path, string descr, ReadOnlySpan<int> shape, byte[] data)
    {
        string shapeStr = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape.ToArray()) + ")";
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeStr}, }}";
        int total = 10 + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        string header = dict + new string(' ', pad) + "\n";
        using var fs = File.Create(path);
        fs.Write(Magic);
        fs.WriteByte(1); fs.WriteByte(0);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        fs.Write(len);
        fs.Write(Encoding.ASCII.GetBytes(header));
        fs.Write(data);
    }

    private static byte[] ReadExactly(Stream s, int n, string what)
    {
        // On a stream of unknown length, grow the buffer as bytes arrive instead of trusting n up front.
        var buf = new byte[s.CanSeek ? n : Math.Min(n, 1 << 20)];
        int got = 0;
        while (got < n)
        {
            if (got == buf.Length) Array.Resize(ref buf, (int)Math.Min(n, 2L * buf.Length));
            int r = s.Read(buf, got, buf.Length - got);
            if (r == 0) throw new InvalidDataException($"file is truncated while reading the {what} ({got} of {n} bytes).");
            got += r;
        }
        return buf;
    }

    /// <summary>Parses the Python dict literal of the header: {'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }.</summary>
    private static (string descr, bool fortran, int[] shape) ParseHeader(string h)
    {
        string? descr = null; bool? fortran = null; int[]? shape = null;
        h = h.Trim();
        if (!h.StartsWith('{') || !h.EndsWith('}')) throw new InvalidDataException($"malformed header '{h}'.");
        int i = 1;
        while (true)
        {
            SkipWs(h, ref i);
            if (i >= h.Length - 1) break;
            string key = ReadQuoted(h, ref i);
            SkipWs(h, ref i);
            Expect(h, ref i, ':');
            SkipWs(h, ref i);
            switch (key)
            {
                case "descr": descr = ReadQuoted(h, ref i); break;
                case "fortran_order":
                    if (h.AsSpan(i).StartsWith("True")) { fortran = true; i += 4; }
                    else if (h.AsSpan(i).StartsWith("False")) { fortran = false; i += 5; }
                    else throw new InvalidDataException($"malformed fortran_order in header '{h}'.");
                    break;
                case "shape":
                    Expect(h, ref i, '(');
                    int close = h.IndexOf(')', i);
                    if (close < 0) throw new InvalidDataException($"malformed shape in header '{h}'.");
                    var parts = h[i..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    shape = new int[parts.Length];
                    for (int k = 0; k < parts.Length; k++)
                        if (!int.TryParse(parts[k].TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out shape[k]))
                            throw new InvalidDataException($"malformed shape entry '{parts[k]}' in header '{h}'.");
                    i = close + 1;
                    break;
                default: throw new InvalidDataException($"unexpected key '{key}' in header '{h}'.");
            }
            SkipWs(h, ref i);
            if (i < h.Length && h[i] == ',') i++;
        }
        if (descr is null || fortran is null || shape is null) throw new InvalidDataException($"header '{h}' lacks descr, fortran_order or shape.");
        if (descr.Length < 3) throw new InvalidDataException($"malformed dtype '{descr}'.");
        return (descr, fortran.Value, shape);
    }

    private static void SkipWs(string h, ref int i) { while (i < h.Length && char.IsWhiteSpace(h[i])) i++; }

    private static void Expect(string h, ref int i, char c)
    {
        if (i >= h.Length || h[i] != c) throw new InvalidDataException($"malformed header '{h}': expected '{c}' at {i}.");
        i++;
    }

    private static string ReadQuoted(string h, ref int i)
    {
        if (i >= h.Length || (h[i] != '\'' && h[i] != '"')) throw new InvalidDataException($"malformed header '{h}': expected a quoted string at {i}.");
        char q = h[i++];
        int end = h.IndexOf(q, i);
        if (end < 0) throw new InvalidDataException($"malformed header '{h}': unterminated string.");
        var s = h[i..end];
        i = end + 1;
        return s;
    }
}
