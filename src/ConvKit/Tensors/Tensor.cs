using System.Numerics;
using System.Text;

namespace ConvKit.Tensors;

/// <summary>
/// A dense, contiguous, row-major N-dimensional tensor (NCHW / NCDHW for images and volumes).
/// <c>Tensor&lt;float&gt;</c> is what the fast engine runs on; <c>Tensor&lt;double&gt;</c> is the
/// precision twin used by the reference operators and finite-difference gradient checks.
/// Views (<see cref="Reshape"/>, <see cref="Slice"/>) share storage with their source.
/// </summary>
public sealed class Tensor<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _shape;
    private readonly int[] _strides;

    /// <summary>Backing storage; the tensor's elements are <c>Data[Offset .. Offset+Length)</c>.</summary>
    public T[] Data { get; }
    /// <summary>Index of the first element in <see cref="Data"/>.</summary>
    public int Offset { get; }
    /// <summary>Number of elements.</summary>
    public int Length { get; }
    /// <summary>Sizes of each dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;
    /// <summary>Row-major strides in elements.</summary>
    public ReadOnlySpan<int> Strides => _strides;
    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    public Tensor(params int[] shape) : this(new T[ShapeMath.Numel(shape, nameof(shape))], 0, shape) { }

    /// <summary>Wraps <paramref name="data"/> (no copy) starting at <paramref name="offset"/>.</summary>
    public Tensor(T[] data, int offset, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        _shape = (int[])shape.Clone();
        Length = ShapeMath.Numel(_shape, nameof(shape));
        if (offset < 0 || (long)offset + Length > data.Length)
            throw new ArgumentException($"data: {data.Length} elements cannot hold shape {ShapeMath.Format(_shape)} at offset {offset}.", nameof(data));
        Data = data;
        Offset = offset;
        _strides = ShapeMath.Strides(_shape);
    }

    /// <summary>Wraps <paramref name="data"/> (no copy) with the given shape.</summary>
    public Tensor(T[] data, params int[] shape) : this(data, 0, shape) { }

    /// <summary>Size of dimension <paramref name="dim"/>; negative counts from the end like PyTorch.</summary>
    public int Size(int dim) => _shape[NormalizeDim(dim)];

    /// <summary>A copy of the shape.</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    /// <summary>The elements as a span (contiguous).</summary>
    public Span<T> AsSpan() => Data.AsSpan(Offset, Length);

    /// <summary>Element access by full index.</summary>
    public T this[params int[] index]
    {
        get => Data[Offset + FlatIndex(index)];
        set => Data[Offset + FlatIndex(index)] = value;
    }

    private int FlatIndex(int[] index)
    {
        if (index.Length != _shape.Length)
            throw new ArgumentException($"index: {index.Length} indices for a tensor of rank {Rank}.", nameof(index));
        int flat = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)_shape[i])
                throw new IndexOutOfRangeException($"index {index[i]} is out of range for dimension {i} of size {_shape[i]}.");
            flat += index[i] * _strides[i];
        }
        return flat;
    }

    private int NormalizeDim(int dim)
    {
        int d = dim < 0 ? dim + Rank : dim;
        if ((uint)d >= (uint)Rank) throw new ArgumentOutOfRangeException(nameof(dim), $"dim {dim} for a tensor of rank {Rank}.");
        return d;
    }

    /// <summary>A view with another shape of the same number of elements; one size may be -1 (inferred).</summary>
    public Tensor<T> Reshape(params int[] shape)
    {
        var s = (int[])shape.Clone();
        int infer = -1; long known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException("shape: only one dimension can be -1.", nameof(shape));
                infer = i;
            }
            else if (s[i] < 0) throw new ArgumentException($"shape: invalid size {s[i]} in {ShapeMath.Format(s)}.", nameof(shape));
            else known *= s[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || Length % known != 0)
                throw new ArgumentException($"shape: {ShapeMath.Format(s)} is invalid for a tensor of {Length} elements.", nameof(shape));
            s[infer] = (int)(Length / known);
        }
        if (ShapeMath.Numel(s, nameof(shape)) != Length)
            throw new ArgumentException($"shape: {ShapeMath.Format(s)} is invalid for a tensor of shape {ShapeMath.Format(_shape)} ({Length} elements).", nameof(shape));
        return new Tensor<T>(Data, Offset, s);
    }

    /// <summary>A view of <paramref name="length"/> entries of the first axis starting at <paramref name="start"/>.</summary>
    public Tensor<T> Slice(int start, int length)
    {
        if (Rank == 0) throw new InvalidOperationException("Cannot slice a scalar tensor.");
        if (start < 0 || length < 0 || (long)start + length > _shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + length}) of first axis of size {_shape[0]}.");
        var s = (int[])_shape.Clone();
        s[0] = length;
        return new Tensor<T>(Data, Offset + start * _strides[0], s);
    }

    /// <summary>The view of entry <paramref name="index"/> of the first axis, with that axis removed.</summary>
    public Tensor<T> Select(int index)
    {
        if (Rank == 0) throw new InvalidOperationException("Cannot select from a scalar tensor.");
        if ((uint)index >= (uint)_shape[0])
            throw new ArgumentOutOfRangeException(nameof(index), $"index {index} is out of range for the first axis of size {_shape[0]}.");
        var v = Slice(index, 1);
        return v.Reshape(_shape[1..]);
    }

    /// <summary>A deep copy with its own storage.</summary>
    public Tensor<T> Clone() => new(AsSpan().ToArray(), _shape);

    /// <summary>Converts every element to another floating-point type (e.g. float to double).</summary>
    public Tensor<TOut> Cast<TOut>() where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        var src = AsSpan();
        var dst = new TOut[Length];
        for (int i = 0; i < dst.Length; i++) dst[i] = TOut.CreateTruncating(src[i]);
        return new Tensor<TOut>(dst, _shape);
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public Tensor<T> Fill(T value) { AsSpan().Fill(value); return this; }

    /// <summary>True when both tensors have the same shape.</summary>
    public bool SameShape(Tensor<T> other) => Shape.SequenceEqual(other.Shape);

    /// <summary>Prints the shape and, for small tensors, the values in nested brackets like PyTorch.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("tensor(");
        if (Length <= 1000)
        {
            var span = Data.AsSpan(Offset, Length).ToArray();
            int pos = 0;
            Append(sb, span, 0, ref pos, 7);
            sb.Append(", ");
        }
        sb.Append("shape=").Append(ShapeMath.Format(_shape)).Append(')');
        return sb.ToString();
    }

    private void Append(StringBuilder sb, T[] data, int dim, ref int pos, int indent)
    {
        if (dim == Rank) { sb.Append(Format(data[pos++])); return; }
        sb.Append('[');
        for (int i = 0; i < _shape[dim]; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
                if (dim < Rank - 1) sb.Append('\n', Rank - 1 - dim).Append(' ', indent + dim + 1);
                else sb.Append(' ');
            }
            Append(sb, data, dim + 1, ref pos, indent);
        }
        sb.Append(']');
    }

    private static string Format(T v)
    {
        double d = double.CreateTruncating(v);
        return d.ToString(Math.Abs(d) >= 1e5 || (d != 0 && Math.Abs(d) < 1e-3) ? "0.0000e+0" : "0.0000", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>Factories for tensors (zeros, ones, seeded random, from arrays).</summary>
public static class Tensor
{
    /// <summary>A zero-filled tensor.</summary>
    public static Tensor<T> Zeros<T>(params int[] shape) where T : unmanaged, IFloatingPointIeee754<T> => new(shape);
    /// <summary>A zero-filled float tensor.</summary>
    public static Tensor<float> Zeros(params int[] shape) => new(shape);
    /// <summary>
    /// A tensor whose elements are not initialized, for outputs the caller overwrites completely (skips the zeroing
    /// pass; inside a training step the buffer may come from the step's recycled buffers).
    /// </summary>
    internal static Tensor<T> Uninitialized<T>(params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = ShapeMath.Numel(shape, nameof(shape));
        if (typeof(T) == typeof(float) && StepBuffers.Active is { } arena && arena.Rent(n) is { } buffer)
            return new Tensor<T>((T[])(object)buffer, 0, shape);
        return new Tensor<T>(GC.AllocateUninitializedArray<T>(n), 0, shape);
    }

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor<T> Full<T>(T value, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T> => new Tensor<T>(shape).Fill(value);
    /// <summary>A float tensor of ones.</summary>
    public static Tensor<float> Ones(params int[] shape) => Full(1f, shape);

    /// <summary>Copies <paramref name="values"/> into a new tensor of <paramref name="shape"/>.</summary>
    public static Tensor<T> FromArray<T>(T[] values, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = ShapeMath.Numel(shape, nameof(shape));
        if (n != values.Length)
            throw new ArgumentException($"values: {values.Length} values do not fill shape {ShapeMath.Format(shape)} ({n} elements).", nameof(values));
        return new Tensor<T>((T[])values.Clone(), shape);
    }

    /// <summary>Uniform values in [<paramref name="low"/>, <paramref name="high"/>) from a seeded generator.</summary>
    public static Tensor<T> Rand<T>(ulong seed, int[] shape, double low = 0, double high = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new Tensor<T>(shape);
        var rng = new SeededRandom(seed);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating(low + (high - low) * rng.NextDouble());
        return t;
    }

    /// <summary>Standard normal values from a seeded generator.</summary>
    public static Tensor<T> Randn<T>(ulong seed, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new Tensor<T>(shape);
        var rng = new SeededRandom(seed);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating(rng.NextNormal());
        return t;
    }

    /// <summary>Standard normal float values from a seeded generator.</summary>
    public static Tensor<float> Randn(ulong seed, params int[] shape) => Randn<float>(seed, shape);

    /// <summary>0, 1, 2, ... reshaped to <paramref name="shape"/> (handy for worked examples).</summary>
    public static Tensor<T> Arange<T>(params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new Tensor<T>(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating(i);
        return t;
    }
}

/// <summary>
/// Recycles the large float buffers of one training step in the next. Allocating a fresh multi-megabyte array per
/// activation and gradient costs a large-object-heap allocation, page faults on first touch and frequent gen-2
/// collections; the shapes of a step repeat, so the buffers of the previous step serve the next one. Only arrays
/// requested through <see cref="Tensor.Uninitialized{T}"/> (every element overwritten by the caller) on the thread
/// where the arena is active are lent, and they return to the arena only when its owner calls <see cref="Recycle"/>,
/// which it does once nothing from the step can be referenced any more (the trainer, after the optimizer step).
/// </summary>
internal sealed class StepBuffers
{
    [ThreadStatic] private static StepBuffers? _active;

    /// <summary>Smaller arrays are cheap for the GC and are not pooled (256 KB).</summary>
    internal const int MinLength = 1 << 16;

    private readonly Dictionary<int, Stack<float[]>> _free = [];
    private readonly List<float[]> _lent = [];
    private readonly Dictionary<int, Stack<int[]>> _freeInts = [];
    private readonly List<int[]> _lentInts = [];

    /// <summary>The arena lending on this thread, if any.</summary>
    internal static StepBuffers? Active => _active;

    /// <summary>Lends buffers on this thread until <see cref="Deactivate"/>.</summary>
    internal void Activate() => _active = this;

    /// <summary>Stops lending on this thread (buffers already lent stay lent until <see cref="Recycle"/>).</summary>
    internal void Deactivate()
    {
        if (ReferenceEquals(_active, this)) _active = null;
    }

    /// <summary>A buffer of exactly <paramref name="length"/> floats with arbitrary contents, or null when not pooled.</summary>
    internal float[]? Rent(int length)
    {
        if (length < MinLength) return null;
        var a = _free.TryGetValue(length, out var s) && s.Count > 0 ? s.Pop() : HugePages.NewArray(length);
        _lent.Add(a);
        return a;
    }

    /// <summary>An int buffer (max-pooling indices) of exactly <paramref name="length"/> entries with arbitrary contents.</summary>
    internal int[] RentInts(int length)
    {
        if (length < MinLength) return GC.AllocateUninitializedArray<int>(length);
        var a = _freeInts.TryGetValue(length, out var s) && s.Count > 0 ? s.Pop() : GC.AllocateUninitializedArray<int>(length);
        _lentInts.Add(a);
        return a;
    }

    /// <summary>Test hook (this thread): recycled buffers are filled with NaN, so reading a stale value shows.</summary>
    [ThreadStatic] internal static bool PoisonOnRecycle;

    /// <summary>Takes every lent buffer back: the caller guarantees no tensor over them is used any more.</summary>
    internal void Recycle()
    {
        foreach (var a in _lent)
        {
            if (PoisonOnRecycle) a.AsSpan().Fill(float.NaN);
            if (!_free.TryGetValue(a.Length, out var s)) _free[a.Length] = s = new Stack<float[]>();
            s.Push(a);
        }
        _lent.Clear();
        foreach (var a in _lentInts)
        {
            if (PoisonOnRecycle) a.AsSpan().Fill(int.MinValue);
            if (!_freeInts.TryGetValue(a.Length, out var s)) _freeInts[a.Length] = s = new Stack<int[]>();
            s.Push(a);
        }
        _lentInts.Clear();
    }

    /// <summary>Number of buffers lent since the last <see cref="Recycle"/> (tests).</summary>
    internal int LentCount => _lent.Count + _lentInts.Count;

    /// <summary>Number of buffers ready to be lent again (tests).</summary>
    internal int FreeCount => _free.Values.Sum(s => s.Count) + _freeInts.Values.Sum(s => s.Count);
}
