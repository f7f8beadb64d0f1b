using System.Globalization;
using ConvKit.Nn;
using ConvKit.Tensors;

namespace ConvKit.Imaging;

/// <summary>One tile of a <see cref="FeatureGrid"/>: a label and a gray [1, h, w] or color [3, h, w] map in [0, 1].</summary>
/// <param name="Label">Text drawn under the tile.</param>
/// <param name="Map">The picture.</param>
public sealed record GridTile(string Label, Tensor<float> Map);

/// <summary>A titled row group of tiles.</summary>
/// <param name="Title">Section heading.</param>
/// <param name="Tiles">Tiles, laid out left to right and wrapped.</param>
public sealed record GridSection(string Title, IReadOnlyList<GridTile> Tiles);

/// <summary>
/// Visualizes what a convolutional network computes: its learned first-layer kernels and the feature maps each
/// 2-d convolution layer produces for one input, as a labelled image grid (labels in <see cref="BitmapFont"/>).
/// </summary>
public static class FeatureGrid
{
    /// <summary>Runs <paramref name="model"/> on <paramref name="input"/> ([C, H, W] or [1, C, H, W]) in evaluation mode
    /// and returns the output [C, h, w] of every 2-d convolution layer with its state-dict name, in execution order.
    /// Sequential containers are walked layer by layer; other modules run whole.</summary>
    public static List<(string Name, ConvNd<float> Layer, Tensor<float> Output)> ConvOutputs(Module<float> model, Tensor<float> input)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(input);
        var x = input.Rank == 3 ? input.Reshape([1, .. input.Shape]) : input;
        if (x.Rank != 4 || x.Size(0) != 1)
            throw new ArgumentException($"input: expected [C, H, W] or [1, C, H, W], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        var result = new List<(string, ConvNd<float>, Tensor<float>)>();
        model.Eval();
        using (Autograd.NoGrad()) Walk(model, "", x, result);
        return result;
    }

    private static Tensor<float> Walk(Module<float> m, string name, Tensor<float> x, List<(string, ConvNd<float>, Tensor<float>)> acc)
    {
        if (m is Sequential<float> seq)
        {
            int i = 0;
            foreach (var layer in seq.Layers)
            {
                x = Walk(layer, name.Length == 0 ? i.ToString(CultureInfo.InvariantCulture) : $"{name}.{i}", x, acc);
                i++;
            }
            return x;
        }
        var y = m.Forward(x);
        if (m is ConvNd<float> { Rank: 2 } conv) acc.Add((name, conv, y.Select(0)));
        return y;
    }

