using ConvKit.Calculators;
using ConvKit.Descriptors;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Calculators;

public class ConvCalculatorTests
{
    [Theory]
    [InlineData(8, 3, 1, 1, 1, 8)]
    [InlineData(8, 5, 1, 2, 1, 8)]
    [InlineData(8, 3, 3, 0, 1, 2)]
    [InlineData(8, 5, 4, 1, 1, 2)]
    [InlineData(7, 3, 1, 0, 2, 3)]
    [InlineData(224, 7, 2, 3, 1, 112)]
    [InlineData(5, 5, 1, 0, 1, 1)]
    public void ConvOutputSize(int input, int k, int s, int p, int d, int expected)
    {
        Assert.Equal(expected, ConvCalculator.ConvOutputSize(input, k, s, p, d));
        Assert.Equal(expected, ConvDescriptor.Create(1, [1, 1, input], [1, 1, k], stride: s, padding: p, dilation: d).OutputSize[0]);
    }

    [Fact]
    public void ConvOutputShapeMatchesTheDescriptorOnRandomGeometries()
    {
        var r = new SeededRandom(3);
        for (int t = 0; t < 300; t++)
        {
            int rank = r.NextInt(1, 4);
            var input = Enumerable.Range(0, rank).Select(_ => r.NextInt(1, 20)).ToArray();
            var k = Enumerable.Range(0, rank).Select(_ => r.NextInt(1, 6)).ToArray();
            var s = Enumerable.Range(0, rank).Select(_ => r.NextInt(1, 4)).ToArray();
            var d = Enumerable.Range(0, rank).Select(_ => r.NextInt(1, 4)).ToArray();
            Padding p = r.NextInt(4) switch
            {
                0 => Padding.Same,
                1 => Padding.SameLower,
                2 => Padding.Asymmetric(Enumerable.Range(0, 2 * rank).Select(_ => r.NextInt(0, 4)).ToArray()),
                _ => Padding.Symmetric(Enumerable.Range(0, rank).Select(_ => r.NextInt(0, 4)).ToArray()),
            };
            ConvDescriptor desc;
            try { desc = ConvDescriptor.Create(rank, [1, 1, .. input], [1, 1, .. k], stride: s, padding: p, dilation: d); }
            catch (ArgumentException)
            {
                Assert.ThrowsAny<ArgumentException>(() => ConvCalculator.ConvOutputShape(input, k, s, p, d));
                continue;
            }
            Assert.Equal(desc.OutputSize, ConvCalculator.ConvOutputShape(input, k, s, p, d));
            if (p.Kind == PaddingKind.Explicit && !p.IsPairs)
                for (int i = 0; i < rank; i++)
                    Assert.Equal(desc.OutputSize[i], ConvCalculator.ConvOutputSize(input[i], k[i], s[i], desc.PadBegin[i], d[i]));
        }
    }

    [Theory]
    [InlineData(4, 3, 2, 1, 1, 1, 8)]
    [InlineData(4, 3, 1, 0, 0, 1, 6)]
    [InlineData(3, 4, 3, 0, 2, 1, 12)]
    [InlineData(5, 3, 1, 2, 1, 2, 6)]
    public void TransposedOutputSize(int input, int k, int s, int p, int op, int d, int expected)
    {
        Assert.Equal(expected, ConvCalculator.TransposedOutputSize(input, k, s, p, op, d));
        Assert.Equal(expected, ConvTransposeDescriptor.Create(1, [1, 1, input], [1, 1, k], stride: s, padding: p, outputPadding: op, dilation: d).OutputShape[2]);
    }

    /// <summary>Values checked against torch.nn.functional.max_pool1d.</summary>
    [Theory]
    [InlineData(5, 2, 2, 0, 1, true, 3)]
    [InlineData(5, 2, 2, 0, 1, false, 2)]
    [InlineData(6, 3, 2, 1, 1, true, 4)]
    [InlineData(5, 2, 2, 1, 1, true, 3)]
    [InlineData(7, 3, 3, 1, 1, true, 3)]
    [InlineData(10, 3, 2, 1, 2, true, 5)]
    [InlineData(112, 3, 2, 1, 1, false, 56)]
    public void PoolOutputSizeWithCeilMode(int input, int k, int s, int p, int d, bool ceil, int expected)
        => Assert.Equal(expected, ConvCalculator.PoolOutputSize(input, k, s, p, d, ceil));

