using System.Collections.Concurrent;
using System.Text;
using ConvKit.Descriptors;

namespace ConvKit.Algorithms;

/// <summary>
/// Picks the algorithm for a descriptor and direction: asks <see cref="Algorithms"/> in order (specialised kernels
/// first, the general GEMM lowering next, the reference last) and caches the plan by descriptor geometry, so a
/// repeated shape is planned once. Thread-safe.
/// </summary>
public static class ConvPlanner
{
    private static readonly IConvAlgorithm[] s_algorithms =
    [
        GemmConvAlgorithm.Pointwise,
        DirectSmallChannelAlgorithm.Preferred,
        BlockedDirectAlgorithm.Preferred,
        FlippedForwardAlgorithm.Preferred,
        DepthwiseAlgorithm.Preferred,
        WinogradAlgorithm.Preferred,
        ImplicitGemmAlgorithm.Preferred,
        GemmConvAlgorithm.Im2col,
        new ReferenceAlgorithm(),
    ];

    // When forced, algorithms run every shape they can, without the profitability checks of the automatic list.
    private static readonly IConvAlgorithm[] s_forcible =
    [
        GemmConvAlgorithm.Pointwise,
        DepthwiseAlgorithm.Instance,
        DirectSmallChannelAlgorithm.Instance,
        WinogradAlgorithm.Instance,
        FlippedForwardAlgorithm.Instance,
        BlockedDirectAlgorithm.Instance,
        ImplicitGemmAlgorithm.Instance,
        GemmConvAlgorithm.Im2col,
        s_algorithms[^1],
    ];

    private static readonly ConcurrentDictionary<string, ConvPlan> s_cache = new(StringComparer.Ordinal);
    private const int CacheLimit = 4096;

    /// <summary>The algorithms in the order they are tried.</summary>
    public static IReadOnlyList<IConvAlgorithm> Algorithms => s_algorithms;

    /// <summary>The name of the algorithm the planner picks for <paramref name="core"/> in <paramref name="direction"/>.</summary>
    public static string Choose(ConvDescriptor core, ConvDirection direction) => Plan(core, direction).AlgorithmName;

    /// <summary>The (cached) plan for <paramref name="core"/> in <paramref name="direction"/> with the first algorithm that accepts it.</summary>
    public static ConvPlan Plan(ConvDescriptor core, ConvDirection direction) => PlanCore(core, direction, null);

    /// <summary>
    /// The (cached) plan with the named algorithm forced (see <see cref="IConvAlgorithm.Name"/>). Throws
    /// <see cref="ArgumentException"/> (algorithmName) when no such algorithm exists or it declines the descriptor.
    /// </summary>
    public static ConvPlan Plan(ConvDescriptor core, ConvDirection direction, string algorithmName)
    {
        ArgumentNullException.ThrowIfNull(algorithmName);
        if (!s_forcible.Any(a => a.Name == algorithmName))
            throw new ArgumentException($"algorithmName: unknown algorithm '{algorithmName}'; known: {string.Join(", ", s_forcible.Select(a => a.Name))}.", nameof(algorithmName));
        return PlanCore(core, direction, algorithmName);
    }

    private static ConvPlan PlanCore(ConvDescriptor core, ConvDirection direction, string? forced)
    {
        ArgumentNullException.ThrowIfNull(core);
        if (!ReferenceEquals(core.Core, core))
            throw new ArgumentException($"descriptor: the engine runs Core descriptors (zero padding, no flip), got {core}.", "descriptor");
        string key = Key(core, direction, forced);
        if (s_cache.TryGetValue(key, out var plan)) return plan;
        plan = Build(core, direction, forced);
        if (s_cache.Count >= CacheLimit) s_cache.Clear();
        return s_cache.GetOrAdd(key, plan);
    }

    private static ConvPlan Build(ConvDescriptor core, ConvDirection direction, string? forced)
    {
        foreach (var a in forced is null ? s_algorithms : s_forcible)
        {
            if (forced is not null && a.Name != forced) continue;
            var p = a.TryPlan(core, direction);
            if (p is not null) return p;
            if (forced is not null)
                throw new ArgumentException($"algorithmName: '{forced}' does not handle {direction} of {core}.", "algorithmName");
        }
        throw new InvalidOperationException("no algorithm accepted the descriptor (the reference accepts all).");
    }

    private static string Key(ConvDescriptor d, ConvDirection direction, string? forced)
    {
        var sb = new StringBuilder(96);
        sb.Append((int)direction).Append('|').Append(forced).Append('|').Append(d.Rank).Append('|')
          .Append(d.N).Append(',').Append(d.InChannels).Append(',').Append(d.OutChannels).Append(',').Append(d.Groups);
        void Arr(int[] a) { sb.Append('|'); foreach (var v in a) sb.Append(v).Append(','); }
        Arr(d.InputSize); Arr(d.KernelSize); Arr(d.Stride); Arr(d.Dilation); Arr(d.PadBegin); Arr(d.PadEnd); Arr(d.OutputSize);
        return sb.ToString();
    }
}
