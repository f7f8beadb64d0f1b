using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using System.Text.Json;
using ConvKit.Tensors;

namespace ConvKit.IO;

/// <summary>One tensor of a safetensors file: name, dtype (F32, F64 or I64), shape and raw little-endian bytes.</summary>
public sealed class SafetensorsTensor
{
    /// <summary>Name in the header (a state-dict key).</summary>
    public string Name { get; }
    /// <summary>"F32", "F64" or "I64".</summary>
    public string DType { get; }
    /// <summary>Shape.</summary>
    public int[] Shape { get; }
    /// <summary>Raw little-endian element bytes.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    internal SafetensorsTensor(string name, string dtype, int[] shape, ReadOnlyMemory<byte> bytes)
    { Name = name; DType = dtype; Shape = shape; Bytes = bytes; }

    /// <summary>Number of elements.</summary>
    public int Length => Bytes.Length / Safetensors.ElementSize(DType);

    /// <summary>The values converted to <typeparamref name="T"/> (integers are converted exactly where representable).</summary>
    public Tensor<T> ToTensor<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new Tensor<T>(Shape.Length == 0 ? [] : Shape);
        var dst = t.AsSpan();
        var src = Bytes.Span;
        for (int i = 0; i < dst.Length; i++)
        {
            dst[i] = DType switch
            {
                "F32" => T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(src.Slice(i * 4, 4))),
                "F64" => T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(src.Slice(i * 8, 8))),
                _ => T.CreateTruncating(BinaryPrimitives.ReadInt64LittleEndian(src.Slice(i * 8, 8))),
            };
        }
        return t;
    }
}

/// <summary>A tensor to write: its name, values and the dtype to store them as.</summary>
/// <param name="Name">Name (state-dict key).</param>
/// <param name="Shape">Shape.</param>
/// <param name="Values">Values in row-major order (converted to <paramref name="DType"/>).</param>
/// <param name="DType">"F32", "F64" or "I64".</param>
public readonly record struct SafetensorsEntry(string Name, int[] Shape, double[] Values, string DType = "F32");

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header mapping names to
/// {dtype, shape, data_offsets} (plus an optional string map <c>__metadata__</c>), then the raw little-endian data.
/// Reading validates strictly: header length bounds, UTF-8 JSON object, supported dtypes, shape products matching
/// byte lengths, offsets within the file and tensors contiguous and non-overlapping, covering the data exactly.
/// </summary>
public static class Safetensors
{
    /// <summary>Largest header accepted (100 MB, as the reference implementation).</summary>
    public const long MaxHeaderLength = 100_000_000;

    internal static int ElementSize(string dtype) => dtype switch
    {
        "F32" => 4,
        "F64" or "I64" => 8,
        _ => throw new InvalidDataException($"safetensors: unsupported dtype '{dtype}' (supported: F32, F64, I64)."),
    };

    /// <summary>Reads a file; see <see cref="Read(byte[], out Dictionary{string, string})"/>.</summary>
    public static List<SafetensorsTensor> Read(string path, out Dictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Read(File.ReadAllBytes(path), out metadata);
    }

