using System.Globalization;
using System.Text;
using ConvKit.Tensors;

namespace ConvKit.Imaging;

/// <summary>
/// A 2-d filter kernel (row-major float weights) with an anchor, the kernel element placed over the output pixel
/// (the center by default, <c>(rows/2, cols/2)</c> as OpenCV). <see cref="Filter2D"/> correlates with it.
/// </summary>
public sealed class Kernel2D
{
    /// <summary>Number of kernel rows (height).</summary>
    public int Rows { get; }
    /// <summary>Number of kernel columns (width).</summary>
    public int Cols { get; }
    /// <summary>Weights, row-major: <c>Values[i·Cols + j]</c>.</summary>
    public float[] Values { get; }
    /// <summary>Anchor row.</summary>
    public int AnchorY { get; }
    /// <summary>Anchor column.</summary>
    public int AnchorX { get; }

    /// <summary>Largest accepted kernel side.</summary>
    public const int MaxSize = 1024;

    /// <summary>Creates a kernel from row-major values; the anchor defaults to the center.</summary>
    public Kernel2D(int rows, int cols, float[] values, int anchorY = -1, int anchorX = -1)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (rows is < 1 or > MaxSize || cols is < 1 or > MaxSize)
            throw new ArgumentException($"kernel: size {rows}x{cols} is outside [1, {MaxSize}].", nameof(rows));
        if (values.Length != rows * cols)
            throw new ArgumentException($"values: {values.Length} values for a {rows}x{cols} kernel.", nameof(values));
        foreach (var v in values)
            if (!float.IsFinite(v)) throw new ArgumentException("values: kernel weights must be finite.", nameof(values));
        Rows = rows; Cols = cols; Values = values;
        AnchorY = anchorY < 0 ? rows / 2 : anchorY;
        AnchorX = anchorX < 0 ? cols / 2 : anchorX;
        if (AnchorY >= rows || AnchorX >= cols)
            throw new ArgumentException($"anchor ({AnchorY}, {AnchorX}) is outside the {rows}x{cols} kernel.", nameof(anchorY));
    }

    /// <summary>Creates a kernel from a 2-d array.</summary>
    public static Kernel2D FromArray(float[,] k)
    {
        ArgumentNullException.ThrowIfNull(k);
        int r = k.GetLength(0), c = k.GetLength(1);
        var v = new float[r * c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) v[i * c + j] = k[i, j];
        return new Kernel2D(r, c, v);
    }

    /// <summary>Creates a kernel from a tensor [kH, kW] (or [1, 1, kH, kW]).</summary>
    public static Kernel2D FromTensor(Tensor<float> t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.Rank == 1) t = t.Reshape(1, t.Size(0));
        while (t.Rank > 2 && t.Size(0) == 1) t = t.Select(0);
        if (t.Rank != 2) throw new ArgumentException($"kernel: expected a 2-d kernel, got shape {ShapeMath.Format(t.Shape)}.", nameof(t));
        return new Kernel2D(t.Size(0), t.Size(1), t.AsSpan().ToArray());
    }

    /// <summary>The outer product <c>column ⊗ row</c> as a kernel.</summary>
    public static Kernel2D Outer(float[] column, float[] row)
    {
        var v = new float[column.Length * row.Length];
        for (int i = 0; i < column.Length; i++) for (int j = 0; j < row.Length; j++) v[i * row.Length + j] = column[i] * row[j];
        return new Kernel2D(column.Length, row.Length, v);
    }

    /// <summary>Weight at row <paramref name="i"/>, column <paramref name="j"/>.</summary>
    public float this[int i, int j] => Values[i * Cols + j];

    /// <summary>The kernel rotated by 180° with the anchor moved accordingly: correlating with it is true convolution.</summary>
    public Kernel2D Flip()
    {
        var v = new float[Values.Length];
        for (int i = 0; i < v.Length; i++) v[i] = Values[Values.Length - 1 - i];
        return new Kernel2D(Rows, Cols, v, Rows - 1 - AnchorY, Cols - 1 - AnchorX);
    }

    /// <summary>The kernel as a [kH, kW] tensor.</summary>
    public Tensor<float> ToTensor() => Tensor.FromArray(Values, Rows, Cols);

    /// <summary>Splits a rank-1 kernel into <c>column ⊗ row</c> when every weight matches the product within a
    /// relative tolerance; then filtering runs as two 1-d passes.</summary>
    public bool TrySeparate(out float[] column, out float[] row, double relTol = 1e-6)
    {
        column = []; row = [];
        int pi = 0, pj = 0; double best = 0;
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Cols; j++)
                if (Math.Abs(this[i, j]) > best) { best = Math.Abs(this[i, j]); pi = i; pj = j; }
        if (best == 0) return false;
        var col = new double[Rows];
        var rw = new double[Cols];
        double pivot = this[pi, pj];
        for (int i = 0; i < Rows; i++) col[i] = this[i, pj];
        for (int j = 0; j < Cols; j++) rw[j] = this[pi, j] / pivot;
        double tol = relTol * best;
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Cols; j++)
                if (Math.Abs(col[i] * rw[j] - this[i, j]) > tol) return false;
        column = col.Select(v => (float)v).ToArray();
        row = rw.Select(v => (float)v).ToArray();
        return true;
    }

    /// <summary>The weights as nested brackets, e.g. <c>[[1, 0, -1], [2, 0, -2], [1, 0, -1]]</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < Rows; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append('[');
            for (int j = 0; j < Cols; j++)
            {
                if (j > 0) sb.Append(", ");
                sb.Append(this[i, j].ToString("G6", CultureInfo.InvariantCulture));
            }
            sb.Append(']');
        }
        return sb.Append(']').ToString();
    }
}
