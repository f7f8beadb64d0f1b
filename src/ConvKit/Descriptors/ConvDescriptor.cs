using ConvKit.Tensors;

namespace ConvKit.Descriptors;

/// <summary>
/// An immutable, validated description of one forward convolution (1-d, 2-d or 3-d): shapes, stride,
/// padding, dilation, groups, padding mode and kernel flip. Every argument is checked once, here, and the output
/// shape computed (like PyTorch's ConvParams or oneDNN's primitive descriptor). Algorithms only ever see
/// descriptors whose <see cref="Core"/> is itself: zero padding, cross-correlation.
/// Weight layout is PyTorch's: [C_out, C_in/groups, k...].
/// </summary>
public sealed class ConvDescriptor
{
    /// <summary>Number of spatial dimensions (1, 2 or 3).</summary>
    public int Rank { get; }
    /// <summary>Batch size.</summary>
    public int N { get; }
    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Number of groups (InChannels and OutChannels are both divisible by it).</summary>
    public int Groups { get; }
    /// <summary>Input spatial sizes.</summary>
    public int[] InputSize { get; }
    /// <summary>Kernel spatial sizes.</summary>
    public int[] KernelSize { get; }
    /// <summary>Strides per axis.</summary>
    public int[] Stride { get; }
    /// <summary>Dilations per axis.</summary>
    public int[] Dilation { get; }
    /// <summary>Padding before each axis (top, left, front).</summary>
    public int[] PadBegin { get; }
    /// <summary>Padding after each axis (bottom, right, back).</summary>
    public int[] PadEnd { get; }
    /// <summary>Output spatial sizes.</summary>
    public int[] OutputSize { get; }
    /// <summary>How padded values are produced.</summary>
    public PaddingMode PaddingMode { get; }
    /// <summary>True (mathematical) convolution: the kernel is rotated 180° before correlating.</summary>
    public bool Flip { get; }
    /// <summary>Whether a bias of [C_out] is added.</summary>
    public bool HasBias { get; }

    /// <summary>Full input shape [N, C_in, spatial...].</summary>
    public int[] InputShape { get; }
    /// <summary>Full weight shape [C_out, C_in/groups, k...].</summary>
    public int[] WeightShape { get; }
    /// <summary>Full output shape [N, C_out, spatial...].</summary>
    public int[] OutputShape { get; }

    /// <summary>Input channels per group.</summary>
    public int InChannelsPerGroup => InChannels / Groups;
    /// <summary>Output channels per group.</summary>
    public int OutChannelsPerGroup => OutChannels / Groups;
    /// <summary>Product of kernel sizes.</summary>
    public int KernelVolume { get; }
    /// <summary>Product of input spatial sizes.</summary>
    public int InputVolume { get; }
    /// <summary>Product of output spatial sizes.</summary>
    public int OutputVolume { get; }
    /// <summary>Multiply-accumulates of the forward pass: N·C_out·prod(out)·(C_in/groups)·prod(k).</summary>
    public long Macs => (long)N * OutChannels * OutputVolume * InChannelsPerGroup * KernelVolume;
    /// <summary>Floating-point operations (2 per MAC), the figure GFLOP/s are quoted against.</summary>
    public long Flops => 2 * Macs;

    /// <summary>True for depthwise convolution: groups == C_in (channel multiplier C_out/C_in).</summary>
    public bool IsDepthwise => Groups == InChannels && Groups > 1;

    /// <summary>
    /// The descriptor the algorithms run: same as this one when padding mode is zeros and there is no flip;
    /// otherwise the convolution over the explicitly padded input (padding 0, zeros mode, no flip).
    /// </summary>
    public ConvDescriptor Core { get; }

