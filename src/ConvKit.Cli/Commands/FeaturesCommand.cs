using System.Globalization;
using ConvKit.Imaging;
using ConvKit.IO;
using ConvKit.Nn;
using ConvKit.Tensors;

namespace ConvKit.Cli.Commands;

/// <summary>convkit features: a model's first-layer kernels and every conv layer's feature maps as an image grid.</summary>
internal static class FeaturesCommand
{
    private const string Usage = """
        Usage: convkit features MODEL.safetensors IMAGE.png -o grid.png [options]
               convkit features W1.npy[,W2.npy,...] IMAGE.png -o grid.png [options]

        Renders the learned first-layer kernels and the output of each 2-d convolution layer for IMAGE as a
        labelled grid PNG. A checkpoint written by 'convkit train' is rebuilt with its architecture; the image is
        converted to the model's channels (gray or RGB), resized to its input size and normalized as in training.
        Other weights (a .safetensors without architecture, or .npy files: 4-d tensors [C_out, C_in, kH, kW],
        a NAME.bias.npy next to NAME.npy is used as its bias) run in order as stride-1 convolutions with
        "same" zero padding, each followed by ReLU.

        Options:
          --size HxW      resize the input first (default: the model's recorded input size, else unchanged)
          --max N         at most N maps per layer (default 32)
          --tile PX       tile size in pixels (default 64)
          --columns N     tiles per row (default 8)
        """;

    public static int Run(CliArgs args)
    {
        if (args.Help) { Console.WriteLine(Usage); return 0; }
        var output = args.Get("o", "output") ?? throw new ArgumentException("-o/--output: an output PNG path is required.");
        var size = args.Get("size");
        int max = args.Int("max", 32), tile = args.Int("tile", 64), columns = args.Int("columns", 8);
        args.EnsureAllUsed();
        if (args.Positional.Count != 2) throw new ArgumentException("expected MODEL and IMAGE (see --help).");
        if (max < 1) throw new ArgumentException($"--max: must be positive, got {max}.");

        Module<float> net;
        int inC;
        (int H, int W)? target = size is not null ? ParseSize(size) : null;
        float mean = 0f, std = 1f;
        var (state, meta) = LoadWeights(args.Positional[0]);
        if (meta.ContainsKey(Checkpoint.ArchitectureKey))
        {
            // A checkpoint of convkit train: rebuild the real architecture (strides, padding, activations, classifier).
            var m = TrainCommand.LoadModel(args.Positional[0]);
            net = m.Net; inC = m.Channels; mean = m.Mean; std = m.Std;
            if (target is { } t0 && (t0.H != m.Height || t0.W != m.Width))
                throw new ArgumentException($"--size: {args.Positional[0]} ({m.Architecture}) takes {m.Height}x{m.Width} inputs.");
            target = (m.Height, m.Width);
        }
        else
        {
            var seq = FeatureGrid.ConvStack(state, InputChannels(state));
            net = seq;
            inC = ((ConvNd<float>)seq.Layers[0]).InChannels;
            if (target is null && meta.TryGetValue("convkit.input", out var shp))
            {
                var p = shp.Split(',');
                if (p.Length == 3 && int.TryParse(p[1], CultureInfo.InvariantCulture, out int mh) && int.TryParse(p[2], CultureInfo.InvariantCulture, out int mw)) target = (mh, mw);
            }
            mean = ReadFloat(meta, "convkit.mean", 0f);
            std = ReadFloat(meta, "convkit.std", 1f);
        }

        var img = Image.Load(args.Positional[1]);
        img = inC == 1 ? img.ToGray() : inC == 3 ? img.ToRgb() : throw new InvalidDataException($"the first layer takes {inC} channels; only 1 or 3 can come from an image.");
        var x = img.ToTensor();
        if (target is { } t && (t.H != x.Size(1) || t.W != x.Size(2))) x = ResizeArea(x, t.H, t.W);
        var shown = x.Clone();
        if (mean != 0 || std != 1) { var s = x.AsSpan(); for (int i = 0; i < s.Length; i++) s[i] = (s[i] - mean) / std; }

        var outputs = FeatureGrid.ConvOutputs(net, x);
        if (outputs.Count == 0) throw new InvalidDataException($"{args.Positional[0]}: the model has no 2-d convolution layer.");
        var sections = new List<GridSection>
        {
            new($"input {x.Size(2)}x{x.Size(1)}", [new GridTile(Path.GetFileName(args.Positional[1]), shown)]),
            new($"first-layer kernels {ShapeMath.Format(outputs[0].Layer.Weight.Data.Shape)}", FeatureGrid.KernelTiles("k", outputs[0].Layer.Weight.Data, max)),
        };
        foreach (var (name, layer, y) in outputs)
            sections.Add(new GridSection($"layer {name}: conv {layer.InChannels}->{layer.OutChannels}, maps {y.Size(2)}x{y.Size(1)}", FeatureGrid.MapTiles(name, y, max)));
        var grid = FeatureGrid.Render(sections, tile, columns);
        Png.Write(output, grid);
        Console.WriteLine($"{outputs.Count} conv layer(s), {outputs[0].Layer.OutChannels} first-layer kernels -> {output} ({grid.Width}x{grid.Height})");
        return 0;
    }

