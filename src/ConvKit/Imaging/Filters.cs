using System.Globalization;
using ConvKit.IO;
using ConvKit.Tensors;

namespace ConvKit.Imaging;

/// <summary>A parsed filter: one kernel, or two whose responses combine as a gradient magnitude
/// (<c>sqrt(gx² + gy²)</c>, e.g. "sobel").</summary>
public sealed class FilterSpec
{
    /// <summary>Name as given (or "custom").</summary>
    public string Name { get; }
    /// <summary>The kernel (the x-derivative for magnitude filters).</summary>
    public Kernel2D Kernel { get; }
    /// <summary>The y-derivative kernel for magnitude filters; null otherwise.</summary>
    public Kernel2D? KernelY { get; }
    /// <summary>True for derivative/edge kernels whose signed response is usually shown as its absolute value.</summary>
    public bool IsEdge { get; }

    /// <summary>Creates a filter spec.</summary>
    public FilterSpec(string name, Kernel2D kernel, Kernel2D? kernelY = null, bool isEdge = false)
    {
        Name = name; Kernel = kernel; KernelY = kernelY; IsEdge = isEdge || kernelY is not null;
    }

    /// <summary>Applies the filter to every plane (see <see cref="Filter2D.Apply"/> for the arguments).</summary>
    public Tensor<float> Apply(Tensor<float> image, BorderMode border = BorderMode.Reflect101, float borderValue = 0f,
        bool convolution = false, int stride = 1, int dilation = 1, int threads = 0)
    {
        var gx = Filter2D.Apply(image, Kernel, border, borderValue, convolution, stride, dilation, threads);
        if (KernelY is null) return gx;
        var gy = Filter2D.Apply(image, KernelY, border, borderValue, convolution, stride, dilation, threads);
        var a = gx.AsSpan(); var b = gy.AsSpan();
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Sqrt(a[i] * a[i] + b[i] * b[i]);
        return gx;
    }
}

/// <summary>
/// Named image kernels (identity, box:N, gaussian:N[:sigma], sharpen, emboss, sobel(-x/-y), scharr(-x/-y),
/// prewitt(-x/-y), laplacian, laplacian8, edge), custom matrices such as <c>[[1,0,-1],[2,0,-2],[1,0,-1]]</c>
/// and kernel files (.npy or whitespace/comma separated text). Derivative kernels follow OpenCV's
/// Sobel/Scharr sign conventions (x grows to the right, y downwards).
/// </summary>
public static class Filters
{
    /// <summary>The names <see cref="Parse"/> understands (N: odd size).</summary>
    public static readonly string[] Names =
    [
        "identity", "box:N", "gaussian:N[:sigma]", "sharpen", "emboss", "sobel-x", "sobel-y", "sobel", "scharr-x", "scharr-y", "scharr",
        "prewitt-x", "prewitt-y", "prewitt", "laplacian", "laplacian8", "edge",
    ];

