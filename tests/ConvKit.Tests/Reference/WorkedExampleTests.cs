using ConvKit.Descriptors;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Reference;

/// <summary>Small convolutions worked out by hand, the output-size formula, transposed convolution as the
/// transpose of the explicit convolution matrix, and 1x1 convolution as a per-pixel matrix product.</summary>
public class WorkedExampleTests
{
    [Fact]
    public void ThreeByThreeInputTwoByTwoKernel()
    {
        var x = Tensor.Arange<float>(1, 1, 3, 3);
        var w = Tensor.FromArray([0f, 1, 2, 3], 1, 1, 2, 2);
        var y = Functional.Conv2d(x, w);
        Assert.Equal([1, 1, 2, 2], y.ShapeArray());
        Assert.Equal([19f, 25, 37, 43], y.AsSpan().ToArray());
        Assert.Equal([19.0, 25, 37, 43], Functional.Conv2d(x.Cast<double>(), w.Cast<double>()).AsSpan().ToArray());
    }

    [Fact]
    public void PaddedByOneWithStrideThreeByTwo()
    {
        // Padded input is 5x5; windows start at rows {0, 3} and columns {0, 2}.
        var x = Tensor.Arange<float>(1, 1, 3, 3);
        var w = Tensor.FromArray([0f, 1, 2, 3], 1, 1, 2, 2);
        var y = Functional.Conv2d(x, w, stride: (3, 2), padding: 1);
        Assert.Equal([1, 1, 2, 2], y.ShapeArray());
        Assert.Equal([0f, 8, 6, 8], y.AsSpan().ToArray());
    }

    [Theory]
    [InlineData(8, 8, 3, 3, 1, 1, 1, 1, 8, 8)]
    [InlineData(8, 8, 5, 3, 2, 1, 1, 1, 8, 8)]
    [InlineData(8, 8, 3, 5, 0, 1, 3, 4, 2, 2)]
    [InlineData(7, 7, 3, 3, 0, 0, 2, 2, 3, 3)]
    public void OutputSizeFormula(int h, int w, int kh, int kw, int ph, int pw, int sh, int sw, int oh, int ow)
    {
        // out = floor((in + 2p - k) / s) + 1
        var d = ConvDescriptor.Create(2, [1, 1, h, w], [1, 1, kh, kw], stride: (sh, sw), padding: (ph, pw));
        Assert.Equal([oh, ow], d.OutputSize);
        var y = Functional.Conv2d(Tensor.Zeros(1, 1, h, w), Tensor.Zeros(1, 1, kh, kw), stride: (sh, sw), padding: (ph, pw));
        Assert.Equal([1, 1, oh, ow], y.ShapeArray());
    }

