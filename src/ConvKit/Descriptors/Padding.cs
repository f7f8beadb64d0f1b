namespace ConvKit.Descriptors;

/// <summary>How the border values of a padded input are produced (PyTorch's <c>padding_mode</c>).</summary>
public enum PaddingMode
{
    /// <summary>Zeros outside the input (the default).</summary>
    Zeros,
    /// <summary>Mirror without repeating the edge: d c b | a b c d | c b a (needs pad &lt; size).</summary>
    Reflect,
    /// <summary>Repeat the edge value: a a | a b c d | d d.</summary>
    Replicate,
    /// <summary>Wrap around: c d | a b c d | a b (needs pad &lt;= size).</summary>
    Circular,
}

/// <summary>The kind of a <see cref="Padding"/> specification.</summary>
public enum PaddingKind
{
    /// <summary>Explicit per-axis (begin, end) amounts.</summary>
    Explicit,
    /// <summary>TensorFlow SAME: out = ceil(in/stride), the odd extra pixel at the end (bottom/right).</summary>
    Same,
    /// <summary>ONNX SAME_LOWER: as <see cref="Same"/> but the odd extra pixel at the beginning (top/left).</summary>
    SameLower,
    /// <summary>No padding.</summary>
    Valid,
}

/// <summary>
/// A padding specification: an int (all sides), one int per axis (symmetric), (begin, end) pairs per axis
/// (asymmetric, in axis order: [top, bottom, left, right] for 2-d), or the strings "same", "valid", "same_lower".
/// </summary>
public sealed class Padding
{
    private readonly int[] _values;

    /// <summary>The kind of padding.</summary>
    public PaddingKind Kind { get; }
    /// <summary>True when <see cref="Values"/> hold (begin, end) pairs rather than one symmetric value per axis.</summary>
    public bool IsPairs { get; }
    /// <summary>The explicit values, as given.</summary>
    public ReadOnlySpan<int> Values => _values;

    private Padding(PaddingKind kind, int[] values, bool pairs) { Kind = kind; _values = values; IsPairs = pairs; }

    /// <summary>Symmetric padding: one value for all axes or one per axis.</summary>
    public static Padding Symmetric(params int[] perAxis) => new(PaddingKind.Explicit, (int[])perAxis.Clone(), false);
    /// <summary>Asymmetric padding as (begin, end) pairs in axis order, e.g. (top, bottom, left, right).</summary>
    public static Padding Asymmetric(params int[] beginEndPairs)
    {
        if (beginEndPairs.Length % 2 != 0)
            throw new ArgumentException($"padding: asymmetric padding takes (begin, end) pairs, got {beginEndPairs.Length} values.", "padding");
        return new(PaddingKind.Explicit, (int[])beginEndPairs.Clone(), true);
    }
    /// <summary>TensorFlow SAME (extra pixel at the end).</summary>
    public static Padding Same { get; } = new(PaddingKind.Same, [], false);
    /// <summary>ONNX SAME_LOWER (extra pixel at the beginning).</summary>
    public static Padding SameLower { get; } = new(PaddingKind.SameLower, [], false);
    /// <summary>No padding.</summary>
    public static Padding Valid { get; } = new(PaddingKind.Valid, [], false);
    /// <summary>No padding (explicit zeros).</summary>
    public static Padding Zero { get; } = new(PaddingKind.Explicit, [0], false);

    /// <summary>Parses "same", "valid" or "same_lower" (case-insensitive).</summary>
    public static Padding Parse(string s) => s.ToLowerInvariant() switch
    {
        "same" => Same,
        "valid" => Valid,
        "same_lower" => SameLower,
        _ => throw new ArgumentException($"padding: unknown padding string '{s}' (expected 'same', 'valid' or 'same_lower').", "padding"),
    };

    /// <summary>The same amount on every side.</summary>
    public static implicit operator Padding(int v) => Symmetric(v);
    /// <summary>One symmetric amount per axis.</summary>
    public static implicit operator Padding(int[] v) => Symmetric(v);
    /// <summary>(h, w) symmetric.</summary>
    public static implicit operator Padding((int, int) v) => Symmetric(v.Item1, v.Item2);
    /// <summary>(d, h, w) symmetric.</summary>
    public static implicit operator Padding((int, int, int) v) => Symmetric(v.Item1, v.Item2, v.Item3);
    /// <summary>"same", "valid" or "same_lower".</summary>
    public static implicit operator Padding(string s) => Parse(s);

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        PaddingKind.Explicit => (IsPairs ? "pairs" : "") + Tensors.ShapeMath.Format(_values),
        PaddingKind.Same => "same",
        PaddingKind.SameLower => "same_lower",
        _ => "valid",
    };

    /// <summary>Resolves to explicit per-axis (begin, end) amounts for the given geometry.</summary>
    internal (int[] begin, int[] end) Resolve(int rank, ReadOnlySpan<int> input, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride, ReadOnlySpan<int> dilation)
    {
        var b = new int[rank];
        var e = new int[rank];
        switch (Kind)
        {
            case PaddingKind.Valid:
                break;
            case PaddingKind.Same:
            case PaddingKind.SameLower:
                for (int i = 0; i < rank; i++)
                {
                    int o = (input[i] + stride[i] - 1) / stride[i];
                    int total = Math.Max(0, (o - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 - input[i]);
                    int small = total / 2;
                    (b[i], e[i]) = Kind == PaddingKind.Same ? (small, total - small) : (total - small, small);
                }
                break;
            default:
                if (IsPairs)
                {
                    if (_values.Length != 2 * rank)
                        throw new ArgumentException($"padding: asymmetric padding for a {rank}-d operation takes {2 * rank} values (begin, end per axis), got {_values.Length} ({Tensors.ShapeMath.Format(_values)}).", "padding");
                    for (int i = 0; i < rank; i++) { b[i] = _values[2 * i]; e[i] = _values[2 * i + 1]; }
                }
                else
                {
                    var v = new Dims(_values).Expand(rank, "padding", 0, 0);
                    v.CopyTo(b, 0); v.CopyTo(e, 0);
                }
                foreach (var x in b.Concat(e))
                    if (x < 0) throw new ArgumentException($"padding: must be non-negative, got {this}.", "padding");
                break;
        }
        return (b, e);
    }
}
