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

    private static readonly Dictionary<string, Builder> Builders = new(StringComparer.Ordinal)
    {
        ["digits-cnn"] = new DigitsCnn(),
    };
}
