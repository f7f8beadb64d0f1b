using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ConvKit.Calculators;

/// <summary>The kinds of layer a <see cref="NetworkSpec"/> can hold.</summary>
public enum LayerKind
{
    /// <summary>Convolution (1-d, 2-d or 3-d by the rank of the input): <c>conv 64 k3 s1 p1 d1 g1 [nobias]</c>.</summary>
    Conv,
    /// <summary>Transposed convolution: <c>convt 64 k4 s2 p1 op0</c>.</summary>
    ConvTranspose,
    /// <summary>Deformable convolution with its offset-predicting convolution: <c>deformconv 64 k3 p1 og1</c>.</summary>
    DeformConv,
    /// <summary>Max pooling: <c>maxpool k3 s2 p1 [ceil]</c> (stride defaults to the kernel).</summary>
    MaxPool,
    /// <summary>Average pooling: <c>avgpool k2 [s2] [ceil]</c>.</summary>
    AvgPool,
    /// <summary>Adaptive max pooling to a given output size: <c>adaptivemaxpool 7</c>.</summary>
    AdaptiveMaxPool,
    /// <summary>Adaptive average pooling to a given output size: <c>adaptiveavgpool 1</c>.</summary>
    AdaptiveAvgPool,
    /// <summary>Global max pooling (to 1 on every axis): <c>gmp</c>.</summary>
    GlobalMaxPool,
    /// <summary>Global average pooling (to 1 on every axis): <c>gap</c>.</summary>
    GlobalAvgPool,
    /// <summary>Fully connected layer: <c>fc 1000 [nobias]</c> (flattens its input).</summary>
    Linear,
    /// <summary>Flattens channels and spatial axes into features: <c>flatten</c>.</summary>
    Flatten,
    /// <summary>Batch normalization (2·C learnable parameters): <c>bn</c>.</summary>
    BatchNorm,
    /// <summary>ReLU: <c>relu</c>.</summary>
    ReLU,
    /// <summary>Starts a residual block: remembers the current tensor for the shortcut: <c>block</c>.</summary>
    Block,
    /// <summary>Ends a residual block: adds the shortcut (identity or its <c>shortcut</c> layers) to the main path: <c>add</c>.</summary>
    Add,
}

/// <summary>
/// One layer of a <see cref="NetworkSpec"/>. Per-axis values hold one value (all axes) or one per spatial axis.
/// </summary>
public sealed record LayerSpec
{
    /// <summary>The layer kind.</summary>
    public LayerKind Kind { get; init; }
    /// <summary>Output channels (convolutions) or output features (linear).</summary>
    public int Channels { get; init; }
    /// <summary>Kernel (window) size.</summary>
    public int[] Kernel { get; init; } = [1];
    /// <summary>Stride; null means 1 for convolutions and the kernel for pooling.</summary>
    public int[]? Stride { get; init; }
    /// <summary>Symmetric padding per axis.</summary>
    public int[] Padding { get; init; } = [0];
    /// <summary>"same", "valid" or "same_lower" instead of <see cref="Padding"/> (convolutions only).</summary>
    public string? PaddingString { get; init; }
    /// <summary>Dilation.</summary>
    public int[] Dilation { get; init; } = [1];
    /// <summary>Output padding of a transposed convolution.</summary>
    public int[] OutputPadding { get; init; } = [0];
    /// <summary>Output size of an adaptive pooling layer.</summary>
    public int[] OutputSize { get; init; } = [1];
    /// <summary>Groups of a convolution.</summary>
    public int Groups { get; init; } = 1;
    /// <summary>Offset groups of a deformable convolution.</summary>
    public int OffsetGroups { get; init; } = 1;
    /// <summary>Whether a convolution or linear layer has a bias (PyTorch's default: true).</summary>
    public bool Bias { get; init; } = true;
    /// <summary>ceil_mode of max/avg pooling.</summary>
    public bool CeilMode { get; init; }
    /// <summary>True for a layer on the shortcut path of the innermost residual block (e.g. the 1x1 downsample).</summary>
    public bool Shortcut { get; init; }