    /// <summary>Tiles of the kernels of a weight [C_out, C_in, kH, kW]: color when C_in is 3, else the mean over input
    /// channels; each tile maps [−max|w|, max|w|] to [0, 1] so that zero is mid-gray.</summary>
    public static List<GridTile> KernelTiles(string name, Tensor<float> weight, int max = 64)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank != 4) throw new ArgumentException($"weight: expected [C_out, C_in, kH, kW], got {ShapeMath.Format(weight.Shape)}.", nameof(weight));
        int co = weight.Size(0), ci = weight.Size(1), kh = weight.Size(2), kw = weight.Size(3);
        var tiles = new List<GridTile>();
        for (int o = 0; o < Math.Min(co, max); o++)
        {
            var w = weight.Select(o);
            Tensor<float> map;
            if (ci == 3) map = w.Clone();
            else
            {
                map = new Tensor<float>(1, kh, kw);
                var src = w.AsSpan(); var d = map.AsSpan();
                for (int c = 0; c < ci; c++) for (int p = 0; p < kh * kw; p++) d[p] += src[c * kh * kw + p] / ci;
            }
            var s = map.AsSpan();
            float m = 0;
            foreach (var v in s) m = Math.Max(m, Math.Abs(v));
            for (int p = 0; p < s.Length; p++) s[p] = m > 0 ? 0.5f + 0.5f * s[p] / m : 0.5f;
            tiles.Add(new GridTile($"{name} {o}", map));
        }
        return tiles;
    }

    /// <summary>Tiles of feature maps [C, h, w], each min-max normalized on its own.</summary>
    public static List<GridTile> MapTiles(string name, Tensor<float> maps, int max = 64)
    {
        ArgumentNullException.ThrowIfNull(maps);
        if (maps.Rank != 3) throw new ArgumentException($"maps: expected [C, h, w], got {ShapeMath.Format(maps.Shape)}.", nameof(maps));
        var tiles = new List<GridTile>();
        for (int c = 0; c < Math.Min(maps.Size(0), max); c++)
        {
            var m = maps.Select(c).Clone().Reshape(1, maps.Size(1), maps.Size(2));
            var s = m.AsSpan();
            float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
            foreach (var v in s) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
            for (int p = 0; p < s.Length; p++) s[p] = hi > lo ? (s[p] - lo) / (hi - lo) : 0;
            tiles.Add(new GridTile($"{name} {c}", m));
        }
        return tiles;
    }

    /// <summary>Renders sections of tiles into one RGB image: each tile is scaled (nearest neighbour) to
    /// <paramref name="tileSize"/> pixels on its longer side, <paramref name="columns"/> tiles per row.</summary>
    public static Image Render(IReadOnlyList<GridSection> sections, int tileSize = 64, int columns = 8)
    {
        ArgumentNullException.ThrowIfNull(sections);
        if (tileSize is < 8 or > 1024) throw new ArgumentOutOfRangeException(nameof(tileSize), $"tileSize must be in [8, 1024], got {tileSize}.");
        if (columns is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(columns), $"columns must be in [1, 256], got {columns}.");
        const int Pad = 6, Label = 10, Title = 16;
        int cellW = Math.Max(tileSize, 0) + Pad, cellH = tileSize + Label + Pad;
        int width = Pad + columns * cellW;
        foreach (var s in sections) width = Math.Max(width, 2 * Pad + BitmapFont.MeasureWidth(s.Title, 2));
        int height = Pad;
        foreach (var s in sections) height += Title + Pad + (s.Tiles.Count + columns - 1) / columns * cellH;
        var img = new Image(width, height, 3);
        Array.Fill(img.Data, (ushort)255);
        ushort[] black = [0, 0, 0], gray = [90, 90, 90];
        int y = Pad;
        foreach (var s in sections)
        {
            BitmapFont.DrawText(img, Pad, y, s.Title, black, 2);
            y += Title + Pad;
            for (int i = 0; i < s.Tiles.Count; i++)
            {
                int x0 = Pad + i % columns * cellW, y0 = y + i / columns * cellH;
                DrawTile(img, s.Tiles[i].Map, x0, y0, tileSize);
                var label = s.Tiles[i].Label;
                int maxChars = Math.Max(1, (cellW - 2) / BitmapFont.Advance);
                if (label.Length > maxChars) label = label[^maxChars..];
                BitmapFont.DrawText(img, x0, y0 + tileSize + 2, label, gray);
            }
            y += (s.Tiles.Count + columns - 1) / columns * cellH;
        }
        return img;
    }

    private static void DrawTile(Image img, Tensor<float> map, int x0, int y0, int size)
    {
        if (map.Rank == 2) map = map.Reshape(1, map.Size(0), map.Size(1));
        int ch = map.Size(0), h = map.Size(1), w = map.Size(2);
        if (ch is not (1 or 3)) throw new ArgumentException($"map: a tile needs 1 or 3 channels, got {ch}.", nameof(map));
        int dw = w >= h ? size : Math.Max(1, size * w / h), dh = h >= w ? size : Math.Max(1, size * h / w);
        var d = map.AsSpan();
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
            {
                int sy = y * h / dh, sx = x * w / dw;
                for (int c = 0; c < 3; c++)
                {
                    float v = d[((ch == 3 ? c : 0) * h + sy) * w + sx];
                    img[x0 + x, y0 + y, c] = (ushort)Math.Clamp((int)MathF.Round(v * 255), 0, 255);
                }
            }
        // Frame.
        for (int x = -1; x <= dw; x++) { Set(img, x0 + x, y0 - 1); Set(img, x0 + x, y0 + dh); }
        for (int y = -1; y <= dh; y++) { Set(img, x0 - 1, y0 + y); Set(img, x0 + dw, y0 + y); }
    }

    private static void Set(Image img, int x, int y)
    {
        if ((uint)x >= (uint)img.Width || (uint)y >= (uint)img.Height) return;
        for (int c = 0; c < 3; c++) img[x, y, c] = 160;
    }

    /// <summary>Builds a plain convolution stack from a state dict when the architecture is not known: every 4-d
    /// <c>*.weight</c> (in Sequential index order) becomes a stride-1 Conv2d with "same" zero padding (and its
    /// <c>*.bias</c>), followed by ReLU; the stack ends at the first weight whose input channels do not match.</summary>
    public static Sequential<float> ConvStack(IReadOnlyDictionary<string, Tensor<float>> state, int inputChannels)
    {
        ArgumentNullException.ThrowIfNull(state);
        var names = state.Keys.Where(k => k.EndsWith(".weight", StringComparison.Ordinal) || k == "weight")
            .Where(k => state[k].Rank == 4)
            .OrderBy(k => k, Comparer<string>.Create(CompareNatural)).ToList();
        if (names.Count == 0) throw new InvalidDataException("the model holds no 4-d convolution weights.");
        var seq = new Sequential<float>();
        int c = inputChannels;
        foreach (var n in names)
        {
            var w = state[n];
            if (w.Size(1) != c) break;
            int kh = w.Size(2), kw = w.Size(3);
            var prefix = n[..^"weight".Length];
            state.TryGetValue(prefix + "bias", out var b);
            var conv = new Conv2d<float>(c, w.Size(0), new[] { kh, kw }, padding: Descriptors.Padding.Same, bias: b is not null);
            var sd = new Dictionary<string, Tensor<float>> { ["weight"] = w };
            if (b is not null) sd["bias"] = b;
            conv.LoadStateDict(sd);
            seq.Add(conv);
            seq.Add(new ReluLayer());
            c = w.Size(0);
        }
        if (seq.Layers.Count == 0)
            throw new InvalidDataException($"the first convolution weight '{names[0]}' {ShapeMath.Format(state[names[0]].Shape)} does not take {inputChannels} input channel(s).");
        return seq;
    }

    private static int CompareNatural(string a, string b)
    {
        var pa = a.Split('.'); var pb = b.Split('.');
        for (int i = 0; i < Math.Min(pa.Length, pb.Length); i++)
        {
            int r = int.TryParse(pa[i], out var ia) && int.TryParse(pb[i], out var ib) ? ia.CompareTo(ib) : string.CompareOrdinal(pa[i], pb[i]);
            if (r != 0) return r;
        }
        return pa.Length.CompareTo(pb.Length);
    }

    private sealed class ReluLayer : Module<float>
    {
        public override Variable<float> Forward(Variable<float> input) => new(Functional.Relu(input.Data));
    }
}
