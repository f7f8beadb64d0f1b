using System.Buffers.Binary;
using System.Text;
using ConvKit.IO;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.IO;

public class SafetensorsTests
{
    private static byte[] Make(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var r = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(r, (ulong)h.Length);
        h.CopyTo(r, 8);
        return r;
    }

    [Fact]
    public void RoundTripKeepsNamesShapesDtypesAndMetadata()
    {
        var a = Tensor.Randn<float>(1, 2, 3);
        var b = Tensor.Randn<double>(2, 4);
        var bytes = Safetensors.Serialize(
            [Safetensors.Entry("a.weight", a), Safetensors.Entry("b", b, "F64"), new SafetensorsEntry("n", [], [7], "I64")],
            new Dictionary<string, string> { ["arch"] = "lenet" });
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8); // header space-padded to 8 bytes
        var t = Safetensors.Read(bytes, out var meta);
        Assert.Equal("lenet", meta["arch"]);
        Assert.Equal(["a.weight", "b", "n"], t.Select(x => x.Name));
        Assert.Equal(a.AsSpan().ToArray(), t[0].ToTensor<float>().AsSpan().ToArray());
        Assert.Equal(b.AsSpan().ToArray(), t[1].ToTensor<double>().AsSpan().ToArray());
        Assert.Equal("I64", t[2].DType);
        Assert.Empty(t[2].Shape);
        Assert.Equal(7.0, t[2].ToTensor<double>().AsSpan()[0]);
    }

    [Theory]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside")]            // truncated data
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12")]           // shape/bytes mismatch
    [InlineData("{\"x\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, "dtype")]              // unsupported dtype
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 6, "contiguous")] // overlap
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "contiguous")]         // gap
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover")]              // trailing bytes
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "dimension")]         // negative dim
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets")]                            // missing offsets
    [InlineData("{\"x\":", 0, "JSON")]                                                                   // broken JSON
    [InlineData("[1,2]", 0, "start")]                                                                    // not an object
    public void MalformedFilesAreRefused(string header, int dataBytes, string fragment)
    {
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(Make(header, dataBytes), out _));
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void HeaderLengthIsBounded()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        Assert.Contains("out of bounds", Assert.Throws<InvalidDataException>(() => Safetensors.Read(bytes, out _)).Message);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 100);
        Assert.Contains("exceeds the file", Assert.Throws<InvalidDataException>(() => Safetensors.Read(bytes, out _)).Message);
        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => Safetensors.Read(new byte[5], out _)).Message);
    }

    [Fact]
    public void EveryTruncationIsRefused()
    {
        var bytes = Safetensors.Serialize([Safetensors.Entry("w", Tensor.Randn<float>(3, 4))]);
        for (int len = 0; len < bytes.Length; len++)
            Assert.Throws<InvalidDataException>(() => Safetensors.Read(bytes.AsSpan(0, len).ToArray(), out _));
    }

    [Fact]
    public void WriterRejectsDuplicatesAndBadDtypes()
    {
        var t = Tensor.Zeros<float>(2);
        Assert.Equal("tensors", Assert.Throws<ArgumentException>(() => Safetensors.Serialize([Safetensors.Entry("a", t), Safetensors.Entry("a", t)])).ParamName);
        Assert.Equal("tensors", Assert.Throws<ArgumentException>(() => Safetensors.Serialize([Safetensors.Entry("a", t, "BF16")])).ParamName);
    }
}