    /// <summary>The layer in the compact text syntax (normalized).</summary>
    public override string ToString()
    {
        // One value when every axis agrees: "k3" rather than "k3x3".
        static string V(int[] v) => v.All(x => x == v[0]) ? v[0].ToString(CultureInfo.InvariantCulture) : string.Join("x", v);
        var sb = new StringBuilder(Shortcut ? "shortcut " : "");
        switch (Kind)
        {
            case LayerKind.Conv or LayerKind.ConvTranspose or LayerKind.DeformConv:
                sb.Append(Kind switch { LayerKind.Conv => "conv", LayerKind.ConvTranspose => "convt", _ => "deformconv" })
                  .Append(' ').Append(Channels).Append(" k").Append(V(Kernel));
                if (Stride is not null && Stride.Any(s => s != 1)) sb.Append(" s").Append(V(Stride));
                if (PaddingString is not null) sb.Append(' ').Append(PaddingString);
                else if (Padding.Any(p => p != 0)) sb.Append(" p").Append(V(Padding));
                if (Dilation.Any(d => d != 1)) sb.Append(" d").Append(V(Dilation));
                if (OutputPadding.Any(o => o != 0)) sb.Append(" op").Append(V(OutputPadding));
                if (Groups != 1) sb.Append(" g").Append(Groups);
                if (OffsetGroups != 1) sb.Append(" og").Append(OffsetGroups);
                if (!Bias) sb.Append(" nobias");
                break;
            case LayerKind.MaxPool or LayerKind.AvgPool:
                sb.Append(Kind == LayerKind.MaxPool ? "maxpool" : "avgpool").Append(" k").Append(V(Kernel));
                if (Stride is not null) sb.Append(" s").Append(V(Stride));
                if (Padding.Any(p => p != 0)) sb.Append(" p").Append(V(Padding));
                if (Dilation.Any(d => d != 1)) sb.Append(" d").Append(V(Dilation));
                if (CeilMode) sb.Append(" ceil");
                break;
            case LayerKind.AdaptiveAvgPool or LayerKind.AdaptiveMaxPool:
                sb.Append(Kind == LayerKind.AdaptiveAvgPool ? "adaptiveavgpool " : "adaptivemaxpool ").Append(V(OutputSize));
                break;
            case LayerKind.Linear:
                sb.Append("fc ").Append(Channels);
                if (!Bias) sb.Append(" nobias");
                break;
            default:
                sb.Append(Kind switch
                {
                    LayerKind.GlobalAvgPool => "gap",
                    LayerKind.GlobalMaxPool => "gmp",
                    LayerKind.Flatten => "flatten",
                    LayerKind.BatchNorm => "bn",
                    LayerKind.ReLU => "relu",
                    LayerKind.Block => "block",
                    _ => "add",
                });
                break;
        }
        return sb.ToString();
    }
}

/// <summary>
/// A network as a sequence of layers on an input of shape [C, spatial...] (batch 1), parsed from a compact text
/// (statements separated by ';' or new lines, '#' comments), e.g.
/// <c>input 3x224x224; conv 64 k7 s2 p3 nobias; bn; relu; maxpool k3 s2 p1; ...; gap; fc 1000</c>, or from JSON
/// (<c>{"input": [3, 224, 224], "layers": [{"type": "conv", "out": 64, "kernel": 7, "stride": 2, "padding": 3,
/// "bias": false}, "bn", ...]}</c>, where a layer may also be a text statement). Residual blocks are written
/// <c>block; ...main path...; shortcut conv 128 k1 s2 nobias; shortcut bn; add</c>. <see cref="Analyze"/> computes
/// per-layer output shape, parameters, MACs, receptive field and jump.
/// </summary>
public sealed class NetworkSpec
{
    /// <summary>Input shape [C, spatial...] (or [features] for a fully connected network).</summary>
    public int[] Input { get; }
    /// <summary>The layers in order.</summary>
    public IReadOnlyList<LayerSpec> Layers { get; }

