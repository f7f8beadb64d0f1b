using ConvKit.Tensors;

namespace ConvKit.Descriptors;

/// <summary>
/// An immutable, validated transposed convolution ("deconvolution"). Weight layout is PyTorch's
/// [C_in, C_out/groups, k...]. It is exactly the backward-data pass of the forward convolution
/// <see cref="Conv"/>, whose input is this operation's output and whose output is this operation's input; the
/// engine runs it that way.
/// </summary>
public sealed class ConvTransposeDescriptor
{
    /// <summary>The forward convolution whose backward-data pass this is.</summary>
    public ConvDescriptor Conv { get; }
    /// <summary>Extra size added to one side of each output axis (must be &lt; stride or &lt; dilation).</summary>
    public int[] OutputPadding { get; }
    /// <summary>True (mathematical) convolution: the kernel is rotated 180°.</summary>
    public bool Flip { get; }
    /// <summary>Number of spatial dimensions.</summary>
    public int Rank => Conv.Rank;
    /// <summary>Full input shape [N, C_in, spatial...].</summary>
    public int[] InputShape => Conv.OutputShape;
    /// <summary>Full weight shape [C_in, C_out/groups, k...].</summary>
    public int[] WeightShape => Conv.WeightShape;
    /// <summary>Full output shape [N, C_out, spatial...].</summary>
    public int[] OutputShape => Conv.InputShape;
    /// <summary>Whether a bias of [C_out] is added.</summary>
    public bool HasBias { get; }
    /// <summary>Floating-point operations (same as the underlying convolution).</summary>
    public long Flops => Conv.Flops;

    private ConvTransposeDescriptor(ConvDescriptor conv, int[] outputPadding, bool flip, bool hasBias)
    { Conv = conv; OutputPadding = outputPadding; Flip = flip; HasBias = hasBias; }

    /// <summary>
    /// Validates a transposed convolution: input [N, C_in, spatial...], weight [C_in, C_out/groups, k...].
    /// Output size per axis is (in-1)·stride - pad_begin - pad_end + dilation·(k-1) + output_padding + 1; when
    /// <paramref name="outputSize"/> is given, output_padding is derived from it as PyTorch does.
    /// </summary>
    public static ConvTransposeDescriptor Create(int rank, ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape, bool hasBias = false,
        Dims stride = default, Padding? padding = null, Dims outputPadding = default, int groups = 1, Dims dilation = default,
        int[]? outputSize = null, bool flip = false, ReadOnlySpan<int> biasShape = default)
    {
        ConvDescriptor.CheckRank(rank);
        if (inputShape.Length != rank + 2)
            throw new ArgumentException($"input: expected a {rank + 2}-d tensor [N, C, {ConvDescriptor.SpatialNames(rank)}] for conv_transpose{rank}d, got shape {ShapeMath.Format(inputShape)}.", "input");
        if (weightShape.Length != rank + 2)
            throw new ArgumentException($"weight: expected a {rank + 2}-d tensor [C_in, C_out/groups, {ConvDescriptor.SpatialNames(rank)}] for conv_transpose{rank}d, got shape {ShapeMath.Format(weightShape)}.", "weight");
        ConvDescriptor.CheckPositive(inputShape, "input");
        ConvDescriptor.CheckPositive(weightShape, "weight");
        if (groups < 1) throw new ArgumentException($"groups: must be a positive integer, got {groups}.", nameof(groups));
        int n = inputShape[0], cin = inputShape[1];
        if (weightShape[0] != cin)
            throw new ArgumentException($"weight: shape {ShapeMath.Format(weightShape)} expects input with {weightShape[0]} channels (dimension 0), but got input of shape {ShapeMath.Format(inputShape)}.", "weight");
        if (cin % groups != 0)
            throw new ArgumentException($"groups: input channels {cin} (input shape {ShapeMath.Format(inputShape)}) are not divisible by groups={groups}.", nameof(groups));
        long coutL = (long)weightShape[1] * groups;
        if (coutL > int.MaxValue) throw new ArgumentException($"weight: output channels {weightShape[1]}·{groups} overflow Int32.", "weight");
        int cout = (int)coutL;
        ConvDescriptor.CheckBias(hasBias, biasShape, cout);
        var input = inputShape[2..].ToArray();
        var kernel = weightShape[2..].ToArray();
        var s = stride.Expand(rank, nameof(stride), 1, 1);
        var d = dilation.Expand(rank, nameof(dilation), 1, 1);
        var pad = padding ?? Padding.Zero;
        if (pad.Kind is PaddingKind.Same or PaddingKind.SameLower)
            throw new ArgumentException("padding: 'same' is not defined for transposed convolution; give explicit padding or output_size.", nameof(padding));
        var (pb, pe) = pad.Resolve(rank, input, kernel, s, d);
        var op = outputPadding.Expand(rank, nameof(outputPadding), 0, 0);
        var outSize = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            long min = (long)(input[i] - 1) * s[i] - pb[i] - pe[i] + (long)d[i] * (kernel[i] - 1) + 1;
            if (outputSize is not null)
            {
                if (outputSize.Length != rank && outputSize.Length != rank + 2)
                    throw new ArgumentException($"outputSize: expected {rank} (or {rank + 2}) values, got {ShapeMath.Format(outputSize)}.", nameof(outputSize));
                int req = outputSize[outputSize.Length - rank + i];
                long max = min + s[i] - 1;
                if (req < min || req > max)
                    throw new ArgumentException($"outputSize: requested {ShapeMath.Format(outputSize)} but valid sizes on axis {i} are {min}..{max} (input {ShapeMath.Format(inputShape)}, stride {s[i]}, padding ({pb[i]}, {pe[i]}), kernel {kernel[i]}, dilation {d[i]}).", nameof(outputSize));
                op[i] = (int)(req - min);
            }
            else if (op[i] >= s[i] && op[i] >= d[i])
                throw new ArgumentException($"outputPadding: {ShapeMath.Format(op)} must be smaller than either stride {ShapeMath.Format(s)} or dilation {ShapeMath.Format(d)}.", nameof(outputPadding));
            long size = min + op[i];
            if (size <= 0)
                throw new ArgumentException($"padding: output size {size} on axis {i} is not positive (input {ShapeMath.Format(inputShape)}, padding ({pb[i]}, {pe[i]}), kernel {ShapeMath.Format(kernel)}).", nameof(padding));
            if (size > int.MaxValue) throw new ArgumentException($"input: output size on axis {i} overflows Int32.", "input");
            outSize[i] = (int)size;
        }
        var conv = ConvDescriptor.FromGeometry(rank, n, cout, cin, groups, outSize, kernel, s, d, pb, pe, false, input);
        return new ConvTransposeDescriptor(conv, op, flip, hasBias);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"conv_transpose{Rank}d(input={ShapeMath.Format(InputShape)}, weight={ShapeMath.Format(WeightShape)}, stride={ShapeMath.Format(Conv.Stride)}, " +
        $"pad=({ShapeMath.Format(Conv.PadBegin)},{ShapeMath.Format(Conv.PadEnd)}), output_padding={ShapeMath.Format(OutputPadding)}, dilation={ShapeMath.Format(Conv.Dilation)}, groups={Conv.Groups}) -> {ShapeMath.Format(OutputShape)}";
}
