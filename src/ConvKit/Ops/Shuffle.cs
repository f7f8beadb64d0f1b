using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>
/// Data-movement operators that permute channels and pixels: ShuffleNet's channel shuffle and the sub-pixel
/// pixel_shuffle / pixel_unshuffle. Each is a pure permutation, so its gradient is the inverse permutation.
/// </summary>
public static class Shuffle
{
    /// <summary>
    /// Channel shuffle over [outer, C, inner] blocks: output channel j·groups + i = input channel i·(C/groups) + j
    /// (view as [groups, C/groups], transpose, flatten).
    /// </summary>
    public static void ChannelShuffle<T>(ReadOnlySpan<T> x, Span<T> y, int outer, int channels, int inner, int groups) where T : unmanaged
    {
        if (groups < 1 || channels % groups != 0)
            throw new ArgumentException($"groups: must be a positive divisor of the {channels} channels, got {groups}.", nameof(groups));
        CheckLengths(x.Length, y.Length, (long)outer * channels * inner, (long)outer * channels * inner);
        int per = channels / groups;
        for (int b = 0; b < outer; b++)
        {
            var src = x.Slice(b * channels * inner, channels * inner);
            var dst = y.Slice(b * channels * inner, channels * inner);
            for (int i = 0; i < groups; i++)
                for (int j = 0; j < per; j++)
                    src.Slice((i * per + j) * inner, inner).CopyTo(dst.Slice((j * groups + i) * inner, inner));
        }
    }

    /// <summary>Pixel shuffle over [outer, C·r², H, W] → [outer, C, H·r, W·r]: out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w].</summary>
    public static void PixelShuffle<T>(ReadOnlySpan<T> x, Span<T> y, int outer, int channels, int h, int w, int r) where T : unmanaged
    {
        long n = (long)outer * channels * h * w * r * r;
        CheckLengths(x.Length, y.Length, n, n);
        int hw = h * w, wr = w * r;
        for (int b = 0; b < outer; b++)
            for (int c = 0; c < channels; c++)
            {
                var dst = y.Slice((b * channels + c) * hw * r * r, hw * r * r);
                for (int i = 0; i < r; i++)
                    for (int j = 0; j < r; j++)
                    {
                        var src = x.Slice(((b * channels + c) * r * r + i * r + j) * hw, hw);
                        for (int hh = 0; hh < h; hh++)
                        {
                            int row = (hh * r + i) * wr + j;
                            for (int ww = 0; ww < w; ww++) dst[row + ww * r] = src[hh * w + ww];
                        }
                    }
            }
    }

    /// <summary>Pixel unshuffle, the inverse of <see cref="PixelShuffle{T}"/>: [outer, C, H·r, W·r] → [outer, C·r², H, W].</summary>
    public static void PixelUnshuffle<T>(ReadOnlySpan<T> x, Span<T> y, int outer, int channels, int h, int w, int r) where T : unmanaged
    {
        long n = (long)outer * channels * h * w * r * r;
        CheckLengths(x.Length, y.Length, n, n);
        int hw = h * w, wr = w * r;
        for (int b = 0; b < outer; b++)
            for (int c = 0; c < channels; c++)
            {
                var src = x.Slice((b * channels + c) * hw * r * r, hw * r * r);
                for (int i = 0; i < r; i++)
                    for (int j = 0; j < r; j++)
                    {
                        var dst = y.Slice(((b * channels + c) * r * r + i * r + j) * hw, hw);
                        for (int hh = 0; hh < h; hh++)
                        {
                            int row = (hh * r + i) * wr + j;
                            for (int ww = 0; ww < w; ww++) dst[hh * w + ww] = src[row + ww * r];
                        }
                    }
            }
    }

    private static void CheckLengths(int xLen, int yLen, long xNeed, long yNeed)
    {
        if (xLen < xNeed) throw new ArgumentException($"x: {xLen} elements, the sizes need {xNeed}.", "x");
        if (yLen < yNeed) throw new ArgumentException($"y: {yLen} elements, the sizes need {yNeed}.", "y");
    }

    [Op("channel_shuffle")]
    internal static Tensor<T>[] ChannelShuffleOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.ChannelShuffle(c.Input("input"), c.Int("groups", 1))];

    [Op("pixel_shuffle")]
    internal static Tensor<T>[] PixelShuffleOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.PixelShuffle(c.Input("input"), c.Int("upscale_factor", 1))];

    [Op("pixel_unshuffle")]
    internal static Tensor<T>[] PixelUnshuffleOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.PixelUnshuffle(c.Input("input"), c.Int("downscale_factor", 1))];
}