    /// <summary>Creates a spec from an input shape and layers.</summary>
    /// <param name="input">Input shape [C, spatial...] without the batch axis.</param>
    /// <param name="layers">The layers.</param>
    public NetworkSpec(int[] input, IEnumerable<LayerSpec> layers)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(layers);
        if (input.Length is < 1 or > 4 || input.Any(v => v < 1))
            throw new ArgumentException($"input: expected C or CxL, CxHxW, CxDxHxW with positive sizes, got {string.Join("x", input)}.", nameof(input));
        Input = (int[])input.Clone();
        Layers = layers.ToList();
    }

    /// <summary>Built-in specs by name: "resnet18" and "lenet5".</summary>
    public static IReadOnlyDictionary<string, string> Models { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["resnet18"] = ResNet18Text(),
        ["lenet5"] = "input 1x32x32; conv 6 k5; relu; maxpool k2; conv 16 k5; relu; maxpool k2; flatten; fc 120; relu; fc 84; relu; fc 10",
    };

    /// <summary>ResNet-18 (torchvision layout) for 3x224x224 input: residual basic blocks with 1x1 downsample
    /// convolutions and batch-norm on the shortcut where the shape changes.</summary>
    public static NetworkSpec ResNet18() => Parse(Models["resnet18"]);

    /// <summary>A built-in model by name (see <see cref="Models"/>).</summary>
    /// <param name="name">Model name, e.g. "resnet18".</param>
    public static NetworkSpec Model(string name) => Models.TryGetValue(name, out var text) ? Parse(text)
        : throw new ArgumentException($"name: unknown model '{name}' (known: {string.Join(", ", Models.Keys)}).", nameof(name));

    private static string ResNet18Text()
    {
        var sb = new StringBuilder("input 3x224x224\nconv 64 k7 s2 p3 nobias\nbn\nrelu\nmaxpool k3 s2 p1\n");
        int inC = 64;
        foreach (var (c, s) in new[] { (64, 1), (128, 2), (256, 2), (512, 2) })
            for (int b = 0; b < 2; b++)
            {
                int stride = b == 0 ? s : 1;
                sb.Append($"block\nconv {c} k3 s{stride} p1 nobias\nbn\nrelu\nconv {c} k3 p1 nobias\nbn\n");
                if (stride != 1 || inC != c) sb.Append($"shortcut conv {c} k1 s{stride} nobias\nshortcut bn\n");
                sb.Append("add\nrelu\n");
                inC = c;
            }
        sb.Append("gap\nflatten\nfc 1000\n");
        return sb.ToString();
    }

    /// <summary>Parses a spec file's content: JSON when it starts with '{', the compact text otherwise.</summary>
    /// <param name="content">The spec.</param>
    public static NetworkSpec ParseAny(string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        return content.TrimStart().StartsWith('{') ? ParseJson(content) : Parse(content);
    }

    /// <summary>Parses the compact text syntax; throws <see cref="ArgumentException"/> (parameter "spec") naming the
    /// statement that is malformed.</summary>
    /// <param name="spec">Statements separated by ';' or new lines; the first is <c>input CxHxW</c>.</param>
    public static NetworkSpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var statements = spec.Split('\n')
            .Select(l => { int h = l.IndexOf('#'); return h >= 0 ? l[..h] : l; })
            .SelectMany(l => l.Split(';'))
            .Select(s => s.Trim())
            .Where(s => s.Length > 0)
            .ToList();
        if (statements.Count == 0 || !statements[0].StartsWith("input", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException("spec: must start with 'input CxHxW' (e.g. 'input 3x224x224').", nameof(spec));
        var inTok = statements[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (inTok.Length != 2) throw new ArgumentException($"spec: '{statements[0]}': expected 'input CxHxW'.", nameof(spec));
        var input = Sizes(inTok[1], statements[0]);
        return new NetworkSpec(input, statements.Skip(1).Select(ParseStatement));
    }

    private static readonly Regex Option = new(@"^(k|s|p|d|g|op|og)(\d+(?:x\d+)*)$", RegexOptions.CultureInvariant);

    /// <summary>Parses one layer statement of the compact text syntax, e.g. <c>conv 64 k3 s2 p1 nobias</c>.</summary>
    /// <param name="statement">The statement.</param>
    public static LayerSpec ParseStatement(string statement)
    {
        ArgumentNullException.ThrowIfNull(statement);
        var tok = statement.Trim().ToLowerInvariant().Split((char[])[' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries).ToList();
        ArgumentException Bad(string why) => new($"spec: '{statement.Trim()}': {why}", "spec");
        if (tok.Count == 0) throw Bad("empty statement.");
        bool shortcut = false;
        if (tok[0] is "shortcut" or "sc") { shortcut = true; tok.RemoveAt(0); if (tok.Count == 0) throw Bad("'shortcut' needs a layer."); }
        var kind = tok[0] switch
        {
            "conv" or "conv1d" or "conv2d" or "conv3d" => LayerKind.Conv,
            "convt" or "deconv" or "convtranspose" or "conv_transpose" => LayerKind.ConvTranspose,
            "deformconv" or "deform_conv" or "dcn" => LayerKind.DeformConv,
            "maxpool" => LayerKind.MaxPool,
            "avgpool" => LayerKind.AvgPool,
            "adaptivemaxpool" => LayerKind.AdaptiveMaxPool,
            "adaptiveavgpool" => LayerKind.AdaptiveAvgPool,
            "gap" or "globalavgpool" => LayerKind.GlobalAvgPool,
            "gmp" or "globalmaxpool" => LayerKind.GlobalMaxPool,
            "fc" or "linear" => LayerKind.Linear,
            "flatten" => LayerKind.Flatten,
            "bn" or "batchnorm" => LayerKind.BatchNorm,
            "relu" => LayerKind.ReLU,
            "block" => LayerKind.Block,
            "add" => LayerKind.Add,
            var k => throw Bad($"unknown layer '{k}' (conv, convt, deformconv, maxpool, avgpool, adaptiveavgpool, adaptivemaxpool, gap, gmp, fc, flatten, bn, relu, block, add)."),
        };
        if (shortcut && kind is LayerKind.Block or LayerKind.Add) throw Bad("'block' and 'add' cannot be shortcut layers.");
        var layer = new LayerSpec { Kind = kind, Shortcut = shortcut };
        int i = 1;
        bool needsCount = kind is LayerKind.Conv or LayerKind.ConvTranspose or LayerKind.DeformConv or LayerKind.Linear;
        if (needsCount || kind is LayerKind.AdaptiveAvgPool or LayerKind.AdaptiveMaxPool)
        {
            if (tok.Count < 2) throw Bad(needsCount ? "expected the number of output channels/features." : "expected the output size.");
            if (needsCount)
            {
                if (!int.TryParse(tok[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
                    throw Bad($"'{tok[1]}' is not a positive number of outputs.");
                layer = layer with { Channels = n };
            }
            else layer = layer with { OutputSize = Sizes(tok[1], statement) };
            i = 2;
        }
        bool hasKernel = false;
        for (; i < tok.Count; i++)
        {
            var t = tok[i];
            bool convLike = kind is LayerKind.Conv or LayerKind.ConvTranspose or LayerKind.DeformConv;
            bool pool = kind is LayerKind.MaxPool or LayerKind.AvgPool;
            if (t is "nobias" or "bias" && (convLike || kind == LayerKind.Linear)) { layer = layer with { Bias = t == "bias" }; continue; }
            if (t is "ceil" && pool) { layer = layer with { CeilMode = true }; continue; }
            if (t is "same" or "valid" or "same_lower" && kind is LayerKind.Conv or LayerKind.DeformConv) { layer = layer with { PaddingString = t }; continue; }
            var m = Option.Match(t);
            if (!m.Success || !(convLike || pool)) throw Bad($"unexpected '{t}'.");
            var v = Sizes(m.Groups[2].Value, statement);
            string key = m.Groups[1].Value;
            if (key is "g" or "og" && (v.Length != 1 || !convLike)) throw Bad($"'{t}': groups take one number on convolutions.");
            if (key == "op" && kind != LayerKind.ConvTranspose) throw Bad("output padding ('op') applies to transposed convolutions only.");
            if (key == "og" && kind != LayerKind.DeformConv) throw Bad("offset groups ('og') apply to deformable convolutions only.");
            layer = key switch
            {
                "k" => layer with { Kernel = v },
                "s" => layer with { Stride = v },
                "p" => layer with { Padding = ZeroOk(m.Groups[2].Value, statement) },
                "d" => layer with { Dilation = v },
                "g" => layer with { Groups = v[0] },
                "op" => layer with { OutputPadding = ZeroOk(m.Groups[2].Value, statement) },
                _ => layer with { OffsetGroups = v[0] },
            };
            hasKernel |= key == "k";
        }
        if ((kind is LayerKind.Conv or LayerKind.ConvTranspose or LayerKind.DeformConv or LayerKind.MaxPool or LayerKind.AvgPool) && !hasKernel)
            throw Bad("expected a kernel size, e.g. 'k3' or 'k3x5'.");
        return layer;
    }

    private static int[] Sizes(string s, string statement, bool allowZero = false)
    {
        var parts = s.Split('x');
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out r[i]) || (r[i] < 1 && !allowZero))
                throw new ArgumentException($"spec: '{statement.Trim()}': '{s}' is not a list of positive sizes like 3x224x224.", "spec");
        return r;
    }

    private static int[] ZeroOk(string s, string statement) => Sizes(s, statement, allowZero: true);

    /// <summary>Parses the JSON form: <c>{"input": [3, 224, 224], "layers": [...]}</c>. Each layer is an object with
    /// "type" (the text keyword) and optional "out", "kernel", "stride", "padding" (int, list or "same"/"valid"),
    /// "dilation", "groups", "offset_groups", "bias", "output_padding", "output_size", "ceil_mode", "shortcut" — or
    /// a text statement string.</summary>
    /// <param name="json">The JSON text.</param>
    public static NetworkSpec ParseJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new ArgumentException($"json: not valid JSON: {e.Message}", nameof(json), e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("input", out var inp) || !root.TryGetProperty("layers", out var layers)
                || layers.ValueKind != JsonValueKind.Array)
                throw new ArgumentException("json: expected {\"input\": [C, H, W], \"layers\": [...]}.", nameof(json));
            var input = JsonInts(inp, "input");
            var list = new List<LayerSpec>();
            foreach (var l in layers.EnumerateArray())
            {
                if (l.ValueKind == JsonValueKind.String) { list.Add(ParseStatement(l.GetString()!)); continue; }
                if (l.ValueKind != JsonValueKind.Object || !l.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                    throw new ArgumentException($"json: layer {list.Count} must be a statement string or an object with a \"type\": {l}.", nameof(json));
                // Build the equivalent statement so both syntaxes share one parser and one set of checks.
                var head = new List<string>();
                var rest = new List<string>();
                if (l.TryGetProperty("shortcut", out var sc) && sc.ValueKind == JsonValueKind.True) head.Add("shortcut");
                head.Add(type.GetString()!);
                foreach (var p in l.EnumerateObject())
                {
                    switch (p.Name)
                    {
                        case "type" or "shortcut" or "name": break;
                        case "out" or "out_channels" or "out_features" or "channels": head.Add(Num(p.Value, p.Name)); break;
                        case "output_size": head.Add(string.Join("x", JsonInts(p.Value, p.Name))); break;
                        case "kernel" or "kernel_size": rest.Add("k" + string.Join("x", JsonInts(p.Value, p.Name))); break;
                        case "stride": rest.Add("s" + string.Join("x", JsonInts(p.Value, p.Name))); break;
                        case "padding":
                            rest.Add(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : "p" + string.Join("x", JsonInts(p.Value, p.Name)));
                            break;
                        case "dilation": rest.Add("d" + string.Join("x", JsonInts(p.Value, p.Name))); break;
                        case "groups": rest.Add("g" + Num(p.Value, p.Name)); break;
                        case "offset_groups": rest.Add("og" + Num(p.Value, p.Name)); break;
                        case "output_padding": rest.Add("op" + string.Join("x", JsonInts(p.Value, p.Name))); break;
                        case "bias": rest.Add(p.Value.ValueKind == JsonValueKind.False ? "nobias" : "bias"); break;
                        case "ceil_mode": if (p.Value.ValueKind == JsonValueKind.True) rest.Add("ceil"); break;
                        default: throw new ArgumentException($"json: layer {list.Count}: unknown key \"{p.Name}\".", nameof(json));
                    }
                }
                var sb = string.Join(' ', head.Concat(rest));
                list.Add(ParseStatement(sb));
            }
            return new NetworkSpec(input, list);
        }
    }

    private static string Num(JsonElement e, string name) => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v)
        ? v.ToString(CultureInfo.InvariantCulture)
        : throw new ArgumentException($"json: \"{name}\" must be an integer, got {e}.", "json");

    private static int[] JsonInts(JsonElement e, string name)
    {
        if (e.ValueKind == JsonValueKind.Number) return [int.Parse(Num(e, name), CultureInfo.InvariantCulture)];
        if (e.ValueKind != JsonValueKind.Array) throw new ArgumentException($"json: \"{name}\" must be an integer or a list of integers, got {e}.", "json");
        return e.EnumerateArray().Select(x => int.Parse(Num(x, name), CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Computes every layer's output shape, parameters, MACs, receptive field and jump.</summary>
    public NetworkReport Analyze() => NetworkAnalyzer.Run(this);

    /// <summary>The spec in the compact text syntax, one statement per line.</summary>
    public override string ToString() => $"input {string.Join("x", Input)}\n" + string.Join("\n", Layers.Select(l => l.ToString()));
}
