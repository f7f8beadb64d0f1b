using System.Text;
using ConvKit.IO;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.IO;

public sealed class NpyTests : IDisposable
{
    private static readonly string NumpyDir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "conv", "npy");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "convkit-npy-" + Guid.NewGuid().ToString("N"));

    public NpyTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private string Tmp(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Float32RoundTrip()
    {
        var t = Tensor.Randn<float>(1, 2, 3, 4);
        Npy.Write(Tmp("a.npy"), t);
        var a = Npy.Read(Tmp("a.npy"));
        Assert.Equal("f4", a.DType);
        Assert.Equal([2, 3, 4], a.Shape);
        Assert.Equal(t.AsSpan().ToArray(), a.ToTensor<float>().AsSpan().ToArray());
        // The header is padded so that the data starts on a 64-byte boundary, as NumPy does.
        Assert.Equal(0, (new FileInfo(Tmp("a.npy")).Length - 24 * 4) % 64);
    }

    [Fact]
    public void Float64AndInt64RoundTrip()
    {
        var t = Tensor.FromArray([1.0 / 3, -1e-300, double.MaxValue], 3);
        Npy.Write(Tmp("d.npy"), t);
        var d = Npy.Read(Tmp("d.npy"));
        Assert.Equal("f8", d.DType);
        Assert.Equal(t.AsSpan().ToArray(), d.Values);
        Npy.WriteInt64(Tmp("i.npy"), [2, 2], [1, -2, 3, 1L << 40]);
        var i = Npy.Read(Tmp("i.npy"));
        Assert.Equal("i8", i.DType);
        Assert.Equal([2, 2], i.Shape);
        Assert.Equal([1.0, -2, 3, 1L << 40], i.Values);
        // A slice (non-zero offset) writes only its own elements.
        Npy.Write(Tmp("s.npy"), Tensor.Arange<float>(3, 2).Select(1));
        Assert.Equal([2.0, 3.0], Npy.Read(Tmp("s.npy")).Values);
    }

    [Theory]
    [InlineData("f4_2x3.npy", "f4", new[] { 2, 3 }, new[] { 0, 0.25, 0.5, 0.75, 1, 1.25 })]
    [InlineData("f8_3.npy", "f8", new[] { 3 }, new[] { 1.5, -2.25, 1e-300 })]
    [InlineData("i8_2x2.npy", "i8", new[] { 2, 2 }, new[] { 1.0, -2, 3, 1099511627776 })]
    [InlineData("i4_4.npy", "i4", new[] { 4 }, new[] { 7.0, -8, 9, 0 })]
    [InlineData("u1_3.npy", "u1", new[] { 3 }, new[] { 0.0, 128, 255 })]
    [InlineData("bool_3.npy", "b1", new[] { 3 }, new[] { 1.0, 0, 1 })]
    [InlineData("scalar_f4.npy", "f4", new int[0], new[] { 3.5 })]
    [InlineData("empty_f4_0x3.npy", "f4", new[] { 0, 3 }, new double[0])]
    [InlineData("v2_f4_2.npy", "f4", new[] { 2 }, new[] { 0.5, 2 })]
    public void ReadsFilesWrittenByNumpy(string file, string dtype, int[] shape, double[] values)
    {
        var a = Npy.Read(Path.Combine(NumpyDir, file));
        Assert.Equal(dtype, a.DType);
        Assert.Equal(shape, a.Shape);
        Assert.Equal(values, a.Values);
    }

    [Theory]
    [InlineData("fortran_f4_2x3.npy", "Fortran")]
    [InlineData("bigendian_f4_3.npy", "byte order")]
    [InlineData("f2_3.npy", "unsupported dtype")]
    [InlineData("c8_2.npy", "unsupported dtype")]
    public void RejectsUnsupportedNumpyFiles(string file, string message)
    {
        var path = Path.Combine(NumpyDir, file);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path));
        Assert.Contains(message, e.Message);
        Assert.Contains(file, e.Message);
    }

    private static byte[] File1(string header, int dataBytes, byte major = 1)
    {
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', major, 0]);
        var h = Encoding.ASCII.GetBytes(header);
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)h.Length));
        else ms.Write(BitConverter.GetBytes((uint)h.Length));
        ms.Write(h);
        ms.Write(new byte[dataBytes]);
        return ms.ToArray();
    }

    private static InvalidDataException Bad(byte[] bytes, bool seekable = true)
    {
        Stream s = seekable ? new MemoryStream(bytes) : new NonSeekable(bytes);
        return Assert.Throws<InvalidDataException>(() => Npy.Read(s));
    }

    [Fact]
    public void TruncatedDataIsRejectedBeforeAllocating()
    {
        var bytes = File1("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }\n", 60);
        Assert.Contains("truncated", Bad(bytes).Message);
        Assert.Contains("truncated", Bad(bytes, seekable: false).Message);
        // A huge claimed size on a stream of unknown length fails at end of stream, without a huge allocation.
        var huge = File1("{'descr': '<f8', 'fortran_order': False, 'shape': (200000000,), }\n", 16);
        Assert.Contains("truncated", Bad(huge, seekable: false).Message);
        var real = File.ReadAllBytes(Path.Combine(NumpyDir, "f4_2x3.npy"));
        Assert.Contains("truncated", Bad(real[..^3]).Message);
        Assert.Contains("truncated", Bad(real[..5]).Message);
    }

    [Fact]
    public void BadMagicAndVersion()
    {
        var real = File.ReadAllBytes(Path.Combine(NumpyDir, "f4_2x3.npy"));
        var b = (byte[])real.Clone(); b[1] = (byte)'X';
        Assert.Contains("magic", Bad(b).Message);
        var v = (byte[])real.Clone(); v[6] = 9;
        Assert.Contains("version", Bad(v).Message);
        Assert.Contains("magic", Bad(Encoding.ASCII.GetBytes("PK\u0003\u0004 not an npy file")).Message);
    }

    [Fact]
    public void OversizedOrMalformedHeader()
    {
        // Version 2 header length of 2 GiB: refused before reading it.
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0]);
        ms.Write(BitConverter.GetBytes(0x80000000u));
        ms.Write(new byte[32]);
        Assert.Contains("header length", Bad(ms.ToArray()).Message);
        var v1 = File1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 8)[..12];
        Assert.Contains("header length", Bad(v1).Message);
        Assert.Contains("header", Bad(File1("{'descr': '<f4', 'shape': (2,), }\n", 8)).Message);
        Assert.Contains("shape", Bad(File1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n", 8)).Message);
        Assert.Contains("shape", Bad(File1("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }\n", 8)).Message);
        Assert.Contains("elements", Bad(File1("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }\n", 8)).Message);
        Assert.Contains("unexpected key", Bad(File1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}\n", 8)).Message);
        Assert.Contains("malformed", Bad(File1("descr f4\n", 8)).Message);
        Assert.Contains("unsupported dtype", Bad(File1("{'descr': '<U8', 'fortran_order': False, 'shape': (2,), }\n", 64)).Message);
    }

    [Fact]
    public void ReadsVersion3AndDoubleQuotes()
    {
        var bytes = File1("{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (1, 1), }\n", 0, major: 3);
        var all = bytes.Concat(BitConverter.GetBytes(2.5)).ToArray();
        var a = Npy.Read(new MemoryStream(all));
        Assert.Equal([2.5], a.Values);
        Assert.Equal([1, 1], a.Shape);
    }

    private sealed class NonSeekable(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
