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
        DepthwiseAlgorithm.PreferredGrouped,
        DirectSmallChannelAlgorithm.Preferred,
        LaneChannelDirectAlgorithm.Preferred,
        SmallPlaneDirectAlgorithm.Preferred,
        BlockedDirectAlgorithm.Preferred,
        StridedImplicitGemmAlgorithm.Preferred,
        FlippedForwardAlgorithm.Preferred,
        DepthwiseAlgorithm.Preferred,
        WinogradAlgorithm.Preferred4,
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
        LaneChannelDirectAlgorithm.Instance,
        WinogradAlgorithm.Instance,
        WinogradAlgorithm.Instance4,
        FlippedForwardAlgorithm.Instance,
        BlockedDirectAlgorithm.Instance,
        SmallPlaneDirectAlgorithm.Instance,
        ImplicitGemmAlgorithm.Instance,
        StridedImplicitGemmAlgorithm.Instance,
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

    /// <summary>
    /// A measured choice, like cuDNN's find: runs every algorithm that accepts <paramref name="core"/> in
    /// <paramref name="direction"/> (forced, so without the planner's profitability rules; the reference only when no
    /// other accepts) on seeded operands of the descriptor's shapes, one warm-up each, then <paramref name="repetitions"/>
    /// rounds of one timed call of each, and caches the one with the lowest median time as this descriptor's plan: later
    /// <see cref="Plan(ConvDescriptor, ConvDirection)"/> calls return it. The heuristics were measured on the machines
    /// named in docs/benchmarks.md; this is for other CPUs, at the cost of running each candidate. Timings on a busy
    /// machine are noisy: more repetitions steady them.
    /// </summary>
    /// <returns>The chosen plan and each candidate's median milliseconds, fastest first.</returns>
    public static (ConvPlan Plan, IReadOnlyList<(string Algorithm, double Milliseconds)> Timings) Find(ConvDescriptor core, ConvDirection direction,
        int repetitions = 9)
    {
        ArgumentNullException.ThrowIfNull(core);
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        RequireCore(core);
        var candidates = s_forcible.Select(a => a.TryPlan(core, direction)).OfType<ConvPlan>().ToList();
        if (candidates.Count > 1) candidates.RemoveAll(p => p.AlgorithmName == s_algorithms[^1].Name);
        var rng = new Random(20261201);
        float[] Operand(int[] shape)
        {
            // descriptors refuse shapes past int elements
            var v = new float[shape.Aggregate(1, (a, b) => a * b)];
            for (int i = 0; i < v.Length; i++) v[i] = rng.NextSingle() - 0.5f;
            return v;
        }
        float[] x = Operand(core.InputShape), w = Operand(core.WeightShape), y = Operand(core.OutputShape);
        var runs = candidates.Select(plan => (Action)(direction switch
        {
            ConvDirection.Forward => () => plan.Forward(x, w, default, y),
            ConvDirection.BackwardData => () => plan.BackwardData(y, w, x),
            _ => () => plan.BackwardWeight(x, y, w),
        })).ToArray();
        foreach (var run in runs) run();
        // rounds of one call of each candidate, so that a slow moment of the machine falls on all of them alike
        var times = new double[runs.Length][];
        for (int c = 0; c < runs.Length; c++) times[c] = new double[repetitions];
        for (int i = 0; i < repetitions; i++)
            for (int c = 0; c < runs.Length; c++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                runs[c]();
                times[c][i] = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        var timings = new List<(ConvPlan Plan, double Milliseconds)>();
        for (int c = 0; c < runs.Length; c++)
        {
            Array.Sort(times[c]);
            timings.Add((candidates[c], times[c][repetitions / 2]));
        }
        timings.Sort((a, b) => a.Milliseconds.CompareTo(b.Milliseconds));
        var best = timings[0].Plan;
        s_cache[Key(core, direction, null)] = best;
        return (best, timings.Select(t => (t.Plan.AlgorithmName, t.Milliseconds)).ToList());
    }

    private static void RequireCore(ConvDescriptor core)
    {
        if (!ReferenceEquals(core.Core, core))
            throw new ArgumentException($"descriptor: the engine runs Core descriptors (zero padding, no flip), got {core}.", "descriptor");
    }

    private static ConvPlan PlanCore(ConvDescriptor core, ConvDirection direction, string? forced)
    {
        ArgumentNullException.ThrowIfNull(core);
        RequireCore(core);
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
        // plans that chose their kernels' width at planning must not outlive the AVX-512 switch (tests flip it)
        sb.Append(ConvKit.Kernels.GemmCore.UseAvx512 ? 'w' : 'n').Append((int)direction).Append('|').Append(forced).Append('|').Append(d.Rank).Append('|')
          .Append(d.N).Append(',').Append(d.InChannels).Append(',').Append(d.OutChannels).Append(',').Append(d.Groups);
        void Arr(int[] a) { sb.Append('|'); foreach (var v in a) sb.Append(v).Append(','); }
        Arr(d.InputSize); Arr(d.KernelSize); Arr(d.Stride); Arr(d.Dilation); Arr(d.PadBegin); Arr(d.PadEnd); Arr(d.OutputSize);
        return sb.ToString();
    }
}