    private ConvDescriptor(int rank, int n, int cin, int cout, int groups, int[] input, int[] kernel, int[] stride,
        int[] dilation, int[] padBegin, int[] padEnd, PaddingMode mode, bool flip, bool hasBias, int[]? outputOverride = null)
    {
        Rank = rank; N = n; InChannels = cin; OutChannels = cout; Groups = groups;
        InputSize = input; KernelSize = kernel; Stride = stride; Dilation = dilation;
        PadBegin = padBegin; PadEnd = padEnd; PaddingMode = mode; Flip = flip; HasBias = hasBias;
        var output = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            long padded = (long)input[i] + padBegin[i] + padEnd[i];
            long span = (long)dilation[i] * (kernel[i] - 1) + 1;
            if (padded < span)
                throw new ArgumentException(
                    $"weight: kernel size {ShapeMath.Format(kernel)} (dilated extent {span} on axis {i}) is larger than the padded input " +
                    $"{ShapeMath.Format(input)} + padding ({padBegin[i]}, {padEnd[i]}) = {padded} on axis {i}.", "weight");
            output[i] = (int)((padded - span) / stride[i] + 1);
            // A transposed conv with output_padding >= stride (allowed when < dilation) uses only a prefix of the outputs.
            if (outputOverride is not null) output[i] = Math.Min(output[i], outputOverride[i]);
        }
        OutputSize = output;
        InputShape = [n, cin, .. input];
        WeightShape = [cout, cin / groups, .. kernel];
        OutputShape = [n, cout, .. output];
        ShapeMath.Numel(InputShape, "input");
        ShapeMath.Numel(WeightShape, "weight");
        ShapeMath.Numel(OutputShape, "output");
        KernelVolume = ShapeMath.Numel(kernel, "weight");
        InputVolume = ShapeMath.Numel(input, "input");
        OutputVolume = ShapeMath.Numel(output, "output");

