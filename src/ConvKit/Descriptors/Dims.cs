namespace ConvKit.Descriptors;

/// <summary>
/// A per-spatial-axis integer argument the way PyTorch takes them (<c>_size_2_t</c>): a single int applies to
/// every axis, a tuple or array gives one value per axis. <c>default(Dims)</c> means "not given".
/// </summary>
public readonly struct Dims
{
    private readonly int[]? _values;

    /// <summary>Creates from explicit values.</summary>
    public Dims(params int[] values) => _values = (int[])values.Clone();

    /// <summary>True when no value was given.</summary>
    public bool IsDefault => _values is null;

    /// <summary>The raw values (empty when not given).</summary>
    public ReadOnlySpan<int> Values => _values;

    /// <summary>One value for every axis.</summary>
    public static implicit operator Dims(int v) => new(v);
    /// <summary>One value per axis.</summary>
    public static implicit operator Dims(int[] v) => new(v);
    /// <summary>(h, w).</summary>
    public static implicit operator Dims((int, int) v) => new(v.Item1, v.Item2);
    /// <summary>(d, h, w).</summary>
    public static implicit operator Dims((int, int, int) v) => new(v.Item1, v.Item2, v.Item3);

    /// <summary>Expands to exactly <paramref name="rank"/> values, validating each is at least <paramref name="min"/>.</summary>
    public int[] Expand(int rank, string argName, int defaultValue, int min)
    {
        int[] r;
        if (_values is null) r = Enumerable.Repeat(defaultValue, rank).ToArray();
        else if (_values.Length == 1) r = Enumerable.Repeat(_values[0], rank).ToArray();
        else if (_values.Length == rank) r = (int[])_values.Clone();
        else throw new ArgumentException($"{argName}: expected 1 or {rank} values for a {rank}-d operation, got {_values.Length} ({Tensors.ShapeMath.Format(_values)}).", argName);
        foreach (var v in r)
            if (v < min) throw new ArgumentException($"{argName}: must be >= {min}, got {Tensors.ShapeMath.Format(r)}.", argName);
        return r;
    }

    /// <inheritdoc/>
    public override string ToString() => _values is null ? "default" : Tensors.ShapeMath.Format(_values);
}
