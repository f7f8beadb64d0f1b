using ConvKit.Descriptors;
using ConvKit.Kernels;
using ConvKit.Tensors;

namespace ConvKit.Algorithms;

/// <summary>
/// A convolution algorithm: decides whether it can run a descriptor in a direction and, if so, builds a plan.
/// The planner asks algorithms in order and takes the first plan it gets.
/// </summary>
public interface IConvAlgorithm
{
    /// <summary>Stable name used to force the algorithm (<see cref="ConvPlanner.Plan(ConvDescriptor, ConvDirection, string)"/>) and in reports.</summary>
    string Name { get; }

    /// <summary>A plan for <paramref name="core"/> (a <see cref="ConvDescriptor.Core"/> descriptor) in
    /// <paramref name="direction"/>, or null when this algorithm does not handle it.</summary>
    ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction);
}

/// <summary>
/// One algorithm bound to one descriptor geometry and direction: shapes validated and blocking chosen once, then run
/// many times. Plans hold no per-call state (scratch memory is per thread), so one plan may be used from several
/// threads at once.
/// </summary>
public abstract class ConvPlan
{
    private protected readonly ConvGeometry G;

    private protected ConvPlan(string algorithmName, ConvDescriptor descriptor, ConvDirection direction)
    {
        G = new ConvGeometry(descriptor);
        AlgorithmName = algorithmName;
        Descriptor = descriptor;
        Direction = direction;
    }

    /// <summary>Name of the algorithm that built this plan.</summary>
    public string AlgorithmName { get; }
    /// <summary>The (core) descriptor this plan runs.</summary>
    public ConvDescriptor Descriptor { get; }
    /// <summary>The direction this plan runs.</summary>
    public ConvDirection Direction { get; }

    /// <summary>Threads this call may use.</summary>
    private protected static int Threads => Gemm.MaxThreads;

    /// <summary>y = conv(x, w) + bias, then max(·, 0) when <paramref name="relu"/>; <paramref name="bias"/> may be empty.</summary>
    public void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool relu = false)
    {
        CheckDirection(ConvDirection.Forward);
        CheckLengths(x.Length, w.Length, y.Length, "input", "output");
        if (!bias.IsEmpty && bias.Length != G.K)
            throw new ArgumentException($"bias: length {bias.Length} does not match the {G.K} output channels of {Descriptor}.", "bias");
        RunForward(x, w, bias, y, relu);
    }

    /// <summary>gx = ∂L/∂x given gy = ∂L/∂y (overwrites <paramref name="gx"/>).</summary>
    public void BackwardData(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
    {
        CheckDirection(ConvDirection.BackwardData);
        CheckLengths(gx.Length, w.Length, gy.Length, "gradInput", "gradOutput");
        RunBackwardData(gy, w, gx);
    }

    /// <summary>gw = ∂L/∂w given the forward input x and gy (overwrites <paramref name="gw"/>).</summary>
    public void BackwardWeight(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> gw)
    {
        CheckDirection(ConvDirection.BackwardWeight);
        CheckLengths(x.Length, gw.Length, gy.Length, "input", "gradOutput", "gradWeight");
        RunBackwardWeight(x, gy, gw);
    }

    private protected virtual void RunForward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool relu)
        => throw new NotSupportedException();
    private protected virtual void RunBackwardData(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
        => throw new NotSupportedException();
    private protected virtual void RunBackwardWeight(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> gw)
        => throw new NotSupportedException();

    private void CheckDirection(ConvDirection d)
    {
        if (d != Direction)
            throw new InvalidOperationException($"this {AlgorithmName} plan runs {Direction}, not {d}; plan the descriptor for {d}.");
    }

    private void CheckLengths(int x, int w, int y, string xName, string yName, string wName = "weight")
    {
        var d = Descriptor;
        if (x != G.XLen) throw new ArgumentException($"{xName}: length {x} does not match {ShapeMath.Format(d.InputShape)}.", xName);
        if (w != G.WLen) throw new ArgumentException($"{wName}: length {w} does not match {ShapeMath.Format(d.WeightShape)}.", wName);
        if (y != G.YLen) throw new ArgumentException($"{yName}: length {y} does not match {ShapeMath.Format(d.OutputShape)}.", yName);
    }

    /// <summary>Whether <paramref name="items"/> (images, groups) go to the threads whole: at least one each, and either
    /// an even split or enough items that an uneven one costs little.</summary>
    private protected static bool ItemsPerThread(int items, int threads) => threads > 1 && items >= threads && (items >= 4 * threads || items % threads == 0);

    /// <summary>This pass by the GEMM lowering: where a fast path's padding would meet a non-finite operand (0·∞ = NaN
    /// where the true result is finite), the lowering, which drops those products, runs it instead.</summary>
    private protected ConvPlan Lowering => ConvPlanner.Plan(Descriptor, Direction, GemmConvAlgorithm.Im2col.Name);

    /// <summary>In-place max(v, 0) (used by plans that cannot fuse it).</summary>
    private protected static void ReluInPlace(Span<float> y)
    {
        foreach (ref var v in y)
            if (!(v > 0)) v = 0f;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{AlgorithmName} {Direction} {Descriptor}";
}
