using ConvKit.Descriptors;
using ConvKit.Reference;

namespace ConvKit.Algorithms;

/// <summary>The plain-loop reference (<see cref="ConvReference"/>) as an algorithm: accepts everything; the planner's last resort.</summary>
public sealed class ReferenceAlgorithm : IConvAlgorithm
{
    /// <inheritdoc/>
    public string Name => "reference";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction) => new Plan(core, direction);

    private sealed class Plan(ConvDescriptor d, ConvDirection dir) : ConvPlan("reference", d, dir)
    {
        private protected override void RunForward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool relu)
        {
            ConvReference.Forward(Descriptor, x, w, bias, y);
            if (relu) ReluInPlace(y);
        }

        private protected override void RunBackwardData(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
            => ConvReference.BackwardData(Descriptor, gy, w, gx);

        private protected override void RunBackwardWeight(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> gw)
            => ConvReference.BackwardWeight(Descriptor, x, gy, gw);
    }
}