    /// <summary>Parses a named kernel, a matrix literal or a kernel file path.</summary>
    public static FilterSpec Parse(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        var s = spec.Trim();
        if (s.StartsWith('[')) return new FilterSpec("custom", ParseMatrix(s));
        var parts = s.ToLowerInvariant().Split(':');
        string name = parts[0];
        float[,] sobelX = { { -1, 0, 1 }, { -2, 0, 2 }, { -1, 0, 1 } };
        float[,] scharrX = { { -3, 0, 3 }, { -10, 0, 10 }, { -3, 0, 3 } };
        float[,] prewittX = { { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } };
        switch (name)
        {
            case "identity": NoArgs(parts); return new FilterSpec(name, new Kernel2D(1, 1, [1f]));
            case "box":
            {
                int n = SizeArg(parts, spec);
                if (parts.Length > 2) throw Bad(spec);
                var v = new float[n * n];
                Array.Fill(v, 1f / (n * n));
                return new FilterSpec(s, new Kernel2D(n, n, v));
            }
            case "gaussian":
            {
                int n = SizeArg(parts, spec);
                double? sigma = null;
                if (parts.Length == 3)
                {
                    if (!double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var sg) || !(sg > 0) || sg > 1e4)
                        throw new ArgumentException($"kernel: gaussian sigma '{parts[2]}' must be a positive number.", nameof(spec));
                    sigma = sg;
                }
                else if (parts.Length > 3) throw Bad(spec);
                var g = Gaussian1D(n, sigma);
                return new FilterSpec(s, Kernel2D.Outer(g, g));
            }
            case "sharpen": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(new float[,] { { 0, -1, 0 }, { -1, 5, -1 }, { 0, -1, 0 } }));
            case "emboss": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(new float[,] { { -2, -1, 0 }, { -1, 1, 1 }, { 0, 1, 2 } }));
            case "sobel-x": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(sobelX), isEdge: true);
            case "sobel-y": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(Transpose(sobelX)), isEdge: true);
            case "sobel": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(sobelX), Kernel2D.FromArray(Transpose(sobelX)));
            case "scharr-x": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(scharrX), isEdge: true);
            case "scharr-y": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(Transpose(scharrX)), isEdge: true);
            case "scharr": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(scharrX), Kernel2D.FromArray(Transpose(scharrX)));
            case "prewitt-x": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(prewittX), isEdge: true);
            case "prewitt-y": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(Transpose(prewittX)), isEdge: true);
            case "prewitt": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(prewittX), Kernel2D.FromArray(Transpose(prewittX)));
            case "laplacian": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(new float[,] { { 0, 1, 0 }, { 1, -4, 1 }, { 0, 1, 0 } }), isEdge: true);
            case "laplacian8": NoArgs(parts); return new FilterSpec(name, Kernel2D.FromArray(new float[,] { { 1, 1, 1 }, { 1, -8, 1 }, { 1, 1, 1 } }), isEdge: true);
            case "edge":
            {
                NoArgs(parts);
                var k = new float[9];
                Array.Fill(k, -1f / 3);
                k[4] = 8f / 3;
                return new FilterSpec(name, new Kernel2D(3, 3, k), isEdge: true);
            }
        }
        if (File.Exists(s)) return new FilterSpec(Path.GetFileName(s), ReadKernelFile(s));
        throw new ArgumentException($"kernel: unknown kernel '{spec}'. Use one of {string.Join(", ", Names)}, a matrix like [[1,0,-1],[2,0,-2],[1,0,-1]], or a .npy/text kernel file.", nameof(spec));
    }

    private static ArgumentException Bad(string spec) => new($"kernel: cannot parse '{spec}'.", nameof(spec));

    private static void NoArgs(string[] parts)
    {
        if (parts.Length != 1) throw new ArgumentException($"kernel: '{parts[0]}' takes no parameters.", "spec");
    }

    private static int SizeArg(string[] parts, string spec)
    {
        if (parts.Length < 2 || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < 1 || n % 2 == 0 || n > 255)
            throw new ArgumentException($"kernel: '{spec}' needs an odd size between 1 and 255, e.g. {parts[0]}:5.", nameof(spec));
        return n;
    }

    private static float[,] Transpose(float[,] k)
    {
        var t = new float[k.GetLength(1), k.GetLength(0)];
        for (int i = 0; i < k.GetLength(0); i++) for (int j = 0; j < k.GetLength(1); j++) t[j, i] = k[i, j];
        return t;
    }

    /// <summary>OpenCV's getGaussianKernel: for odd n ≤ 9 without sigma its fixed tables; otherwise
    /// exp(−x²/(2σ²)) normalized to sum 1, with σ defaulting to 0.3·((n−1)·0.5 − 1) + 0.8.</summary>
    public static float[] Gaussian1D(int n, double? sigma = null)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), $"n must be positive, got {n}.");
        if (sigma is null && n % 2 == 1 && n <= 9)
        {
            double[] t = n switch
            {
                1 => [1],
                3 => [0.25, 0.5, 0.25],
                5 => [0.0625, 0.25, 0.375, 0.25, 0.0625],
                7 => [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
                _ => [4 / 256.0, 13 / 256.0, 30 / 256.0, 51 / 256.0, 60 / 256.0, 51 / 256.0, 30 / 256.0, 13 / 256.0, 4 / 256.0],
            };
            return t.Select(v => (float)v).ToArray();
        }
        double sg = sigma ?? 0.3 * ((n - 1) * 0.5 - 1) + 0.8;
        var g = new double[n];
        double sum = 0, scale = -0.5 / (sg * sg);
        for (int i = 0; i < n; i++)
        {
            double x = i - (n - 1) * 0.5;
            g[i] = Math.Exp(scale * x * x);
            sum += g[i];
        }
        return g.Select(v => (float)(v / sum)).ToArray();
    }

    /// <summary>Parses a matrix literal: <c>[[a, b], [c, d]]</c> (rows of equal length) or <c>[a, b, c]</c> (one row).</summary>
    public static Kernel2D ParseMatrix(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        var rows = new List<float[]>();
        if (t.StartsWith("[[", StringComparison.Ordinal))
        {
            if (!t.EndsWith("]]", StringComparison.Ordinal)) throw new ArgumentException($"kernel: matrix '{text}' must end with ']]'.", nameof(text));
            foreach (var r in t[2..^2].Split(']'))
            {
                var row = r.Trim().TrimStart(',').Trim().TrimStart('[');
                if (row.Length == 0 && rows.Count > 0) continue;
                rows.Add(ParseNumbers(row, text));
            }
        }
        else if (t.StartsWith('[') && t.EndsWith(']')) rows.Add(ParseNumbers(t[1..^1], text));
        else throw new ArgumentException($"kernel: '{text}' is not a matrix like [[1,0,-1],[2,0,-2],[1,0,-1]].", nameof(text));
        return FromRows(rows, text);
    }

    private static float[] ParseNumbers(string s, string context)
    {
        var items = s.Split([',', ' ', '\t', ';'], StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) throw new ArgumentException($"kernel: empty row in '{context}'.", "text");
        var v = new float[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            var it = items[i];
            int slash = it.IndexOf('/');
            double num, den = 1;
            bool ok = slash > 0
                ? double.TryParse(it[..slash], NumberStyles.Float, CultureInfo.InvariantCulture, out num)
                  && double.TryParse(it[(slash + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out den) && den != 0
                : double.TryParse(it, NumberStyles.Float, CultureInfo.InvariantCulture, out num);
            num /= den;
            if (!ok || !double.IsFinite(num)) throw new ArgumentException($"kernel: '{it}' in '{context}' is not a number.", "text");
            v[i] = (float)num;
        }
        return v;
    }

    private static Kernel2D FromRows(List<float[]> rows, string context)
    {
        int cols = rows[0].Length;
        if (rows.Any(r => r.Length != cols)) throw new ArgumentException($"kernel: rows of '{context}' differ in length.", "text");
        if (rows.Count > Kernel2D.MaxSize || cols > Kernel2D.MaxSize) throw new ArgumentException($"kernel: '{context}' is larger than {Kernel2D.MaxSize}x{Kernel2D.MaxSize}.", "text");
        return new Kernel2D(rows.Count, cols, rows.SelectMany(r => r).ToArray());
    }

    /// <summary>Reads a kernel from a .npy file (2-d, or [1, 1, kH, kW]) or a text file (a matrix literal, or one
    /// row per line with numbers separated by spaces or commas; # starts a comment).</summary>
    public static Kernel2D ReadKernelFile(string path)
    {
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) return Kernel2D.FromTensor(Npy.ReadTensor<float>(path));
        var info = new FileInfo(path);
        if (info.Length > 16 << 20) throw new InvalidDataException($"{path}: kernel file is too large ({info.Length} bytes).");
        var text = File.ReadAllText(path);
        try
        {
            if (text.TrimStart().StartsWith('[')) return ParseMatrix(text.Replace('\n', ' ').Replace('\r', ' '));
            var rows = new List<float[]>();
            foreach (var line in text.Split('\n'))
            {
                var l = line;
                int hash = l.IndexOf('#');
                if (hash >= 0) l = l[..hash];
                if (l.Trim().Length == 0) continue;
                rows.Add(ParseNumbers(l, path));
            }
            if (rows.Count == 0) throw new ArgumentException("no numbers", nameof(path));
            return FromRows(rows, path);
        }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: not a valid kernel file ({e.Message})", e); }
    }
}
