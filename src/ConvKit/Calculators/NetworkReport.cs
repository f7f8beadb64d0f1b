using System.Globalization;
using System.Text;
using ConvKit.Descriptors;

namespace ConvKit.Calculators;

/// <summary>One analysed layer.</summary>
/// <param name="Index">1-based position in the spec.</param>
/// <param name="Layer">The layer.</param>
/// <param name="InputShape">Input shape [C, spatial...] or [features].</param>
/// <param name="OutputShape">Output shape [C, spatial...] or [features].</param>
/// <param name="Parameters">Learnable parameters.</param>
/// <param name="Macs">Multiply-accumulates (batch 1); convolutions and linear layers only.</param>
/// <param name="ReceptiveField">Receptive field per spatial axis in input pixels; null once the spatial axes are gone.</param>
/// <param name="Jump">Distance in input pixels between neighbouring outputs per axis; null once the spatial axes are gone.</param>
public sealed record LayerReport(int Index, LayerSpec Layer, int[] InputShape, int[] OutputShape, long Parameters, long Macs,
    double[]? ReceptiveField, double[]? Jump)
{
    /// <summary>Floating-point operations (2 per MAC).</summary>
    public long Flops => 2 * Macs;
}

/// <summary>The per-layer analysis of a <see cref="NetworkSpec"/> and its totals.</summary>
public sealed class NetworkReport
{
    /// <summary>Input shape [C, spatial...].</summary>
    public int[] InputShape { get; }
    /// <summary>One entry per layer.</summary>
    public IReadOnlyList<LayerReport> Layers { get; }
    /// <summary>Output shape of the network.</summary>
    public int[] OutputShape => Layers.Count == 0 ? InputShape : Layers[^1].OutputShape;
    /// <summary>Total learnable parameters.</summary>
    public long TotalParameters => Layers.Sum(l => l.Parameters);
    /// <summary>Total multiply-accumulates for one input.</summary>
    public long TotalMacs => Layers.Sum(l => l.Macs);
    /// <summary>Total floating-point operations (2 per MAC).</summary>
    public long TotalFlops => 2 * TotalMacs;

    internal NetworkReport(int[] input, List<LayerReport> layers) { InputShape = input; Layers = layers; }

    /// <summary>"3x224x224".</summary>
    public static string FormatShape(int[] shape) => string.Join("x", shape);

    /// <summary>1234567 as "1.23M" (K, M, G, T).</summary>
    public static string Human(double v)
    {
        string[] units = ["", "K", "M", "G", "T"];
        int u = 0;
        while (Math.Abs(v) >= 1000 && u < units.Length - 1) { v /= 1000; u++; }
        return u == 0 ? v.ToString("0.##", CultureInfo.InvariantCulture) : v.ToString("0.00", CultureInfo.InvariantCulture) + units[u];
    }

    private static string Axes(double[]? v) => v is null ? "-"
        : v.All(x => x == v[0]) ? Num(v[0]) : string.Join("x", v.Select(Num));

    private static string Num(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>The report as a plain aligned table with a totals line.</summary>
    public string ToTable()
    {
        var rows = new List<string[]> { new[] { "#", "layer", "output", "params", "MACs", "RF", "jump" } };
        rows.Add(["", "input", FormatShape(InputShape), "", "", "1", "1"]);
        foreach (var l in Layers)
            rows.Add([l.Index.ToString(CultureInfo.InvariantCulture), l.Layer.ToString(), FormatShape(l.OutputShape),
                l.Parameters == 0 ? "" : l.Parameters.ToString("N0", CultureInfo.InvariantCulture),
                l.Macs == 0 ? "" : Human(l.Macs), Axes(l.ReceptiveField), Axes(l.Jump)]);
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            for (int c = 0; c < r.Length; c++)
            {
                // Text columns left-aligned, numbers right-aligned.
                var cell = c is 1 or 2 ? r[c].PadRight(widths[c]) : r[c].PadLeft(widths[c]);
                sb.Append(cell).Append(c < r.Length - 1 ? "  " : "");
            }
            sb.Append('\n');
            if (ReferenceEquals(r, rows[0])) sb.Append(new string('-', widths.Sum() + 2 * (widths.Length - 1))).Append('\n');
        }
        sb.Append($"Total parameters: {TotalParameters.ToString("N0", CultureInfo.InvariantCulture)} ({Human(TotalParameters)})\n");
        sb.Append($"Total MACs: {TotalMacs.ToString("N0", CultureInfo.InvariantCulture)} ({Human(TotalMacs)} MACs)\n");
        sb.Append($"Total FLOPs: {Human(TotalFlops)} FLOPs (2 per MAC)\n");
        sb.Append($"Output: {FormatShape(OutputShape)}\n");
        return sb.ToString();
    }
}