        if (mode == PaddingMode.Zeros && !flip) Core = this;
        else
        {
            var padded = new int[rank];
            for (int i = 0; i < rank; i++)
                padded[i] = mode == PaddingMode.Zeros ? input[i] : input[i] + padBegin[i] + padEnd[i];
            var pb = mode == PaddingMode.Zeros ? padBegin : new int[rank];
            var pe = mode == PaddingMode.Zeros ? padEnd : new int[rank];
            Core = new ConvDescriptor(rank, n, cin, cout, groups, padded, kernel, stride, dilation, pb, pe, PaddingMode.Zeros, false, hasBias);
        }
    }

    /// <summary>
    /// Validates a forward convolution from full tensor shapes (input [N, C_in, spatial...] and weight
    /// [C_out, C_in/groups, k...]) and PyTorch-style arguments. Throws <see cref="ArgumentException"/> naming the
    /// offending argument and the shapes.
    /// </summary>
    public static ConvDescriptor Create(int rank, ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape, bool hasBias = false,
        Dims stride = default, Padding? padding = null, Dims dilation = default, int groups = 1,
        PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false, ReadOnlySpan<int> biasShape = default)
    {
        CheckRank(rank);
        if (inputShape.Length != rank + 2)
            throw new ArgumentException($"input: expected a {rank + 2}-d tensor [N, C, {SpatialNames(rank)}] for conv{rank}d, got shape {ShapeMath.Format(inputShape)}.", "input");
        if (weightShape.Length != rank + 2)
            throw new ArgumentException($"weight: expected a {rank + 2}-d tensor [C_out, C_in/groups, {SpatialNames(rank)}] for conv{rank}d, got shape {ShapeMath.Format(weightShape)}.", "weight");
        CheckPositive(inputShape, "input");
        CheckPositive(weightShape, "weight");
        if (groups < 1) throw new ArgumentException($"groups: must be a positive integer, got {groups}.", nameof(groups));
        int n = inputShape[0], cin = inputShape[1], cout = weightShape[0];
        if (cin % groups != 0)
            throw new ArgumentException($"groups: input channels {cin} (input shape {ShapeMath.Format(inputShape)}) are not divisible by groups={groups}.", nameof(groups));
        if (cout % groups != 0)
            throw new ArgumentException($"groups: output channels {cout} (weight shape {ShapeMath.Format(weightShape)}) are not divisible by groups={groups}.", nameof(groups));
        if ((long)weightShape[1] * groups != cin)
            throw new ArgumentException($"weight: shape {ShapeMath.Format(weightShape)} with groups={groups} expects input with {(long)weightShape[1] * groups} channels, but got input of shape {ShapeMath.Format(inputShape)} ({cin} channels).", "weight");
        CheckBias(hasBias, biasShape, cout);
        var input = inputShape[2..].ToArray();
        var kernel = weightShape[2..].ToArray();
        var s = stride.Expand(rank, nameof(stride), 1, 1);
        var d = dilation.Expand(rank, nameof(dilation), 1, 1);
        var (pb, pe) = (padding ?? Padding.Zero).Resolve(rank, input, kernel, s, d);
        CheckPaddingMode(paddingMode, input, pb, pe);
        return new ConvDescriptor(rank, n, cin, cout, groups, input, kernel, s, d, pb, pe, paddingMode, flip, hasBias);
    }

    /// <summary>Builds a zero-padding, non-flipped descriptor directly from resolved geometry (used internally,
    /// e.g. by transposed convolution and the planner's tests).</summary>
    internal static ConvDescriptor FromGeometry(int rank, int n, int cin, int cout, int groups, int[] input, int[] kernel,
        int[] stride, int[] dilation, int[] padBegin, int[] padEnd, bool hasBias, int[]? outputSize = null)
        => new(rank, n, cin, cout, groups, input, kernel, stride, dilation, padBegin, padEnd, PaddingMode.Zeros, false, hasBias, outputSize);

    internal static void CheckRank(int rank)
    {
        if (rank is < 1 or > 3) throw new ArgumentException($"rank: convolution supports 1, 2 or 3 spatial dimensions, got {rank}.", nameof(rank));
    }

    internal static string SpatialNames(int rank) => rank switch { 1 => "L", 2 => "H, W", _ => "D, H, W" };

    internal static void CheckPositive(ReadOnlySpan<int> shape, string arg)
    {
        foreach (var v in shape)
            if (v <= 0) throw new ArgumentException($"{arg}: all sizes must be positive, got shape {ShapeMath.Format(shape)}.", arg);
        ShapeMath.Numel(shape, arg);
    }

    internal static void CheckBias(bool hasBias, ReadOnlySpan<int> biasShape, int channels)
    {
        if (hasBias && !biasShape.IsEmpty && !(biasShape.Length == 1 && biasShape[0] == channels))
            throw new ArgumentException($"bias: expected shape [{channels}], got {ShapeMath.Format(biasShape)}.", "bias");
    }

    private static void CheckPaddingMode(PaddingMode mode, int[] input, int[] pb, int[] pe)
    {
        for (int i = 0; i < input.Length; i++)
        {
            int p = Math.Max(pb[i], pe[i]);
            if (mode == PaddingMode.Reflect && p >= input[i])
                throw new ArgumentException($"padding: reflect padding ({pb[i]}, {pe[i]}) must be smaller than the input size {input[i]} on axis {i} (input {ShapeMath.Format(input)}).", "padding");
            if (mode == PaddingMode.Circular && p > input[i])
                throw new ArgumentException($"padding: circular padding ({pb[i]}, {pe[i]}) must not exceed the input size {input[i]} on axis {i} (input {ShapeMath.Format(input)}).", "padding");
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"conv{Rank}d(input={ShapeMath.Format(InputShape)}, weight={ShapeMath.Format(WeightShape)}, stride={ShapeMath.Format(Stride)}, " +
        $"pad=({ShapeMath.Format(PadBegin)},{ShapeMath.Format(PadEnd)}), dilation={ShapeMath.Format(Dilation)}, groups={Groups}" +
        (PaddingMode != PaddingMode.Zeros ? $", mode={PaddingMode}" : "") + (Flip ? ", flip" : "") + $") -> {ShapeMath.Format(OutputShape)}";
}
