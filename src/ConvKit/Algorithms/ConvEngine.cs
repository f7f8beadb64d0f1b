using ConvKit.Descriptors;
using ConvKit.Kernels;

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
/// algorithm the planner picks (<see cref="ConvPlanner"/>), reusing the cached plan for a repeated geometry.
/// </summary>
public static class ConvEngine
{
    /// <summary>Upper bound on the threads one convolution (or GEMM) may use; default: the processor count.</summary>
    public static int MaxThreads
    {
        get => Gemm.MaxThreads;
        set => Gemm.MaxThreads = value;
    }

    /// <summary>y = conv(x, w) + bias; <paramref name="bias"/> may be empty.</summary>
    public static void Forward(ConvDescriptor core, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
        => ConvPlanner.Plan(core, ConvDirection.Forward).Forward(x, w, bias, y, false);

    /// <summary>y = conv(x, w) + bias, then max(·, 0) when <paramref name="relu"/> (fused into the output write).</summary>
    public static void Forward(ConvDescriptor core, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool relu)
        => ConvPlanner.Plan(core, ConvDirection.Forward).Forward(x, w, bias, y, relu);

    /// <summary>gx = ∂L/∂x (overwrites).</summary>
    public static void BackwardData(ConvDescriptor core, ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
        => ConvPlanner.Plan(core, ConvDirection.BackwardData).BackwardData(gy, w, gx);

    /// <summary>gw = ∂L/∂w (overwrites).</summary>
    public static void BackwardWeight(ConvDescriptor core, ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> gw)
        => ConvPlanner.Plan(core, ConvDirection.BackwardWeight).BackwardWeight(x, gy, gw);
}
