using System.Globalization;
using System.Text.Json;
using ConvKit.Imaging;
using ConvKit.IO;
using ConvKit.Nn;
using ConvKit.Tensors;

namespace ConvKit.Cli.Commands;

/// <summary>convkit predict: classifies images with a saved model.</summary>
internal static class PredictCommand
{
    private const string Usage = """
        Usage: convkit predict IMAGE... --model model.safetensors [--top K] [--json]

        IMAGE: .png, .pgm/.ppm (P2, P3, P5, P6), or .npy (pixels [H, W], [C, H, W] or [1, C, H, W]; values in
        [0, 1], or 0..255 which are scaled). The image must have the model's input size.
        """;

    public static int Run(CliArgs args)
    {
        if (args.Help) { Console.WriteLine(Usage); return 0; }
        string path = args.Get("model") ?? throw new ArgumentException("--model: the .safetensors file is required.");
        int top = args.Int("top", 3);
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        if (args.Positional.Count == 0) throw new ArgumentException("image: give at least one image file to classify.");
        if (top < 1) throw new ArgumentException($"--top: must be at least 1, got {top}.");
        var m = TrainCommand.LoadModel(path);
        var names = TrainCommand.ClassNames(m.Dataset, m.Classes);
        foreach (var file in args.Positional)
        {
            var img = LoadImage(file, m.Channels, m.Height, m.Width);
            var x = new Tensor<float>(m.Channels * m.Height * m.Width);
            var xs = x.AsSpan(); var src = img.AsSpan();
            for (int i = 0; i < xs.Length; i++) xs[i] = (src[i] - m.Mean) / m.Std;
            Tensor<float> logits;
            using (Autograd.NoGrad()) logits = m.Net.Forward(x.Reshape(1, m.Channels, m.Height, m.Width));
            var p = Trainer.Softmax<float>(logits.AsSpan());
            var order = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).Take(top).ToArray();
            if (json)
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["image"] = file, ["class"] = order[0], ["label"] = names[order[0]], ["probability"] = Math.Round(p[order[0]], 6),
                    ["top"] = order.Select(i => new Dictionary<string, object> { ["class"] = i, ["label"] = names[i], ["probability"] = Math.Round(p[i], 6) }).ToArray(),
                }));
            else
                Console.WriteLine($"{file}: {names[order[0]]} ({p[order[0]].ToString("P1", CultureInfo.InvariantCulture)})  " +
                    string.Join(", ", order.Skip(1).Select(i => $"{names[i]} {p[i].ToString("P1", CultureInfo.InvariantCulture)}")));
        }
        return 0;
    }

    /// <summary>Loads an image as [C, H, W] values in [0, 1].</summary>
    internal static Tensor<float> LoadImage(string file, int c, int h, int w)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"image: file '{file}' does not exist.");
        bool isNpy = Path.GetExtension(file).Equals(".npy", StringComparison.OrdinalIgnoreCase);
        Tensor<float> t;
        if (isNpy) t = Npy.ReadTensor<float>(file);
        else
        {
            // PNG / PGM / PPM through the library's codecs (scaled to [0, 1]); color converted to the model's channels.
            var img = Image.Load(file);
            img = c == 1 ? img.ToGray() : c == 3 ? img.ToRgb() : img;
            t = img.ToTensor();
        }
        var shape = t.Shape.ToArray();
        while (shape.Length > 2 && shape[0] == 1 && shape.Length > 3) shape = shape[1..];
        int tc = shape.Length == 2 ? 1 : shape.Length == 3 ? shape[0] : -1;
        if (tc != c || shape[^2] != h || shape[^1] != w)
            throw new ArgumentException($"image: '{file}' has shape {ShapeMath.Format(t.Shape)}, the model expects [{c}, {h}, {w}].");
        var r = t.Clone().Reshape(c, h, w);
        var s = r.AsSpan();
        float max = 0;
        foreach (var v in s) max = Math.Max(max, v);
        if (isNpy && max > 1) for (int i = 0; i < s.Length; i++) s[i] /= 255f; // 8-bit pixel values in a .npy
        return r;
    }
}
