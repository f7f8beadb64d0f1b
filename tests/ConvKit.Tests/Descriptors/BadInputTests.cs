using System.Text.Json;
using ConvKit.Descriptors;
using ConvKit.IO;
using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Descriptors;

/// <summary>Bad arguments fail with <see cref="ArgumentException"/> naming the argument (and shapes) in ParamName and
/// message; bad files with <see cref="InvalidDataException"/>.</summary>
public class BadInputTests
{
    private static ArgumentException Throws(string param, Action a, params string[] mentions)
    {
        var e = Assert.ThrowsAny<ArgumentException>(a);
        Assert.Equal(param, e.ParamName);
        Assert.StartsWith(param + ":", e.Message);
        foreach (var m in mentions) Assert.Contains(m, e.Message);
        return e;
    }

    [Fact]
    public void MismatchedChannels() =>
        Throws("weight", () => Functional.Conv2d(Tensor.Zeros(1, 3, 5, 5), Tensor.Zeros(2, 4, 3, 3)), "[2, 4, 3, 3]", "[1, 3, 5, 5]");

    [Fact]
    public void MismatchedChannelsTransposed() =>
        Throws("weight", () => Functional.ConvTranspose2d(Tensor.Zeros(1, 3, 5, 5), Tensor.Zeros(2, 4, 3, 3)), "[2, 4, 3, 3]", "[1, 3, 5, 5]");

    [Fact]
    public void GroupsNotDividing()
    {
        Throws("groups", () => Functional.Conv2d(Tensor.Zeros(1, 4, 5, 5), Tensor.Zeros(3, 2, 3, 3), groups: 2), "output channels 3");
        Throws("groups", () => Functional.Conv2d(Tensor.Zeros(1, 5, 5, 5), Tensor.Zeros(4, 1, 3, 3), groups: 2), "input channels 5");
        Throws("groups", () => Functional.Conv2d(Tensor.Zeros(1, 4, 5, 5), Tensor.Zeros(4, 4, 3, 3), groups: 0));
        Throws("groups", () => Functional.ConvTranspose1d(Tensor.Zeros(1, 3, 5), Tensor.Zeros(3, 1, 3), groups: 2));
    }

    [Fact]
    public void KernelLargerThanPaddedInput()
    {
        Throws("weight", () => Functional.Conv2d(Tensor.Zeros(1, 1, 2, 5), Tensor.Zeros(1, 1, 3, 3)), "[3, 3]", "axis 0");
        Throws("weight", () => Functional.Conv1d(Tensor.Zeros(1, 1, 5), Tensor.Zeros(1, 1, 3), dilation: 3), "dilated extent 7");
        // With padding the same kernel fits.
        Assert.Equal([1, 1, 2, 5], Functional.Conv2d(Tensor.Zeros(1, 1, 2, 5), Tensor.Zeros(1, 1, 3, 3), padding: 1).ShapeArray());
    }

