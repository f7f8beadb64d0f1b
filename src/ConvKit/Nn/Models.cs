using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>
/// The named architectures of <c>convkit train</c>, built as <see cref="Sequential{T}"/> so their state dicts carry
/// PyTorch's nn.Sequential names. Each takes the input shape [C, H, W] and the number of classes.
/// </summary>
public static partial class Models
{
    /// <summary>Names accepted by <see cref="Create{T}"/>.</summary>
    public static IReadOnlyList<string> Names => [.. Builders.Keys];

    /// <summary>Builds architecture <paramref name="name"/> for inputs [C, H, W] and <paramref name="classes"/> outputs, initialized from <paramref name="seed"/>.</summary>
    public static Module<T> Create<T>(string name, int channels, int height, int width, int classes, ulong seed = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(name);
        if (channels <= 0 || height <= 0 || width <= 0) throw new ArgumentException($"channels: invalid input shape [{channels}, {height}, {width}].", nameof(channels));
        if (classes <= 1) throw new ArgumentException($"classes: need at least 2 classes, got {classes}.", nameof(classes));
        if (!Builders.TryGetValue(name, out var b))
            throw new ArgumentException($"name: unknown model '{name}' (known: {string.Join(", ", Names)}).", nameof(name));
        var rng = new SeededRandom(seed);
        return b.Build<T>(channels, height, width, classes, rng);
    }

    /// <summary>A one-line description of architecture <paramref name="name"/>.</summary>
    public static string Describe(string name) => Builders.TryGetValue(name, out var b) ? b.Description : "";

    private abstract class Builder(string description)
    {
        public string Description { get; } = description;
        public abstract Module<T> Build<T>(int c, int h, int w, int classes, SeededRandom rng) where T : unmanaged, IFloatingPointIeee754<T>;
    }

    private sealed class DigitsCnn() : Builder("conv3x3(C→32)+ReLU, conv3x3 stride 2 (32→64)+ReLU, linear(64·H/2·W/2→classes): the fast default for 8x8 digits")
    {
        public override Module<T> Build<T>(int c, int h, int w, int classes, SeededRandom rng) =>
            new Sequential<T>(
                new Conv2d<T>(c, 32, 3, padding: 1, rng: rng), new ReLU<T>(),
                new Conv2d<T>(32, 64, 3, stride: 2, padding: 1, rng: rng), new ReLU<T>(),
                new Flatten<T>(),
                new Linear<T>(64 * ((h + 1) / 2) * ((w + 1) / 2), classes, rng: rng));
    }

    private sealed class LeNet() : Builder("LeNet-5: conv5x5(C→6, pad 2)+ReLU+maxpool2, conv5x5(6→16)+ReLU+maxpool2, linear 120, 84, classes")
    {
        public override Module<T> Build<T>(int c, int h, int w, int classes, SeededRandom rng)
        {
            int oh = (h / 2 - 4) / 2, ow = (w / 2 - 4) / 2;
            if (oh < 1 || ow < 1) throw new ArgumentException($"height: lenet needs inputs of at least 12x12, got {h}x{w}.", "height");
            return new Sequential<T>(
                new Conv2d<T>(c, 6, 5, padding: 2, rng: rng), new ReLU<T>(), new MaxPool2d<T>(2),
                new Conv2d<T>(6, 16, 5, rng: rng), new ReLU<T>(), new MaxPool2d<T>(2),
                new Flatten<T>(), new Linear<T>(16 * oh * ow, 120, rng: rng), new ReLU<T>(),
                new Linear<T>(120, 84, rng: rng), new ReLU<T>(), new Linear<T>(84, classes, rng: rng));
        }
    }

    private sealed class FashionNet() : Builder("conv3x3(C→32)+BN+ReLU+maxpool2, conv3x3(32→64)+BN+ReLU+maxpool2, linear(64·H/4·W/4→128)+ReLU, linear(128→classes)")
    {
        public override Module<T> Build<T>(int c, int h, int w, int classes, SeededRandom rng)
        {
            if (h < 4 || w < 4) throw new ArgumentException($"height: fashionnet needs inputs of at least 4x4, got {h}x{w}.", "height");
            return new Sequential<T>(
                new Conv2d<T>(c, 32, 3, padding: 1, rng: rng), new BatchNorm2d<T>(32), new ReLU<T>(), new MaxPool2d<T>(2),
                new Conv2d<T>(32, 64, 3, padding: 1, rng: rng), new BatchNorm2d<T>(64), new ReLU<T>(), new MaxPool2d<T>(2),
                new Flatten<T>(), new Linear<T>(64 * (h / 4) * (w / 4), 128, rng: rng), new ReLU<T>(), new Linear<T>(128, classes, rng: rng));
        }
    }

    private sealed class ResNetMini() : Builder("conv3x3(C→16)+BN+ReLU, BasicBlocks 16, 32 (stride 2), 64 (stride 2), global average pool, linear(64→classes)")
    {
        public override Module<T> Build<T>(int c, int h, int w, int classes, SeededRandom rng) =>
            new Sequential<T>(
                new Conv2d<T>(c, 16, 3, padding: 1, bias: false, rng: rng), new BatchNorm2d<T>(16), new ReLU<T>(),
                new BasicBlock<T>(16, 16, 1, rng), new BasicBlock<T>(16, 32, 2, rng), new BasicBlock<T>(32, 64, 2, rng),
                new AdaptiveAvgPool2d<T>(1), new Flatten<T>(), new Linear<T>(64, classes, rng: rng));
    }

    private static readonly Dictionary<string, Builder> Builders = new(StringComparer.Ordinal)
    {
        ["digits-cnn"] = new DigitsCnn(),
        ["lenet"] = new LeNet(),
        ["fashionnet"] = new FashionNet(),
        ["resnet-mini"] = new ResNetMini(),
    };
}
