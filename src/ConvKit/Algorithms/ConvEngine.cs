using ConvKit.Descriptors;
using ConvKit.Reference;

namespace ConvKit.Algorithms;

/// <summary>The three passes of a convolution.</summary>
public enum ConvDirection
{
    /// <summary>y = conv(x, w) (+ bias).</summary>
    Forward,
    /// <summary>∂L/∂x from ∂L/∂y (also transposed convolution's forward).</summary>
    BackwardData,
    /// <summary>∂L/∂w from x and ∂L/∂y.</summary>
    BackwardWeight,
}

/// <summary>
/// The float32 entry point of the engine: runs a <see cref="ConvDescriptor.Core"/> descriptor with the
/// algorithm the planner picks.
/// </summary>
public static class ConvEngine
{
    /// <summary>y = conv(x, w) + bias; <paramref name="bias"/> may be empty.</summary>
    public static void Forward(ConvDescriptor core, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
        => ConvReference.Forward(core, x, w, bias, y);

    /// <summary>gx = ∂L/∂x (overwrites).</summary>
    public static void BackwardData(ConvDescriptor core, ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
        => ConvReference.BackwardData(core, gy, w, gx);

    /// <summary>gw = ∂L/∂w (overwrites).</summary>
    public static void BackwardWeight(ConvDescriptor core, ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> gw)
        => ConvReference.BackwardWeight(core, x, gy, gw);
}