    [Fact]
    public void ZeroOrNegativeSizes()
    {
        Throws("input", () => ConvDescriptor.Create(2, [1, 0, 5, 5], [1, 1, 3, 3]), "[1, 0, 5, 5]");
        Throws("weight", () => ConvDescriptor.Create(2, [1, 1, 5, 5], [1, 1, 0, 3]), "[1, 1, 0, 3]");
        Throws("input", () => ConvDescriptor.Create(2, [1, 1, -5, 5], [1, 1, 3, 3]));
        Throws("stride", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 1, 3, 3), stride: 0));
        Throws("stride", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 1, 3, 3), stride: (1, 2, 3)));
        Throws("dilation", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 1, 3, 3), dilation: (1, -1)));
        Throws("padding", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 1, 3, 3), padding: -1));
        Throws("padding", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 1, 3, 3), padding: Padding.Asymmetric(1, 1, 1)));
        Throws("padding", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 1, 3, 3), padding: Padding.Asymmetric(1, 1, 1, 1, 1, 1)));
        Throws("padding", () => Functional.ConvTranspose2d(Tensor.Zeros(1, 1, 2, 2), Tensor.Zeros(1, 1, 3, 3), padding: 2), "not positive");
    }

    [Fact]
    public void WrongRanksAndBias()
    {
        Throws("input", () => Functional.Conv2d(Tensor.Zeros(5, 5), Tensor.Zeros(1, 1, 3, 3)), "[5, 5]");
        Throws("weight", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 3, 3)), "[1, 3, 3]");
        Throws("bias", () => Functional.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(2, 1, 3, 3), Tensor.Zeros(3)), "[2]", "[3]");
        Throws("bias", () => Functional.ConvTranspose2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(1, 2, 3, 3), Tensor.Zeros(1)));
        Throws("rank", () => ConvDescriptor.Create(4, [1, 1, 2, 2, 2, 2], [1, 1, 1, 1, 1, 1]));
        Throws("weight", () => Functional.DepthwiseConv2d(Tensor.Zeros(1, 2, 5, 5), Tensor.Zeros(4, 2, 3, 3)));
        var d = ConvDescriptor.Create(2, [1, 1, 5, 5], [1, 1, 3, 3]);
        Throws("input", () => Functional.ConvForward(d, Tensor.Zeros(1, 1, 5, 4), Tensor.Zeros(1, 1, 3, 3), null), "[1, 1, 5, 5]", "[1, 1, 5, 4]");
        Throws("gradOutput", () => Functional.ConvBackwardData(d, Tensor.Zeros(1, 1, 3, 3), Tensor.Zeros(1, 1, 2, 2)), "[1, 1, 3, 3]");
        Throws("gradOutput", () => Functional.ConvBackwardBias(Tensor.Zeros(4)));
    }

    [Fact]
    public void OutputPaddingTooLarge()
    {
        Throws("outputPadding", () => Functional.ConvTranspose2d(Tensor.Zeros(1, 1, 3, 3), Tensor.Zeros(1, 1, 3, 3), stride: 2, outputPadding: 2), "stride [2, 2]");
        Throws("outputPadding", () => Functional.ConvTranspose1d(Tensor.Zeros(1, 1, 3), Tensor.Zeros(1, 1, 3), stride: 1, outputPadding: 1));
        // Smaller than the dilation is allowed, as in PyTorch.
        Assert.Equal([1, 1, 8], Functional.ConvTranspose1d(Tensor.Zeros(1, 1, 3), Tensor.Zeros(1, 1, 3), dilation: 2, outputPadding: 1).ShapeArray());
    }

    [Fact]
    public void OutputSizeOutOfRange()
    {
        var x = Tensor.Zeros(1, 1, 4, 4);
        var w = Tensor.Zeros(1, 1, 3, 3);
        Throws("outputSize", () => Functional.ConvTranspose2d(x, w, stride: 2, padding: 1, outputSize: [9, 8]), "7..8");
        Throws("outputSize", () => Functional.ConvTranspose2d(x, w, stride: 2, padding: 1, outputSize: [6, 8]), "7..8");
        Throws("outputSize", () => Functional.ConvTranspose2d(x, w, stride: 2, outputSize: [8, 8, 8]));
        Throws("padding", () => Functional.ConvTranspose2d(x, w, padding: "same"));
    }

    [Fact]
    public void ProductOfSizesOverflowingInt()
    {
        Throws("input", () => ConvDescriptor.Create(2, [1, 1, 50000, 50000], [1, 1, 1, 1]), "overflows");
        Throws("weight", () => ConvDescriptor.Create(2, [1, 65536, 2, 2], [65536, 65536, 1, 1]), "overflows");
        Throws("input", () => ConvTransposeDescriptor.Create(2, [1, 1, 1000, 1000], [1, 1, 3, 3], stride: 100), "overflows");
        Throws("weight", () => ConvDescriptor.Create(2, [1, 4, 5, 5], [4, 1 << 30, 3, 3], groups: 4));
        Throws("shape", () => Tensor.Zeros(1 << 16, 1 << 16));
    }

    [Fact]
    public void ReflectAndCircularPaddingTooLarge()
    {
        Throws("padding", () => Functional.Conv2d(Tensor.Zeros(1, 1, 3, 5), Tensor.Zeros(1, 1, 3, 3), padding: 3, paddingMode: PaddingMode.Reflect), "reflect", "input size 3");
        Throws("padding", () => Functional.Conv1d(Tensor.Zeros(1, 1, 3), Tensor.Zeros(1, 1, 3), padding: Padding.Asymmetric(0, 3), paddingMode: PaddingMode.Reflect));
        Throws("padding", () => Functional.Conv1d(Tensor.Zeros(1, 1, 3), Tensor.Zeros(1, 1, 3), padding: 4, paddingMode: PaddingMode.Circular), "circular");
        // pad == size is fine for circular (and replicate has no limit).
        Assert.Equal([1, 1, 7], Functional.Conv1d(Tensor.Zeros(1, 1, 3), Tensor.Zeros(1, 1, 3), padding: 3, paddingMode: PaddingMode.Circular).ShapeArray());
        Assert.Equal([1, 1, 13], Functional.Conv1d(Tensor.Zeros(1, 1, 3), Tensor.Zeros(1, 1, 3), padding: 6, paddingMode: PaddingMode.Replicate).ShapeArray());
    }

    [Fact]
    public void WrongNpyHeader()
    {
        var path = Path.Combine(Path.GetTempPath(), "convkit-bad-" + Guid.NewGuid().ToString("N") + ".npy");
        try
        {
            File.WriteAllBytes(path, [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 4, 0, (byte)'{', (byte)'}', (byte)' ', (byte)'\n']);
            var e = Assert.Throws<InvalidDataException>(() => Npy.ReadTensor<float>(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("lacks descr", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void UnknownOperatorName()
    {
        var call = new OpCall<float>("conv4d", [], []);
        var e = Throws("op", () => OpRegistry.Run(call), "conv4d");
        Assert.Contains("conv2d", e.Message);
    }

    [Fact]
    public void BadOperatorAttributes()
    {
        var inputs = new Dictionary<string, Tensor<float>> { ["input"] = Tensor.Zeros(1, 1, 5, 5), ["weight"] = Tensor.Zeros(1, 1, 3, 3) };
        OpCall<float> Call(string op, string attrs) => new(op, inputs, JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(attrs)!);
        Throws("padding_mode", () => OpRegistry.Run(Call("conv2d", """{"padding_mode": "mirror"}""")), "mirror");
        Throws("stride", () => OpRegistry.Run(Call("conv2d", """{"stride": "two"}""")));
        Throws("padding", () => OpRegistry.Run(Call("conv2d", """{"padding": "full"}""")), "full");
        Throws("groups", () => OpRegistry.Run(Call("conv2d", """{"groups": 1.5}""")));
        Throws("grad_output", () => OpRegistry.Run(Call("grad.conv2d_input", """{"input_size": [1, 1, 5, 5]}""")));
        Throws("input_size", () => OpRegistry.Run(Call("grad.conv2d_input", "{}")));
        Throws("weight_size", () => OpRegistry.Run(Call("grad.conv2d_weight", "{}")));
    }
}