/// <summary>Shape, cost and receptive-field propagation through a <see cref="NetworkSpec"/>.</summary>
internal static class NetworkAnalyzer
{
    private sealed class State
    {
        public int[] Shape = [];
        public double[]? Rf;
        public double[]? Jump;
        public State Copy() => new() { Shape = (int[])Shape.Clone(), Rf = (double[]?)Rf?.Clone(), Jump = (double[]?)Jump?.Clone() };
        public int Rank => Rf is null ? 0 : Shape.Length - 1;
    }

    public static NetworkReport Run(NetworkSpec spec)
    {
        int rank0 = spec.Input.Length - 1;
        var main = new State
        {
            Shape = (int[])spec.Input.Clone(),
            Rf = rank0 > 0 ? Enumerable.Repeat(1.0, rank0).ToArray() : null,
            Jump = rank0 > 0 ? Enumerable.Repeat(1.0, rank0).ToArray() : null,
        };
        var blocks = new Stack<(State Saved, State Shortcut)>();
        var reports = new List<LayerReport>();
        int index = 0;
        foreach (var layer in spec.Layers)
        {
            index++;
            try
            {
                if (layer.Kind == LayerKind.Block)
                {
                    blocks.Push((main.Copy(), main.Copy()));
                    reports.Add(new LayerReport(index, layer, main.Shape, main.Shape, 0, 0, main.Rf, main.Jump));
                    continue;
                }
                if (layer.Kind == LayerKind.Add)
                {
                    if (blocks.Count == 0) throw new ArgumentException("'add' without a matching 'block'.");
                    var (_, sc) = blocks.Pop();
                    if (!sc.Shape.SequenceEqual(main.Shape))
                        throw new ArgumentException($"the main path gives {NetworkReport.FormatShape(main.Shape)} but the shortcut gives {NetworkReport.FormatShape(sc.Shape)}; add 'shortcut' layers (e.g. 'shortcut conv C k1 sS') to match.");
                    var merged = main.Copy();
                    // The sum sees whatever either path sees.
                    if (merged.Rf is not null && sc.Rf is not null)
                        for (int i = 0; i < merged.Rf.Length; i++) merged.Rf[i] = Math.Max(merged.Rf[i], sc.Rf[i]);
                    reports.Add(new LayerReport(index, layer, main.Shape, merged.Shape, 0, 0, merged.Rf, merged.Jump));
                    main = merged;
                    continue;
                }
                State cur;
                if (layer.Shortcut)
                {
                    if (blocks.Count == 0) throw new ArgumentException("a 'shortcut' layer must be inside a 'block'.");
                    cur = blocks.Peek().Shortcut;
                }
                else cur = main;
                var before = cur.Shape;
                var (next, p, m) = Apply(layer, cur);
                reports.Add(new LayerReport(index, layer, before, next.Shape, p, m, next.Rf, next.Jump));
                if (layer.Shortcut)
                {
                    var (saved, _) = blocks.Pop();
                    blocks.Push((saved, next));
                }
                else main = next;
            }
            catch (ArgumentException e) when (e.ParamName != "spec")
            {
                throw new ArgumentException($"spec: layer {index} '{layer}' on input {NetworkReport.FormatShape(CurrentShape(layer, main, blocks))}: {StripParam(e)}", "spec", e);
            }
        }
        if (blocks.Count > 0) throw new ArgumentException($"spec: {blocks.Count} 'block'(s) without a closing 'add'.", "spec");
        return new NetworkReport((int[])spec.Input.Clone(), reports);
    }