    [Fact]
    public void ParametersMacsAndFlops()
    {
        Assert.Equal(64 * 128 * 9 + 128, ConvCalculator.ConvParameters(64, 128, [3, 3]));
        Assert.Equal(64 * 128 * 9, ConvCalculator.ConvParameters(64, 128, [3, 3], bias: false));
        Assert.Equal(32 * 128 * 9 + 128, ConvCalculator.ConvParameters(64, 128, [3, 3], groups: 2));
        Assert.Equal(64 * 9 * 2 + 128, ConvCalculator.ConvParameters(64, 128, [3, 3], groups: 64));
        Assert.Equal(4 * 8 * 3 * 3 * 3, ConvCalculator.ConvParameters(4, 8, [3, 3, 3], bias: false));
        // C_in/groups·k_h·k_w MACs per output element.
        Assert.Equal(118_013_952L, ConvCalculator.ConvMacs(3, 64, [7, 7], [112, 112]));
        Assert.Equal(2 * 118_013_952L, ConvCalculator.Flops(ConvCalculator.ConvMacs(3, 64, [7, 7], [112, 112])));
        Assert.Equal(2L * 128 * 28 * 28 * 32 * 9, ConvCalculator.ConvMacs(64, 128, [3, 3], [28, 28], groups: 2, batch: 2));
        var d = ConvDescriptor.Create(2, [2, 64, 30, 30], [128, 32, 3, 3], groups: 2);
        Assert.Equal(d.Macs, ConvCalculator.ConvMacs(64, 128, [3, 3], d.OutputSize, groups: 2, batch: 2));
        Assert.Equal(64L * 8 * 8 * 32 * 16, ConvCalculator.TransposedConvMacs(64, 32, [4, 4], [8, 8]));
        Assert.Equal(512 * 1000 + 1000, ConvCalculator.LinearParameters(512, 1000));
    }

    [Fact]
    public void ReceptiveFields()
    {
        Assert.Equal(5, ConvCalculator.EffectiveKernelSize(3, 2));
        Assert.Equal(7, ConvCalculator.EffectiveKernelSize(3, 3));
        Assert.Equal(7.0, ConvCalculator.ReceptiveFieldOf([(3, 1, 1), (3, 1, 1), (3, 1, 1)]));
        Assert.Equal(5.0, ConvCalculator.ReceptiveFieldOf([(3, 1, 2)]));
        Assert.Equal(1.0, ConvCalculator.ReceptiveFieldOf([]));
        // Strided: r = 1 + 2·1 = 3 (jump 2), then 3 + 2·2 = 7 (jump 2), then 7 + 1·2 = 9 (jump 4).
        var steps = ConvCalculator.ReceptiveFields([(3, 2, 1), (3, 1, 1), (2, 2, 1)]);
        Assert.Equal([new ReceptiveField(3, 2), new ReceptiveField(7, 2), new ReceptiveField(9, 4)], steps);
        // Dilations 1, 2, 4 of 3x3 kernels: 3, 7, 15 (the WaveNet / context-module growth).
        Assert.Equal(15.0, ConvCalculator.ReceptiveFieldOf([(3, 1, 1), (3, 1, 2), (3, 1, 4)]));
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        Assert.Equal("kernel", Assert.Throws<ArgumentException>(() => ConvCalculator.ConvOutputSize(2, 3)).ParamName);
        Assert.Equal("stride", Assert.Throws<ArgumentException>(() => ConvCalculator.ConvOutputSize(8, 3, 0)).ParamName);
        Assert.Equal("padding", Assert.Throws<ArgumentException>(() => ConvCalculator.ConvOutputSize(8, 3, 1, -1)).ParamName);
        Assert.Equal("dilation", Assert.Throws<ArgumentException>(() => ConvCalculator.EffectiveKernelSize(3, 0)).ParamName);
        Assert.Equal("outputPadding", Assert.Throws<ArgumentException>(() => ConvCalculator.TransposedOutputSize(4, 3, 2, 0, 2)).ParamName);
        Assert.Equal("padding", Assert.Throws<ArgumentException>(() => ConvCalculator.PoolOutputSize(8, 3, 2, 2)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => ConvCalculator.ConvParameters(6, 4, [3], groups: 4)).ParamName);
        Assert.Equal("kernel", Assert.Throws<ArgumentException>(() => ConvCalculator.ConvOutputShape([8, 8], [3])).ParamName);
        Assert.Throws<OverflowException>(() => ConvCalculator.ConvMacs(1 << 20, 1 << 20, [1 << 10, 1 << 10], [1 << 10, 1 << 10]));
    }
}
