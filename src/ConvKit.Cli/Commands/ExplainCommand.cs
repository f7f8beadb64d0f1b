using System.Globalization;
using ConvKit.Imaging;

namespace ConvKit.Cli.Commands;

/// <summary>convkit explain: a small convolution step by step, as a sparse matrix product, and its transpose.</summary>
internal static class ExplainCommand
{
    private const string Usage = """
        Usage: convkit explain [--input 4|HxW|MATRIX] [--kernel 3|HxW|MATRIX] [--stride S] [--padding P] [--svg FILE]

        Shows conv2d of a small input with a small kernel: the sliding-window sums, the sparse matrix C with
        vec(Y) = C · vec(X), its transpose Cᵀ, and the transposed convolution of Y computed three ways
        (ConvTranspose2d, Cᵀ · vec(Y), zero-insertion + padding k−1−p + 180°-rotated kernel), compared.
        Sizes fill the matrix with 1, 2, 3, ...; a MATRIX is written like "[[1,0,-1],[2,0,-2],[1,0,-1]]".
        Defaults: 4x4 input, 3x3 kernel, stride 1, padding 0.
        """;

    public static int Run(CliArgs args)
    {
        if (args.Help) { Console.WriteLine(Usage); return 0; }
        var input = ParseMatrixArg(args.Get("input", "i") ?? "4", "--input");
        var kernel = ParseMatrixArg(args.Get("kernel", "k") ?? "3", "--kernel");
        int stride = args.Int("stride", 1), padding = args.Int("padding", 0);
        var svg = args.Get("svg");
        args.EnsureAllUsed();
        if (args.Positional.Count > 0) throw new ArgumentException($"unexpected argument '{args.Positional[0]}' (see --help).");
        var e = ConvExplainer.Explain(input, kernel, stride, padding);
        Console.Write(e.ToText());
        if (svg is not null)
        {
            File.WriteAllText(svg, e.ToSvg());
            Console.WriteLine($"SVG written to {svg}");
        }
        return e.MaxDifference < 1e-9 ? 0 : 1;
    }

    private static double[,] ParseMatrixArg(string s, string name)
    {
        s = s.Trim();
        if (s.StartsWith('['))
        {
            var k = Filters.ParseMatrix(s);
            var m = new double[k.Rows, k.Cols];
            for (int i = 0; i < k.Rows; i++) for (int j = 0; j < k.Cols; j++) m[i, j] = k[i, j];
            return m;
        }
        var parts = s.ToLowerInvariant().Split('x');
        if (parts.Length is 1 or 2 && parts.All(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v is >= 1 and <= ConvExplainer.MaxSize))
        {
            int r = int.Parse(parts[0], CultureInfo.InvariantCulture), c = int.Parse(parts[^1], CultureInfo.InvariantCulture);
            return ConvExplainer.Sequence(r, c);
        }
        throw new ArgumentException($"{name}: '{s}' is neither a size (e.g. 4 or 4x5, at most {ConvExplainer.MaxSize}) nor a matrix like [[1,2],[3,4]].");
    }
}