    /// <summary>Parses a whole safetensors file in memory; throws <see cref="InvalidDataException"/> for anything malformed.</summary>
    public static List<SafetensorsTensor> Read(byte[] file, out Dictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Length < 8) throw new InvalidDataException($"safetensors: file of {file.Length} bytes is too short for the 8-byte header length.");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(0, 8));
        if (headerLen < 2 || headerLen > MaxHeaderLength)
            throw new InvalidDataException($"safetensors: header length {headerLen} is out of bounds (2..{MaxHeaderLength}).");
        if (headerLen > (ulong)(file.Length - 8))
            throw new InvalidDataException($"safetensors: header length {headerLen} exceeds the file ({file.Length} bytes).");
        int hl = (int)headerLen;
        var headerBytes = file.AsMemory(8, hl);
        if (headerBytes.Span[0] != (byte)'{') throw new InvalidDataException("safetensors: the header does not start with '{'.");
        long dataStart = 8 + hl;
        long dataLen = file.Length - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new InvalidDataException($"safetensors: the header is not valid JSON ({e.Message}).", e); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException("safetensors: the header is not a JSON object.");

        metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var items = new List<(string Name, string DType, int[] Shape, long Begin, long End)>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException("safetensors: __metadata__ must be an object of strings.");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"safetensors: __metadata__ value of '{m.Name}' is not a string.");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            var v = prop.Value;
            if (v.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"safetensors: entry '{prop.Name}' is not an object.");
            if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"safetensors: entry '{prop.Name}' has no dtype string.");
            string dtype = dt.GetString()!;
            int es = ElementSize(dtype);
            if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"safetensors: entry '{prop.Name}' has no shape array.");
            var shape = new int[sh.GetArrayLength()];
            long numel = 1;
            int k = 0;
            foreach (var d in sh.EnumerateArray())
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                    throw new InvalidDataException($"safetensors: entry '{prop.Name}' has an invalid dimension {d}.");
                shape[k++] = dim;
                numel *= dim;
                if (numel > int.MaxValue) throw new InvalidDataException($"safetensors: entry '{prop.Name}' is too large.");
            }
            if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
                throw new InvalidDataException($"safetensors: entry '{prop.Name}' needs data_offsets [begin, end].");
            var e0 = off[0]; var e1 = off[1];
            if (e0.ValueKind != JsonValueKind.Number || e1.ValueKind != JsonValueKind.Number || !e0.TryGetInt64(out long begin) || !e1.TryGetInt64(out long end))
                throw new InvalidDataException($"safetensors: entry '{prop.Name}' has non-integer data_offsets.");
            if (begin < 0 || end < begin || end > dataLen)
                throw new InvalidDataException($"safetensors: entry '{prop.Name}' data_offsets [{begin}, {end}] fall outside the {dataLen} data bytes.");
            if (end - begin != numel * es)
                throw new InvalidDataException($"safetensors: entry '{prop.Name}' is {end - begin} bytes but shape {ShapeMath.Format(shape)} of {dtype} needs {numel * es}.");
            if (items.Any(i => i.Name == prop.Name)) throw new InvalidDataException($"safetensors: duplicate entry '{prop.Name}'.");
            items.Add((prop.Name, dtype, shape, begin, end));
        }
        // Tensors must tile the data buffer: sorted by offset, each starts where the previous ended, no gaps or overlaps.
        var sorted = items.OrderBy(i => i.Begin).ThenBy(i => i.End).ToList();
        long pos = 0;
        foreach (var it in sorted)
        {
            if (it.Begin != pos)
                throw new InvalidDataException($"safetensors: entry '{it.Name}' starts at {it.Begin}, expected {pos} (tensors must be contiguous and non-overlapping).");
            pos = it.End;
        }
        if (pos != dataLen)
            throw new InvalidDataException($"safetensors: tensors cover {pos} bytes but the data section holds {dataLen}.");
        return items.Select(i => new SafetensorsTensor(i.Name, i.DType, i.Shape, file.AsMemory((int)(dataStart + i.Begin), (int)(i.End - i.Begin)))).ToList();
    }

    /// <summary>Writes tensors in the given order with an optional <c>__metadata__</c> string map.</summary>
    public static void Write(string path, IEnumerable<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        File.WriteAllBytes(path, Serialize(tensors, metadata));
    }

    /// <summary>Serializes tensors to the safetensors byte layout.</summary>
    public static byte[] Serialize(IEnumerable<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var headerStream = new MemoryStream();
        long offset = 0;
        using (var w = new Utf8JsonWriter(headerStream))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var t in list)
            {
                if (t.Name == "__metadata__" || !names.Add(t.Name)) throw new ArgumentException($"tensors: duplicate or reserved name '{t.Name}'.", nameof(tensors));
                int n = ShapeMath.Numel(t.Shape, nameof(tensors));
                if (n != t.Values.Length) throw new ArgumentException($"tensors: '{t.Name}' has {t.Values.Length} values for shape {ShapeMath.Format(t.Shape)}.", nameof(tensors));
                long bytes = (long)n * ElementSizeArg(t.DType);
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType);
                w.WriteStartArray("shape"); foreach (var d in t.Shape) w.WriteNumberValue(d); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(offset); w.WriteNumberValue(offset + bytes); w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        var header = headerStream.ToArray();
        int padded = (header.Length + 7) / 8 * 8; // pad with spaces so the data is 8-byte aligned
        var result = new byte[8 + padded + offset];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        header.CopyTo(result, 8);
        for (int i = 8 + header.Length; i < 8 + padded; i++) result[i] = (byte)' ';
        long pos = 8 + padded;
        foreach (var t in list)
        {
            var span = result.AsSpan((int)pos);
            for (int i = 0; i < t.Values.Length; i++)
            {
                switch (t.DType)
                {
                    case "F32": BinaryPrimitives.WriteSingleLittleEndian(span.Slice(i * 4), (float)t.Values[i]); break;
                    case "F64": BinaryPrimitives.WriteDoubleLittleEndian(span.Slice(i * 8), t.Values[i]); break;
                    default: BinaryPrimitives.WriteInt64LittleEndian(span.Slice(i * 8), (long)Math.Round(t.Values[i])); break;
                }
            }
            pos += (long)t.Values.Length * ElementSize(t.DType);
        }
        return result;
    }

    private static int ElementSizeArg(string dtype) => dtype is "F32" or "F64" or "I64"
        ? ElementSize(dtype)
        : throw new ArgumentException($"tensors: unsupported dtype '{dtype}' (supported: F32, F64, I64).", "tensors");

    /// <summary>Converts a tensor to an entry stored as <paramref name="dtype"/>.</summary>
    public static SafetensorsEntry Entry<T>(string name, Tensor<T> t, string dtype = "F32") where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = t.AsSpan();
        var v = new double[s.Length];
        for (int i = 0; i < v.Length; i++) v[i] = double.CreateTruncating(s[i]);
        return new SafetensorsEntry(name, t.ShapeArray(), v, dtype);
    }
}
