using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>
/// Parameter initialization with PyTorch's defaults, from a seeded generator. Layers created without an explicit
/// generator draw from <see cref="Generator"/>, reset by <see cref="ManualSeed"/> (like torch.manual_seed).
/// </summary>
public static class Init
{
    [ThreadStatic] private static SeededRandom? _generator;

    /// <summary>The calling thread's default generator (seed 0 until <see cref="ManualSeed"/>).</summary>
    public static SeededRandom Generator => _generator ??= new SeededRandom(0);

    /// <summary>Restarts the calling thread's default generator from <paramref name="seed"/>.</summary>
    public static void ManualSeed(ulong seed) => _generator = new SeededRandom(seed);

    /// <summary>Fills with U(<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static void Uniform<T>(Tensor<T> t, double low, double high, SeededRandom? rng = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        rng ??= Generator;
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating(low + (high - low) * rng.NextDouble());
    }

    /// <summary>fan_in of a weight: size(1) · receptive field (PyTorch's _calculate_fan_in_and_fan_out).</summary>
    public static int FanIn<T>(Tensor<T> weight) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (weight.Rank < 2) throw new ArgumentException($"weight: fan in needs at least 2 dimensions, got {ShapeMath.Format(weight.Shape)}.", nameof(weight));
        int f = weight.Size(1);
        for (int i = 2; i < weight.Rank; i++) f *= weight.Size(i);
        return f;
    }

    /// <summary>
    /// kaiming_uniform_(a, mode='fan_in', nonlinearity='leaky_relu'): U(-b, b) with b = gain·√(3/fan_in),
    /// gain = √(2/(1+a²)). PyTorch's conv and linear layers use a = √5, i.e. b = 1/√fan_in.
    /// </summary>
    public static void KaimingUniform<T>(Tensor<T> weight, double a = 2.23606797749979, SeededRandom? rng = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double gain = Math.Sqrt(2.0 / (1 + a * a));
        double bound = gain * Math.Sqrt(3.0 / FanIn(weight));
        Uniform(weight, -bound, bound, rng);
    }

    /// <summary>PyTorch's default layer init: weight kaiming_uniform_(a=√5), bias U(-1/√fan_in, 1/√fan_in).</summary>
    public static void DefaultLayer<T>(Tensor<T> weight, Tensor<T>? bias, SeededRandom? rng = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KaimingUniform(weight, Math.Sqrt(5), rng);
        if (bias is not null)
        {
            int fanIn = FanIn(weight);
            double b = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
            Uniform(bias, -b, b, rng);
        }
    }
}
