using System.Globalization;
using System.Text;
using ConvKit.Tensors;

namespace ConvKit.Imaging;

/// <summary>One output element of a small convolution: its window's products and their sum.</summary>
/// <param name="Row">Output row.</param>
/// <param name="Col">Output column.</param>
/// <param name="Terms">(input value, kernel weight) pairs; positions in the zero padding contribute input 0.</param>
/// <param name="Sum">The output value.</param>
public sealed record ConvStep(int Row, int Col, IReadOnlyList<(double Input, double Weight, bool Padding)> Terms, double Sum);

/// <summary>
/// A single-channel 2-d convolution worked through in full: the sliding-window sums, the sparse matrix
/// <c>C</c> with <c>vec(Y) = C · vec(X)</c>, its transpose, and the transposed convolution of <c>Y</c> computed three
/// independent ways — by the library's <see cref="Functional.ConvTranspose2d{T}"/>, as <c>Cᵀ · vec(Y)</c>, and as a
/// direct stride-1 correlation of the zero-inserted (stride − 1 zeros between inputs), padded (k − 1 − p; a
/// negative amount crops) input with the 180°-rotated kernel. All values are computed, nothing is tabulated.
/// </summary>
public sealed class ConvExplanation
{
    /// <summary>Input X [H, W].</summary>
    public required double[,] Input { get; init; }
    /// <summary>Kernel K [kH, kW].</summary>
    public required double[,] Kernel { get; init; }
    /// <summary>Stride (both axes).</summary>
    public required int Stride { get; init; }
    /// <summary>Zero padding (both axes, both sides).</summary>
    public required int Padding { get; init; }
    /// <summary>Forward output Y [Ho, Wo] from the sliding window.</summary>
    public required double[,] Output { get; init; }
    /// <summary>Forward output from <see cref="Functional.Conv2d{T}"/> (equals <see cref="Output"/>).</summary>
    public required double[,] OutputByLibrary { get; init; }
    /// <summary>The window sums, one per output element, row-major.</summary>
    public required IReadOnlyList<ConvStep> Steps { get; init; }
    /// <summary>C [Ho·Wo, H·W]: row o holds the kernel weights that output o takes from each input.</summary>
    public required double[,] C { get; init; }
    /// <summary>C·vec(X) reshaped to [Ho, Wo] (equals <see cref="Output"/>).</summary>
    public required double[,] OutputByMatrix { get; init; }
    /// <summary>Output padding that makes the transposed convolution return the input's size.</summary>
    public required int OutputPadding { get; init; }
    /// <summary>Transposed convolution of Y by the library (<see cref="Functional.ConvTranspose2d{T}"/>), [H, W].</summary>
    public required double[,] TransposedByLibrary { get; init; }
    /// <summary>Cᵀ·vec(Y) reshaped to [H, W].</summary>
    public required double[,] TransposedByMatrix { get; init; }
    /// <summary>Y with stride − 1 zeros inserted between elements and padded by k − 1 − p (plus output padding
    /// at the end), or cropped where that is negative.</summary>
    public required double[,] ZeroInserted { get; init; }
    /// <summary>The kernel rotated by 180°.</summary>
    public required double[,] FlippedKernel { get; init; }
    /// <summary>Stride-1 correlation of <see cref="ZeroInserted"/> with <see cref="FlippedKernel"/>, [H, W].</summary>
    public required double[,] TransposedByDirect { get; init; }

    /// <summary>Largest absolute difference between the three forward results and between the three transposed results.</summary>
    public double MaxDifference => Math.Max(
        Math.Max(MaxDiff(Output, OutputByMatrix), MaxDiff(Output, OutputByLibrary)),
        Math.Max(MaxDiff(TransposedByLibrary, TransposedByMatrix), MaxDiff(TransposedByLibrary, TransposedByDirect)));