    private static int InputChannels(Dictionary<string, Tensor<float>> state)
    {
        var names = state.Where(kv => kv.Value.Rank == 4).Select(kv => kv.Key).ToList();
        // The first layer in Sequential order: the smallest numeric path.
        names.Sort((a, b) =>
        {
            var pa = a.Split('.'); var pb = b.Split('.');
            for (int i = 0; i < Math.Min(pa.Length, pb.Length); i++)
            {
                int r = int.TryParse(pa[i], out var ia) && int.TryParse(pb[i], out var ib) ? ia.CompareTo(ib) : string.CompareOrdinal(pa[i], pb[i]);
                if (r != 0) return r;
            }
            return pa.Length.CompareTo(pb.Length);
        });
        return state[names[0]].Size(1);
    }

    private static (Dictionary<string, Tensor<float>> State, Dictionary<string, string> Meta) LoadWeights(string spec)
    {
        if (spec.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var state = Checkpoint.Load<float>(spec, out var meta);
            return (state, meta);
        }
        // Plain path: comma-separated .npy weights (optionally name.bias.npy next to each).
        var dict = new Dictionary<string, Tensor<float>>(StringComparer.Ordinal);
        var files = spec.Split(',', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < files.Length; i++)
        {
            if (!files[i].EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"MODEL: '{files[i]}' is neither a .safetensors file nor a .npy weight.");
            var w = Npy.ReadTensor<float>(files[i]);
            if (w.Rank != 4) throw new InvalidDataException($"{files[i]}: expected a conv weight [C_out, C_in, kH, kW], got {ShapeMath.Format(w.Shape)}.");
            dict[$"{i}.weight"] = w;
            var bias = files[i][..^4] + ".bias.npy";
            if (File.Exists(bias)) dict[$"{i}.bias"] = Npy.ReadTensor<float>(bias);
        }
        return (dict, new Dictionary<string, string>());
    }

    private static float ReadFloat(Dictionary<string, string> meta, string key, float dflt)
        => meta.TryGetValue(key, out var s) && float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && float.IsFinite(v) && (key != "convkit.std" || v > 0) ? v : dflt;

    private static (int H, int W) ParseSize(string s)
    {
        var p = s.ToLowerInvariant().Split('x');
        if (p.Length == 2 && int.TryParse(p[0], CultureInfo.InvariantCulture, out int h) && int.TryParse(p[1], CultureInfo.InvariantCulture, out int w) && h is >= 1 and <= 4096 && w is >= 1 and <= 4096)
            return (h, w);
        throw new ArgumentException($"--size: '{s}' is not HxW (e.g. 64x64).");
    }

    /// <summary>Box-average resize of [C, H, W] to [C, h, w] (nearest neighbour when enlarging).</summary>
    private static Tensor<float> ResizeArea(Tensor<float> x, int h, int w)
    {
        int c = x.Size(0), H = x.Size(1), W = x.Size(2);
        var y = new Tensor<float>(c, h, w);
        var s = x.AsSpan(); var d = y.AsSpan();
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h; i++)
            {
                int y0 = i * H / h, y1 = Math.Max(y0 + 1, (i + 1) * H / h);
                for (int j = 0; j < w; j++)
                {
                    int x0 = j * W / w, x1 = Math.Max(x0 + 1, (j + 1) * W / w);
                    double acc = 0;
                    for (int yy = y0; yy < y1; yy++) for (int xx = x0; xx < x1; xx++) acc += s[(ch * H + yy) * W + xx];
                    d[(ch * h + i) * w + j] = (float)(acc / ((y1 - y0) * (x1 - x0)));
                }
            }
        return y;
    }
}
