using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>
/// A small U-Net style encoder-decoder: two 3x3 conv+ReLU stages at full resolution, a stride-2 conv down to half
/// resolution, a bottleneck, a stride-2 transposed conv back up, concatenation with the full-resolution skip
/// features, and a 1x1 conv to <c>outChannels</c> maps. Output has the input's spatial size (even H and W).
/// Children: <c>enc</c>, <c>down</c>, <c>mid</c>, <c>up</c>, <c>dec</c>, <c>head</c>.
/// </summary>
public sealed class Hourglass<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Sequential<T> _enc, _down, _mid, _dec;
    private readonly ConvTranspose2d<T> _up;
    private readonly Conv2d<T> _head;

    /// <summary>Creates the network with <paramref name="width"/> channels at full resolution (2·width in the middle).</summary>
    public Hourglass(int inChannels, int outChannels, int width = 8, SeededRandom? rng = null)
    {
        if (width <= 0) throw new ArgumentException($"width: must be positive, got {width}.", nameof(width));
        _enc = RegisterModule("enc", new Sequential<T>(new Conv2d<T>(inChannels, width, 3, padding: 1, rng: rng), new ReLU<T>()));
        _down = RegisterModule("down", new Sequential<T>(new Conv2d<T>(width, 2 * width, 3, stride: 2, padding: 1, rng: rng), new ReLU<T>()));
        _mid = RegisterModule("mid", new Sequential<T>(new Conv2d<T>(2 * width, 2 * width, 3, padding: 1, rng: rng), new ReLU<T>()));
        _up = RegisterModule("up", new ConvTranspose2d<T>(2 * width, width, 2, stride: 2, rng: rng));
        _dec = RegisterModule("dec", new Sequential<T>(new Conv2d<T>(2 * width, width, 3, padding: 1, rng: rng), new ReLU<T>()));
        _head = RegisterModule("head", new Conv2d<T>(width, outChannels, 1, rng: rng));
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        if (input.Data.Rank != 4 || input.Data.Size(2) % 2 != 0 || input.Data.Size(3) % 2 != 0)
            throw new ArgumentException($"input: expected [N, C, H, W] with even H and W, got {ShapeMath.Format(input.Shape)}.", nameof(input));
        var skip = _enc.Forward(input);
        var h = _mid.Forward(_down.Forward(skip));
        var up = Autograd.Relu(_up.Forward(h));
        return _head.Forward(_dec.Forward(Autograd.ConcatChannels(up, skip)));
    }
}
