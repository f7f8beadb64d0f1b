using ConvKit.Imaging;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Imaging;

public class ImageTests
{
    [Fact]
    public void TensorConversionClampsOrNormalizes()
    {
        var t = Tensor.FromArray([-0.5f, 0f, 0.5f, 1f, 2f, float.NaN], 1, 2, 3);
        var clamped = Image.FromTensor(t);
        Assert.Equal(new ushort[] { 0, 0, 128, 255, 255, 0 }, clamped.Data);
        var mm = Image.FromTensor(t, 16, ImageScaling.MinMax);
        Assert.Equal(65535, mm.MaxValue);
        Assert.Equal(new ushort[] { 0, 13107, 26214, 39321, 65535, 0 }, mm.Data);
        var constant = Image.FromTensor(Tensor.Full(3f, 2, 2, 2), 8, ImageScaling.MinMax);
        Assert.All(constant.Data, v => Assert.Equal(0, v));
    }

    [Fact]
    public void ChannelLayoutIsChw()
    {
        var img = new Image(3, 2, 3);
        img[2, 1, 0] = 255; img[0, 1, 2] = 51;
        var t = img.ToTensor();
        Assert.Equal(1f, t[0, 1, 2]);
        Assert.Equal(0.2f, t[2, 1, 0]);
        Assert.Equal(img.Data, Image.FromTensor(t).Data);
    }

    [Fact]
    public void GrayUsesOpenCvLumaWeights()
    {
        var img = new Image(1, 1, 4);
        img[0, 0, 0] = 200; img[0, 0, 1] = 100; img[0, 0, 2] = 50; img[0, 0, 3] = 7;
        Assert.Equal((ushort)Math.Round(0.299 * 200 + 0.587 * 100 + 0.114 * 50), img.ToGray().Data[0]);
        Assert.Equal(3, img.WithoutAlpha().Channels);
    }

    [Fact]
    public void RejectsBadSizes()
    {
        Assert.Equal("width", Assert.Throws<ArgumentOutOfRangeException>(() => new Image(0, 1, 1)).ParamName);
        Assert.Equal("channels", Assert.Throws<ArgumentOutOfRangeException>(() => new Image(1, 1, 5)).ParamName);
        Assert.Equal("t", Assert.Throws<ArgumentException>(() => Image.FromTensor(new Tensor<float>(5, 2, 2))).ParamName);
        Assert.Throws<InvalidDataException>(() => Image.Decode([1, 2, 3]));
    }
}