    /// <summary>The sparse matrix C with y = C·x (flattened, row-major) of a single-channel 2-d convolution.</summary>
    private static double[,] ConvMatrix(double[] k, int kh, int kw, int h, int w, int stride, int pad, out int oh, out int ow)
    {
        oh = (h + 2 * pad - kh) / stride + 1;
        ow = (w + 2 * pad - kw) / stride + 1;
        var c = new double[oh * ow, h * w];
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++)
                    {
                        int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w) c[oy * ow + ox, iy * w + ix] = k[ky * kw + kx];
                    }
        return c;
    }

    [Theory]
    [InlineData(1, 0, 0)]
    [InlineData(2, 0, 1)]
    [InlineData(2, 1, 1)]
    public void TransposedConvIsTheTransposedConvMatrix(int stride, int pad, int outputPadding)
    {
        var k = Enumerable.Range(1, 9).Select(v => (double)v).ToArray();
        var c = ConvMatrix(k, 3, 3, 4, 4, stride, pad, out int oh, out int ow);
        if (stride == 1) Assert.Equal((4, 16), (c.GetLength(0), c.GetLength(1)));
        var x = Tensor.Randn<double>(5, 1, 1, 4, 4);
        var wt = Tensor.FromArray(k, 1, 1, 3, 3);

        // Forward: Y = C·X.
        var y = Functional.Conv2d(x, wt, stride: stride, padding: pad);
        Assert.Equal([1, 1, oh, ow], y.ShapeArray());
        for (int i = 0; i < oh * ow; i++)
        {
            double s = 0;
            for (int j = 0; j < 16; j++) s += c[i, j] * x.AsSpan()[j];
            Assert.Equal(s, y.AsSpan()[i], 12);
        }

        // Transposed: Cᵀ·y, back to 4x4.
        var g = Tensor.Randn<double>(6, 1, 1, oh, ow);
        var t = Functional.ConvTranspose2d(g, wt, stride: stride, padding: pad, outputPadding: outputPadding);
        Assert.Equal([1, 1, 4, 4], t.ShapeArray());
        for (int j = 0; j < 16; j++)
        {
            double s = 0;
            for (int i = 0; i < oh * ow; i++) s += c[i, j] * g.AsSpan()[i];
            Assert.Equal(s, t.AsSpan()[j], 12);
        }
        // The float path agrees too.
        var tf = Functional.ConvTranspose2d(g.Cast<float>(), wt.Cast<float>(), stride: stride, padding: pad, outputPadding: outputPadding);
        for (int j = 0; j < 16; j++) Assert.Equal(t.AsSpan()[j], tf.AsSpan()[j], 4);
    }

    [Fact]
    public void OneByOneConvIsAPerPixelMatrixProduct()
    {
        int n = 2, ci = 5, co = 3, h = 3, w = 4;
        var x = Tensor.Randn<double>(7, n, ci, h, w);
        var wt = Tensor.Randn<double>(8, co, ci, 1, 1);
        var b = Tensor.Randn<double>(9, co);
        var y = Functional.Conv2d(x, wt, b);
        for (int b0 = 0; b0 < n; b0++)
            for (int k = 0; k < co; k++)
                for (int p = 0; p < h * w; p++)
                {
                    double s = b[k];
                    for (int c = 0; c < ci; c++) s += wt[k, c, 0, 0] * x.AsSpan()[(b0 * ci + c) * h * w + p];
                    Assert.Equal(s, y.AsSpan()[(b0 * co + k) * h * w + p], 12);
                }
    }

    [Fact]
    public void OneByOneConvIsOneGemmPerImage()
    {
        // Float32 engine: y[n] (K x HW) = W (K x C) · x[n] (C x HW).
        int n = 2, ci = 19, co = 7, hw = 5 * 6;
        var x = Tensor.Randn<float>(17, n, ci, 5, 6);
        var wt = Tensor.Randn<float>(18, co, ci, 1, 1);
        var y = Functional.Conv2d(x, wt);
        for (int b0 = 0; b0 < n; b0++)
        {
            var c = new float[co * hw];
            ConvKit.Kernels.Gemm.Sgemm(false, false, co, hw, ci, 1f, wt.AsSpan().ToArray(), ci, x.Select(b0).AsSpan().ToArray(), hw, 0f, c, hw);
            var got = y.Select(b0).AsSpan().ToArray();
            for (int i = 0; i < c.Length; i++) Assert.Equal(c[i], got[i], 4);
        }
    }

    [Fact]
    public void DepthwiseIsGroupedConvWithGroupsEqualToChannels()
    {
        var x = Tensor.Randn<double>(27, 2, 3, 6, 5);
        var w = Tensor.Randn<double>(28, 6, 1, 3, 3);
        var b = Tensor.Randn<double>(29, 6);
        var dw = Functional.DepthwiseConv2d(x, w, b, stride: 2, padding: 1);
        var g = Functional.Conv2d(x, w, b, stride: 2, padding: 1, groups: 3);
        Assert.Equal(g.AsSpan().ToArray(), dw.AsSpan().ToArray());
        // Output channel 2c + m sees only input channel c.
        var only1 = x.Clone();
        only1.Select(0).Select(0).Fill(0);
        only1.Select(0).Select(2).Fill(0);
        var y1 = Functional.DepthwiseConv2d(only1, w, null, stride: 2, padding: 1);
        Assert.All(y1.Select(0).Select(0).AsSpan().ToArray(), v => Assert.Equal(0.0, v));
        Assert.Contains(y1.Select(0).Select(2).AsSpan().ToArray(), v => v != 0);
    }

    [Fact]
    public void FlipIsTrueConvolution()
    {
        // True convolution of a unit impulse reproduces the kernel; correlation reproduces it rotated by 180°.
        var x = Tensor.Zeros<double>(1, 1, 5, 5);
        x[0, 0, 2, 2] = 1;
        var k = Tensor.FromArray([1.0, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1, 3, 3);
        var conv = Functional.Conv2d(x, k, padding: 1, flip: true);
        var corr = Functional.Conv2d(x, k, padding: 1);
        Assert.Equal(k.AsSpan().ToArray(), conv.Reshape(5, 5).Slice(1, 3).AsSpan().ToArray().Chunk(5).SelectMany(r => r[1..4]).ToArray());
        Assert.Equal(k.AsSpan().ToArray().Reverse(), corr.Reshape(5, 5).Slice(1, 3).AsSpan().ToArray().Chunk(5).SelectMany(r => r[1..4]).ToArray());
    }
}