    private static double MaxDiff(double[,] a, double[,] b)
    {
        if (a.GetLength(0) != b.GetLength(0) || a.GetLength(1) != b.GetLength(1)) return double.PositiveInfinity;
        double m = 0;
        for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) m = Math.Max(m, Math.Abs(a[i, j] - b[i, j]));
        return m;
    }

    internal static string Num(double v)
    {
        if (v == 0) return "0";
        var s = v.ToString("0.###", CultureInfo.InvariantCulture);
        return s == "-0" ? "0" : s;
    }

    /// <summary>Formats a matrix as aligned text; zeros print as <paramref name="zero"/>.</summary>
    public static string FormatMatrix(double[,] m, string zero = "0", string indent = "  ")
    {
        int r = m.GetLength(0), c = m.GetLength(1);
        var cells = new string[r, c];
        int width = 1;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
            {
                cells[i, j] = m[i, j] == 0 ? zero : Num(m[i, j]);
                width = Math.Max(width, cells[i, j].Length);
            }
        var sb = new StringBuilder();
        for (int i = 0; i < r; i++)
        {
            sb.Append(indent).Append('[');
            for (int j = 0; j < c; j++) sb.Append(j == 0 ? "" : " ").Append(cells[i, j].PadLeft(width));
            sb.Append("]\n");
        }
        return sb.ToString();
    }

    /// <summary>The whole explanation as plain text.</summary>
    public string ToText()
    {
        int h = Input.GetLength(0), w = Input.GetLength(1), kh = Kernel.GetLength(0), kw = Kernel.GetLength(1);
        int ho = Output.GetLength(0), wo = Output.GetLength(1);
        var sb = new StringBuilder();
        sb.Append($"Convolution (cross-correlation, as PyTorch's conv2d) of a {h}x{w} input with a {kh}x{kw} kernel, stride {Stride}, padding {Padding}\n");
        sb.Append($"output size: floor(({h} + 2·{Padding} − {kh}) / {Stride}) + 1 = {ho} by floor(({w} + 2·{Padding} − {kw}) / {Stride}) + 1 = {wo}\n\n");
        sb.Append("input X:\n").Append(FormatMatrix(Input)).Append("kernel K:\n").Append(FormatMatrix(Kernel)).Append('\n');
        sb.Append("sliding window (top-left of the window at (row·stride − padding, col·stride − padding); p = zero padding):\n");
        foreach (var s in Steps)
        {
            var terms = string.Join(" + ", s.Terms.Select(t => $"{(t.Padding ? "p" : Num(t.Input))}·{Num(t.Weight)}"));
            sb.Append($"  Y[{s.Row},{s.Col}] = {terms} = {Num(s.Sum)}\n");
        }
        sb.Append("\noutput Y:\n").Append(FormatMatrix(Output));
        sb.Append($"\nas a matrix product vec(Y) = C · vec(X), C is {C.GetLength(0)}x{C.GetLength(1)} (row-major vec; . = 0):\n").Append(FormatMatrix(C, "."));
        sb.Append("C · vec(X) = ").Append(string.Join(", ", Flatten(OutputByMatrix).Select(Num))).Append("  (matches the window sums and Functional.Conv2d)\n");
        sb.Append($"\nthe transpose Cᵀ ({C.GetLength(1)}x{C.GetLength(0)}) maps a {ho}x{wo} map back to {h}x{w}: that is the transposed convolution\n").Append(FormatMatrix(Transpose(C), "."));
        sb.Append($"\ntransposed convolution of Y (stride {Stride}, padding {Padding}, output padding {OutputPadding}), three ways:\n");
        sb.Append("1) Functional.ConvTranspose2d(Y, K):\n").Append(FormatMatrix(TransposedByLibrary));
        sb.Append("2) Cᵀ · vec(Y), reshaped:\n").Append(FormatMatrix(TransposedByMatrix));
        int q = kh - 1 - Padding;
        sb.Append($"3) insert {Stride - 1} zero(s) between the elements of Y, pad by k − 1 − p = {q}{(OutputPadding > 0 ? $" (+{OutputPadding} at the end)" : "")}{(q < 0 ? " (negative: crop)" : "")}:\n").Append(FormatMatrix(ZeroInserted, "."));
        sb.Append("   and correlate (stride 1) with the kernel rotated by 180°:\n").Append(FormatMatrix(FlippedKernel));
        sb.Append("   result:\n").Append(FormatMatrix(TransposedByDirect));
        sb.Append($"\nlargest difference between the three forward results and between the three transposed results: {MaxDifference:G3}\n");
        return sb.ToString();
    }

    private static IEnumerable<double> Flatten(double[,] m)
    {
        foreach (var v in m) yield return v;
    }

    internal static double[,] Transpose(double[,] m)
    {
        var t = new double[m.GetLength(1), m.GetLength(0)];
        for (int i = 0; i < m.GetLength(0); i++) for (int j = 0; j < m.GetLength(1); j++) t[j, i] = m[i, j];
        return t;
    }

    /// <summary>The explanation as an SVG document: the matrices as labelled grids (non-zero entries of C shaded)
    /// and the window sums.</summary>
    public string ToSvg()
    {
        const int Cell = 30, Gap = 30, Title = 22;
        var items = new List<(string Label, double[,] M, bool Sparse)>
        {
            ("input X", Input, false), ("kernel K", Kernel, false), ("output Y", Output, false),
            ("C (vec Y = C · vec X)", C, true), ("Cᵀ", Transpose(C), true),
            ("ConvTranspose2d(Y)", TransposedByLibrary, false), ("Cᵀ · vec(Y)", TransposedByMatrix, false),
            ("zero-inserted, padded Y", ZeroInserted, true), ("kernel rotated 180°", FlippedKernel, false),
            ("direct correlation", TransposedByDirect, false),
        };
        // Rows of the layout: [X, K, Y], [C], [Cᵀ], [three transposed results + the zero-inserted input and flipped kernel].
        int[][] rows = [[0, 1, 2], [3], [4], [7, 8, 9], [5, 6]];
        var body = new StringBuilder();
        int y = 40, maxW = 0;
        foreach (var row in rows)
        {
            int x = 20, rowH = 0;
            foreach (var idx in row)
            {
                var (label, m, sparse) = items[idx];
                int r = m.GetLength(0), c = m.GetLength(1);
                body.Append($"<text x=\"{x}\" y=\"{y + 15}\" class=\"t\">{Escape(label)} [{r}x{c}]</text>\n");
                for (int i = 0; i < r; i++)
                    for (int j = 0; j < c; j++)
                    {
                        int cx = x + j * Cell, cy = y + Title + i * Cell;
                        string fill = sparse ? (m[i, j] != 0 ? "#cfe2ff" : "#ffffff") : "#f4f4f4";
                        body.Append($"<rect x=\"{cx}\" y=\"{cy}\" width=\"{Cell}\" height=\"{Cell}\" fill=\"{fill}\" stroke=\"#999\"/>");
                        if (!sparse || m[i, j] != 0)
                            body.Append($"<text x=\"{cx + Cell / 2}\" y=\"{cy + Cell / 2 + 4}\" class=\"n\">{Num(m[i, j])}</text>");
                        body.Append('\n');
                    }
                x += c * Cell + Gap;
                rowH = Math.Max(rowH, Title + r * Cell);
            }
            maxW = Math.Max(maxW, x);
            y += rowH + Gap;
        }
        body.Append($"<text x=\"20\" y=\"{y}\" class=\"t\">window sums</text>\n");
        y += 20;
        foreach (var s in Steps)
        {
            var terms = string.Join(" + ", s.Terms.Select(t => $"{(t.Padding ? "p" : Num(t.Input))}·{Num(t.Weight)}"));
            var line = $"Y[{s.Row},{s.Col}] = {terms} = {Num(s.Sum)}";
            body.Append($"<text x=\"20\" y=\"{y}\" class=\"s\">{Escape(line)}</text>\n");
            maxW = Math.Max(maxW, 40 + line.Length * 7);
            y += 16;
        }
        int height = y + 20;
        var sb = new StringBuilder();
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{maxW}\" height=\"{height}\" viewBox=\"0 0 {maxW} {height}\">\n");
        sb.Append("<style>.t{font:bold 14px sans-serif}.n{font:11px monospace;text-anchor:middle}.s{font:12px monospace}</style>\n");
        sb.Append($"<rect width=\"{maxW}\" height=\"{height}\" fill=\"white\"/>\n");
        sb.Append($"<text x=\"20\" y=\"24\" class=\"t\">{Escape($"conv2d: {Input.GetLength(0)}x{Input.GetLength(1)} input, {Kernel.GetLength(0)}x{Kernel.GetLength(1)} kernel, stride {Stride}, padding {Padding}; transposed: output padding {OutputPadding}")}</text>\n");
        sb.Append(body).Append("</svg>\n");
        return sb.ToString();
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}

