using System.Numerics;
using ConvKit.Ops;
using ConvKit.Tensors;

namespace ConvKit;

public static partial class Functional
{
    /// <summary>
    /// ShuffleNet's channel shuffle (torch.nn.functional.channel_shuffle / nn.ChannelShuffle): views the channels as
    /// [groups, C/groups], transposes and flattens, so output channel j·groups + i is input channel i·(C/groups) + j.
    /// </summary>
    /// <param name="input">Input [N, C, *] (rank 2 or more).</param>
    /// <param name="groups">Number of groups; must divide C.</param>
    public static Tensor<T> ChannelShuffle<T>(Tensor<T> input, int groups) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank < 2) throw new ArgumentException($"input: expected [N, C, *], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        int c = input.Size(1);
        if (groups < 1 || c % groups != 0)
            throw new ArgumentException($"groups: must be a positive divisor of the {c} channels of input {ShapeMath.Format(input.Shape)}, got {groups}.", nameof(groups));
        var y = new Tensor<T>(input.ShapeArray());
        int inner = c == 0 ? 0 : input.Length / Math.Max(1, input.Size(0) * c);
        Shuffle.ChannelShuffle<T>(input.AsSpan(), y.AsSpan(), input.Size(0), c, inner, groups);
        return y;
    }

    /// <summary>Gradient of <see cref="ChannelShuffle{T}"/>: the inverse permutation, a channel shuffle with C/groups groups.</summary>
    /// <param name="gradOutput">∂L/∂output [N, C, *].</param>
    /// <param name="groups">Groups of the forward pass.</param>
    public static Tensor<T> ChannelShuffleBackward<T>(Tensor<T> gradOutput, int groups) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (gradOutput.Rank < 2) throw new ArgumentException($"gradOutput: expected [N, C, *], got {ShapeMath.Format(gradOutput.Shape)}.", nameof(gradOutput));
        int c = gradOutput.Size(1);
        if (groups < 1 || c % groups != 0)
            throw new ArgumentException($"groups: must be a positive divisor of the {c} channels of gradOutput {ShapeMath.Format(gradOutput.Shape)}, got {groups}.", nameof(groups));
        return ChannelShuffle(gradOutput, c / groups);
    }

    /// <summary>
    /// Rearranges [*, C·r², H, W] into [*, C, H·r, W·r] (torch.nn.functional.pixel_shuffle, sub-pixel convolution):
    /// out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w].
    /// </summary>
    /// <param name="input">Input of rank 3 or more.</param>
    /// <param name="upscaleFactor">r, at least 1; r² must divide the channel count.</param>
    public static Tensor<T> PixelShuffle<T>(Tensor<T> input, int upscaleFactor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (outer, c, h, w) = PixelDims(input, nameof(input), upscaleFactor, nameof(upscaleFactor));
        int r = upscaleFactor;
        if (c % (r * r) != 0)
            throw new ArgumentException($"input: channels {c} of {ShapeMath.Format(input.Shape)} are not divisible by upscaleFactor² = {r * r}.", nameof(input));
        var shape = input.ShapeArray();
        shape[^3] = c / (r * r); shape[^2] = checked(h * r); shape[^1] = checked(w * r);
        var y = new Tensor<T>(shape);
        Shuffle.PixelShuffle<T>(input.AsSpan(), y.AsSpan(), outer, c / (r * r), h, w, r);
        return y;
    }

    /// <summary>Gradient of <see cref="PixelShuffle{T}"/>: pixel_unshuffle of the output gradient.</summary>
    /// <param name="gradOutput">∂L/∂output [*, C, H·r, W·r].</param>
    /// <param name="upscaleFactor">r of the forward pass.</param>
    public static Tensor<T> PixelShuffleBackward<T>(Tensor<T> gradOutput, int upscaleFactor) where T : unmanaged, IFloatingPointIeee754<T>
        => Unshuffle(gradOutput, nameof(gradOutput), upscaleFactor, nameof(upscaleFactor));

    /// <summary>
    /// Rearranges [*, C, H·r, W·r] into [*, C·r², H, W] (torch.nn.functional.pixel_unshuffle), the inverse of
    /// <see cref="PixelShuffle{T}"/>.
    /// </summary>
    /// <param name="input">Input of rank 3 or more whose height and width are multiples of r.</param>
    /// <param name="downscaleFactor">r, at least 1.</param>
    public static Tensor<T> PixelUnshuffle<T>(Tensor<T> input, int downscaleFactor) where T : unmanaged, IFloatingPointIeee754<T>
        => Unshuffle(input, nameof(input), downscaleFactor, nameof(downscaleFactor));

    /// <summary>Gradient of <see cref="PixelUnshuffle{T}"/>: pixel_shuffle of the output gradient.</summary>
    /// <param name="gradOutput">∂L/∂output [*, C·r², H, W].</param>
    /// <param name="downscaleFactor">r of the forward pass.</param>
    public static Tensor<T> PixelUnshuffleBackward<T>(Tensor<T> gradOutput, int downscaleFactor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (downscaleFactor < 1)
            throw new ArgumentException($"downscaleFactor: must be at least 1, got {downscaleFactor}.", nameof(downscaleFactor));
        if (gradOutput.Rank < 3 || gradOutput.Size(-3) % (downscaleFactor * downscaleFactor) != 0)
            throw new ArgumentException($"gradOutput: expected [*, C·{downscaleFactor * downscaleFactor}, H, W], got {ShapeMath.Format(gradOutput.Shape)}.", nameof(gradOutput));
        return PixelShuffle(gradOutput, downscaleFactor);
    }

    private static Tensor<T> Unshuffle<T>(Tensor<T> input, string name, int r, string factorName) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (outer, c, h, w) = PixelDims(input, name, r, factorName);
        if (h % r != 0 || w % r != 0)
            throw new ArgumentException($"{name}: height and width of {ShapeMath.Format(input.Shape)} must be multiples of {factorName} = {r}.", name);
        var shape = input.ShapeArray();
        shape[^3] = checked(c * r * r); shape[^2] = h / r; shape[^1] = w / r;
        var y = new Tensor<T>(shape);
        Shuffle.PixelUnshuffle<T>(input.AsSpan(), y.AsSpan(), outer, c, h / r, w / r, r);
        return y;
    }

    private static (int Outer, int C, int H, int W) PixelDims<T>(Tensor<T> input, string name, int factor, string factorName)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input, name);
        if (factor < 1) throw new ArgumentException($"{factorName}: must be at least 1, got {factor}.", factorName);
        if (input.Rank < 3) throw new ArgumentException($"{name}: expected [*, C, H, W] (rank 3 or more), got {ShapeMath.Format(input.Shape)}.", name);
        int c = input.Size(-3), h = input.Size(-2), w = input.Size(-1);
        int outer = 1;
        for (int i = 0; i < input.Rank - 3; i++) outer *= input.Size(i);
        return (outer, c, h, w);
    }
}
