using ConvKit.Tensors;

namespace ConvKit.Descriptors;

/// <summary>
/// The validated geometry of a sliding-window pooling (max or average) of spatial rank 1, 2 or 3 over a batched
/// input [N, C, *spatial]. Follows PyTorch: stride defaults to the kernel size, padding is implicit (−∞ for max,
/// zeros for average) and at most half the kernel, and with <see cref="CeilMode"/> the output size rounds up
/// except that the last window must start inside the input or the left padding.
/// Internally every rank is expanded to three axes (D, H, W) with unit sizes in front, so one loop nest runs
/// all ranks and flat indices within a plane (d·H·W + h·W + w) coincide with PyTorch's for 1-d and 2-d.
/// </summary>
public sealed class PoolDescriptor
{
    /// <summary>Spatial rank (1, 2 or 3).</summary>
    public int Rank { get; }
    /// <summary>Batched input shape [N, C, *spatial].</summary>
    public int[] InputShape { get; }
    /// <summary>Output shape [N, C, *outSpatial].</summary>
    public int[] OutputShape { get; }
    /// <summary>Window size per spatial axis.</summary>
    public int[] KernelSize { get; }
    /// <summary>Stride per spatial axis.</summary>
    public int[] Stride { get; }
    /// <summary>Implicit padding on both sides, per spatial axis.</summary>
    public int[] Padding { get; }
    /// <summary>Dilation per spatial axis (1 for average pooling).</summary>
    public int[] Dilation { get; }
    /// <summary>True when output sizes round up.</summary>
    public bool CeilMode { get; }

    /// <summary>Number of (N, C) planes.</summary>
    internal int Planes { get; }
    /// <summary>Input spatial sizes expanded to (D, H, W).</summary>
    internal readonly int[] In3 = new int[3];
    /// <summary>Output spatial sizes expanded to (D, H, W).</summary>
    internal readonly int[] Out3 = new int[3];
    internal readonly int[] K3 = [1, 1, 1], S3 = [1, 1, 1], P3 = new int[3], D3 = [1, 1, 1];
    /// <summary>Elements per input plane.</summary>
    internal int InPlane => In3[0] * In3[1] * In3[2];
    /// <summary>Elements per output plane.</summary>
    internal int OutPlane => Out3[0] * Out3[1] * Out3[2];

    private PoolDescriptor(int rank, int[] inputShape, int[] k, int[] s, int[] p, int[] d, bool ceil)
    {
        Rank = rank; InputShape = inputShape; KernelSize = k; Stride = s; Padding = p; Dilation = d; CeilMode = ceil;
        int off = 3 - rank;
        OutputShape = (int[])inputShape.Clone();
        for (int i = 0; i < rank; i++)
        {
            int n = inputShape[2 + i];
            In3[off + i] = n; K3[off + i] = k[i]; S3[off + i] = s[i]; P3[off + i] = p[i]; D3[off + i] = d[i];
            long o = OutputSize(n, k[i], s[i], p[i], d[i], ceil);
            if (o < 1)
                throw new ArgumentException($"kernelSize: the window {ShapeMath.Format(k)} (dilation {ShapeMath.Format(d)}) is larger than the padded input " +
                    $"{ShapeMath.Format(inputShape)} with padding {ShapeMath.Format(p)}: output size would be {o} on spatial axis {i}.", "kernelSize");
            OutputShape[2 + i] = (int)o;
            Out3[off + i] = (int)o;
        }
        for (int i = 0; i < off; i++) { In3[i] = 1; Out3[i] = 1; }
        Planes = inputShape[0] * inputShape[1];
        ShapeMath.Numel(OutputShape, "output");
    }

    /// <summary>PyTorch's pooling output size on one axis (may be ≤ 0 when the window does not fit).</summary>
    public static long OutputSize(long inSize, int kernel, int stride, int pad, int dilation, bool ceilMode)
    {
        long span = inSize + 2L * pad - (long)dilation * (kernel - 1) - 1;
        long num = span + (ceilMode ? stride - 1 : 0);
        long o = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
        // the last window must start inside the input or the left padding
        if (ceilMode && o > 0 && (o - 1) * stride >= inSize + pad) o--;
        return o;
    }

    /// <summary>Validates a pooling of spatial rank <paramref name="rank"/> on a batched input shape [N, C, *spatial].</summary>
    /// <param name="rank">1, 2 or 3.</param>
    /// <param name="inputShape">[N, C, *spatial]; spatial sizes must be positive.</param>
    /// <param name="kernelSize">Window size (int or per axis), at least 1.</param>
    /// <param name="stride">Step (int or per axis); default = kernelSize.</param>
    /// <param name="padding">Implicit padding on both sides, 0 ≤ padding ≤ kernelSize/2.</param>
    /// <param name="dilation">Spacing of window elements, at least 1.</param>
    /// <param name="ceilMode">Round output sizes up (PyTorch's rule for the last window).</param>
    public static PoolDescriptor Create(int rank, ReadOnlySpan<int> inputShape, Dims kernelSize, Dims stride = default, Dims padding = default,
        Dims dilation = default, bool ceilMode = false)
    {
        if (rank is < 1 or > 3) throw new ArgumentException($"rank: pooling supports 1, 2 or 3 spatial axes, got {rank}.", nameof(rank));
        var shape = CheckInput(rank, inputShape);
        if (kernelSize.IsDefault) throw new ArgumentException("kernelSize: required.", nameof(kernelSize));
        var k = kernelSize.Expand(rank, nameof(kernelSize), 1, 1);
        var s = stride.IsDefault || stride.Values.Length == 0 ? (int[])k.Clone() : stride.Expand(rank, nameof(stride), 1, 1);
        var p = padding.Expand(rank, nameof(padding), 0, 0);
        var d = dilation.Expand(rank, nameof(dilation), 1, 1);
        for (int i = 0; i < rank; i++)
            if (p[i] > k[i] / 2)
                throw new ArgumentException($"padding: {ShapeMath.Format(p)} must be at most half the kernel size {ShapeMath.Format(k)}.", nameof(padding));
        return new PoolDescriptor(rank, shape, k, s, p, d, ceilMode);
    }

    /// <summary>Checks a batched input shape [N, C, *spatial] of the given spatial rank.</summary>
    internal static int[] CheckInput(int rank, ReadOnlySpan<int> inputShape)
    {
        if (inputShape.Length != rank + 2)
            throw new ArgumentException($"input: expected a {rank + 2}-d tensor [N, C{string.Concat(Enumerable.Repeat(", *", rank))}] (or {rank + 1}-d unbatched), got {ShapeMath.Format(inputShape)}.", "input");
        ShapeMath.Numel(inputShape, "input");
        for (int i = 2; i < inputShape.Length; i++)
            if (inputShape[i] < 1)
                throw new ArgumentException($"input: spatial sizes must be positive, got {ShapeMath.Format(inputShape)}.", "input");
        return inputShape.ToArray();
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"pool{Rank}d in {ShapeMath.Format(InputShape)} -> {ShapeMath.Format(OutputShape)}, k {ShapeMath.Format(KernelSize)}, s {ShapeMath.Format(Stride)}, " +
        $"p {ShapeMath.Format(Padding)}, d {ShapeMath.Format(Dilation)}{(CeilMode ? ", ceil" : "")}";
}