/// <summary>Builds <see cref="ConvExplanation"/>s (see there).</summary>
public static class ConvExplainer
{
    /// <summary>Largest input side accepted (the matrix C grows with the fourth power of it).</summary>
    public const int MaxSize = 16;

    /// <summary>The default example: a 4x4 input 1..16 and a 3x3 kernel 1..9 (not symmetric, so the flip shows).</summary>
    public static ConvExplanation Explain(int inputSize = 4, int kernelSize = 3, int stride = 1, int padding = 0)
        => Explain(Sequence(inputSize, inputSize), Sequence(kernelSize, kernelSize), stride, padding);

    /// <summary>A [rows, cols] matrix 1, 2, 3, ... in row-major order.</summary>
    public static double[,] Sequence(int rows, int cols)
    {
        if (rows < 1 || cols < 1) throw new ArgumentException($"size: {rows}x{cols} must be positive.", nameof(rows));
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i, j] = i * cols + j + 1;
        return m;
    }

    /// <summary>Explains conv2d of <paramref name="input"/> with <paramref name="kernel"/>.</summary>
    public static ConvExplanation Explain(double[,] input, double[,] kernel, int stride = 1, int padding = 0)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(kernel);
        int h = input.GetLength(0), w = input.GetLength(1), kh = kernel.GetLength(0), kw = kernel.GetLength(1);
        if (h is < 1 or > MaxSize || w is < 1 or > MaxSize)
            throw new ArgumentException($"input: size {h}x{w} must be between 1x1 and {MaxSize}x{MaxSize}.", nameof(input));
        if (kh < 1 || kw < 1 || kh > h + 2 * padding || kw > w + 2 * padding)
            throw new ArgumentException($"kernel: size {kh}x{kw} must fit the padded {h + 2 * padding}x{w + 2 * padding} input.", nameof(kernel));
        if (stride < 1 || stride > MaxSize) throw new ArgumentException($"stride: {stride} must be in [1, {MaxSize}].", nameof(stride));
        if (padding < 0 || padding >= Math.Min(kh, kw) + MaxSize)
            throw new ArgumentException($"padding: {padding} must be non-negative and small.", nameof(padding));
        int ho = (h + 2 * padding - kh) / stride + 1, wo = (w + 2 * padding - kw) / stride + 1;

        // Sliding window and the matrix C, built from the same index arithmetic.
        var y = new double[ho, wo];
        var c = new double[ho * wo, h * w];
        var steps = new List<ConvStep>();
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++)
            {
                var terms = new List<(double, double, bool)>();
                double sum = 0;
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                    {
                        int iy = oy * stride - padding + i, ix = ox * stride - padding + j;
                        bool pad = iy < 0 || iy >= h || ix < 0 || ix >= w;
                        double v = pad ? 0 : input[iy, ix];
                        terms.Add((v, kernel[i, j], pad));
                        sum += v * kernel[i, j];
                        if (!pad) c[oy * wo + ox, iy * w + ix] += kernel[i, j];
                    }
                y[oy, ox] = sum;
                steps.Add(new ConvStep(oy, ox, terms, sum));
            }
        var byMatrix = Reshape(MatVec(c, Flatten(input), false), ho, wo);

        var xT = Tensor.FromArray(Flatten(input), 1, 1, h, w);
        var kT = Tensor.FromArray(Flatten(kernel), 1, 1, kh, kw);
        var byLibrary = Reshape(Functional.Conv2d(xT, kT, null, stride, padding).AsSpan().ToArray(), ho, wo);

        // Transposed convolution of Y back to the input's size.
        int opY = h + 2 * padding - kh - (ho - 1) * stride, opX = w + 2 * padding - kw - (wo - 1) * stride;
        int op = Math.Max(opY, opX);
        var yT = Tensor.FromArray(Flatten(y), 1, 1, ho, wo);
        var tLib = Functional.ConvTranspose2d(yT, kT, null, stride, padding, new[] { opY, opX });
        var tByLibrary = Reshape(tLib.AsSpan().ToArray(), tLib.Size(2), tLib.Size(3));
        var tByMatrix = Reshape(MatVec(c, Flatten(y), true), h, w);

        // Zero insertion, padding k−1−p (negative: crop), output padding at the end, then the flipped kernel.
        int zh = (ho - 1) * stride + 1, zw = (wo - 1) * stride + 1;
        int qy = kh - 1 - padding, qx = kw - 1 - padding;
        int ph = zh + 2 * qy + opY, pw = zw + 2 * qx + opX;
        var z = new double[ph, pw];
        for (int i = 0; i < ph; i++)
            for (int j = 0; j < pw; j++)
            {
                int zy = i - qy, zx = j - qx; // position in the zero-inserted map
                if (zy >= 0 && zy < zh && zx >= 0 && zx < zw && zy % stride == 0 && zx % stride == 0) z[i, j] = y[zy / stride, zx / stride];
            }
        var flipped = new double[kh, kw];
        for (int i = 0; i < kh; i++) for (int j = 0; j < kw; j++) flipped[i, j] = kernel[kh - 1 - i, kw - 1 - j];
        var direct = new double[ph - kh + 1, pw - kw + 1];
        for (int i = 0; i < direct.GetLength(0); i++)
            for (int j = 0; j < direct.GetLength(1); j++)
            {
                double s = 0;
                for (int a = 0; a < kh; a++) for (int b = 0; b < kw; b++) s += z[i + a, j + b] * flipped[a, b];
                direct[i, j] = s;
            }

        return new ConvExplanation
        {
            Input = input, Kernel = kernel, Stride = stride, Padding = padding, Output = y, OutputByLibrary = byLibrary, Steps = steps,
            C = c, OutputByMatrix = byMatrix, OutputPadding = op, TransposedByLibrary = tByLibrary, TransposedByMatrix = tByMatrix,
            ZeroInserted = z, FlippedKernel = flipped, TransposedByDirect = direct,
        };
    }

    private static double[] Flatten(double[,] m)
    {
        var v = new double[m.Length];
        int k = 0;
        foreach (var x in m) v[k++] = x;
        return v;
    }

    private static double[,] Reshape(double[] v, int r, int c)
    {
        var m = new double[r, c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) m[i, j] = v[i * c + j];
        return m;
    }

    private static double[] MatVec(double[,] m, double[] v, bool transpose)
    {
        int r = m.GetLength(0), c = m.GetLength(1);
        var o = new double[transpose ? c : r];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
                if (transpose) o[j] += m[i, j] * v[i];
                else o[i] += m[i, j] * v[j];
        return o;
    }
}