    private static int[] CurrentShape(LayerSpec layer, State main, Stack<(State Saved, State Shortcut)> blocks)
        => layer.Shortcut && blocks.Count > 0 ? blocks.Peek().Shortcut.Shape : main.Shape;

    private static string StripParam(ArgumentException e)
    {
        // ArgumentException appends " (Parameter 'x')"; the argument name is already in the message.
        var m = e.Message;
        int i = e.ParamName is null ? -1 : m.LastIndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return i >= 0 ? m[..i] : m;
    }

    private static int[] Expand(int[] v, int rank, string name) => new Dims(v).Expand(rank, name, 0, 0);

    private static (State next, long parameters, long macs) Apply(LayerSpec l, State s)
    {
        int c = s.Shape[0];
        int rank = s.Rank;
        switch (l.Kind)
        {
            case LayerKind.Conv or LayerKind.DeformConv:
            {
                RequireSpatial(s, l);
                var k = Expand(l.Kernel, rank, "kernel");
                var st = Expand(l.Stride ?? [1], rank, "stride");
                var dil = Expand(l.Dilation, rank, "dilation");
                var pad = l.PaddingString is not null ? Padding.Parse(l.PaddingString) : Padding.Symmetric(l.Padding);
                if (l.Groups < 1 || c % l.Groups != 0 || l.Channels % l.Groups != 0)
                    throw new ArgumentException($"groups: {l.Groups} must divide input channels {c} and output channels {l.Channels}.", "groups");
                var d = ConvDescriptor.Create(rank, [1, c, .. s.Shape[1..]], [l.Channels, c / l.Groups, .. k], l.Bias, st, pad, dil, l.Groups);
                long p = ConvCalculator.ConvParameters(c, l.Channels, k, l.Groups, l.Bias);
                long m = d.Macs;
                if (l.Kind == LayerKind.DeformConv)
                {
                    // The offset branch: a convolution with the same geometry predicting rank·∏k offsets per offset group.
                    if (c % l.OffsetGroups != 0) throw new ArgumentException($"offset_groups: {l.OffsetGroups} must divide input channels {c}.", "offset_groups");
                    int offsets = checked(rank * l.OffsetGroups * k.Aggregate(1, (a, b) => a * b));
                    p += ConvCalculator.ConvParameters(c, offsets, k, 1, true);
                    m += ConvCalculator.ConvMacs(c, offsets, k, d.OutputSize);
                }
                var next = new State { Shape = [l.Channels, .. d.OutputSize], Rf = new double[rank], Jump = new double[rank] };
                for (int i = 0; i < rank; i++)
                {
                    var r = ConvCalculator.NextReceptiveField(new(s.Rf![i], s.Jump![i]), k[i], st[i], dil[i]);
                    next.Rf[i] = r.Size; next.Jump[i] = r.Jump;
                }
                return (next, p, m);
            }
            case LayerKind.ConvTranspose:
            {
                RequireSpatial(s, l);
                var k = Expand(l.Kernel, rank, "kernel");
                var st = Expand(l.Stride ?? [1], rank, "stride");
                var dil = Expand(l.Dilation, rank, "dilation");
                if (l.Groups < 1 || l.Channels % l.Groups != 0)
                    throw new ArgumentException($"groups: {l.Groups} must divide output channels {l.Channels}.", "groups");
                var d = ConvTransposeDescriptor.Create(rank, [1, c, .. s.Shape[1..]], [c, l.Channels / l.Groups, .. k], l.Bias, st,
                    Padding.Symmetric(l.Padding), new Dims(l.OutputPadding), l.Groups, dil);
                long p = ConvCalculator.ConvParameters(c, l.Channels, k, l.Groups, l.Bias);
                var next = new State { Shape = d.OutputShape[1..], Rf = new double[rank], Jump = new double[rank] };
                for (int i = 0; i < rank; i++)
                {
                    // Outputs are 1/s input pixels apart; the kernel spans k_eff of them.
                    double j = s.Jump![i] / st[i];
                    next.Jump[i] = j;
                    next.Rf[i] = s.Rf![i] + (ConvCalculator.EffectiveKernelSize(k[i], dil[i]) - 1) * j;
                }
                return (next, p, d.Conv.Macs);
            }
            case LayerKind.MaxPool or LayerKind.AvgPool:
            {
                RequireSpatial(s, l);
                var k = Expand(l.Kernel, rank, "kernel");
                var st = Expand(l.Stride ?? l.Kernel, rank, "stride");
                var pad = Expand(l.Padding, rank, "padding");
                var dil = Expand(l.Dilation, rank, "dilation");
                var next = new State { Shape = new int[rank + 1], Rf = new double[rank], Jump = new double[rank] };
                next.Shape[0] = c;
                for (int i = 0; i < rank; i++)
                {
                    next.Shape[i + 1] = ConvCalculator.PoolOutputSize(s.Shape[i + 1], k[i], st[i], pad[i], dil[i], l.CeilMode);
                    var r = ConvCalculator.NextReceptiveField(new(s.Rf![i], s.Jump![i]), k[i], st[i], dil[i]);
                    next.Rf[i] = r.Size; next.Jump[i] = r.Jump;
                }
                return (next, 0, 0);
            }
            case LayerKind.AdaptiveAvgPool or LayerKind.AdaptiveMaxPool or LayerKind.GlobalAvgPool or LayerKind.GlobalMaxPool:
            {
                RequireSpatial(s, l);
                var o = l.Kind is LayerKind.GlobalAvgPool or LayerKind.GlobalMaxPool ? Enumerable.Repeat(1, rank).ToArray()
                    : Expand(l.OutputSize, rank, "output_size");
                var next = new State { Shape = [c, .. o], Rf = new double[rank], Jump = new double[rank] };
                for (int i = 0; i < rank; i++)
                {
                    if (o[i] < 1) throw new ArgumentException($"output_size: must be positive, got {o[i]}.", "output_size");
                    int n = s.Shape[i + 1];
                    // PyTorch's windows: [floor(j·n/o), ceil((j+1)·n/o)); the widest one bounds the receptive field.
                    int widest = 0;
                    for (int j = 0; j < o[i]; j++)
                        widest = Math.Max(widest, (int)(((long)(j + 1) * n + o[i] - 1) / o[i] - (long)j * n / o[i]));
                    next.Rf[i] = s.Rf![i] + (widest - 1) * s.Jump![i];
                    next.Jump[i] = s.Jump[i] * n / o[i];
                }
                return (next, 0, 0);
            }
            case LayerKind.Flatten:
                return (Flat(s), 0, 0);
            case LayerKind.Linear:
            {
                int features = s.Shape.Aggregate(1, (a, b) => checked(a * b));
                long p = ConvCalculator.LinearParameters(features, l.Channels, l.Bias);
                return (new State { Shape = [l.Channels] }, p, (long)features * l.Channels);
            }
            case LayerKind.BatchNorm:
                // Learnable scale and shift per channel; running statistics are buffers, not parameters.
                return (s.Copy(), 2L * c, 0);
            default:
                return (s.Copy(), 0, 0);
        }
    }

    private static State Flat(State s) => new() { Shape = [s.Shape.Aggregate(1, (a, b) => checked(a * b))] };

    private static void RequireSpatial(State s, LayerSpec l)
    {
        if (s.Rank is < 1 or > 3)
            throw new ArgumentException($"input: '{l}' needs a [C, spatial...] input with 1 to 3 spatial axes, got {NetworkReport.FormatShape(s.Shape)}.", "input");
    }
}
