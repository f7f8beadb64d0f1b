using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Calculators;

/// <summary>
/// Closed-form sizes and costs of convolution layers: output size per axis (convolution, transposed convolution,
/// pooling with ceil_mode), parameter counts, multiply-accumulates and FLOPs, and receptive fields of a stack.
/// Every formula follows PyTorch's definitions; arguments are validated like the operators themselves.
/// </summary>
public static class ConvCalculator
{
    private static void Positive(int v, string name)
    {
        if (v < 1) throw new ArgumentException($"{name}: must be a positive integer, got {v}.", name);
    }

    private static void NonNegative(int v, string name)
    {
        if (v < 0) throw new ArgumentException($"{name}: must be non-negative, got {v}.", name);
    }

    /// <summary>The extent of a dilated kernel: k + (k - 1)·(dilation - 1).</summary>
    /// <param name="kernel">Kernel size.</param>
    /// <param name="dilation">Dilation (spacing between taps; 1 = dense).</param>
    public static int EffectiveKernelSize(int kernel, int dilation = 1)
    {
        Positive(kernel, nameof(kernel));
        Positive(dilation, nameof(dilation));
        long e = kernel + (long)(kernel - 1) * (dilation - 1);
        return e <= int.MaxValue ? (int)e : throw new ArgumentException($"dilation: dilated kernel extent {e} overflows Int32.", nameof(dilation));
    }

    /// <summary>
    /// Output size of a convolution on one axis: floor((in + pad_begin + pad_end - d·(k - 1) - 1) / s) + 1.
    /// </summary>
    /// <param name="input">Input size.</param>
    /// <param name="kernel">Kernel size.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padBegin">Padding before the axis (top/left).</param>
    /// <param name="padEnd">Padding after the axis (bottom/right).</param>
    /// <param name="dilation">Dilation.</param>
    public static int ConvOutputSize(int input, int kernel, int stride, int padBegin, int padEnd, int dilation = 1)
    {
        Positive(input, nameof(input));
        Positive(stride, nameof(stride));
        NonNegative(padBegin, nameof(padBegin));
        NonNegative(padEnd, nameof(padEnd));
        long span = EffectiveKernelSize(kernel, dilation);
        long padded = (long)input + padBegin + padEnd;
        if (padded < span)
            throw new ArgumentException($"kernel: dilated kernel extent {span} is larger than the padded input {input} + ({padBegin}, {padEnd}) = {padded}.", nameof(kernel));
        return (int)((padded - span) / stride + 1);
    }

    /// <summary>Output size of a convolution with symmetric padding: floor((in + 2p - d·(k - 1) - 1) / s) + 1.</summary>
    /// <param name="input">Input size.</param>
    /// <param name="kernel">Kernel size.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Padding on both sides.</param>
    /// <param name="dilation">Dilation.</param>
    public static int ConvOutputSize(int input, int kernel, int stride = 1, int padding = 0, int dilation = 1)
    {
        NonNegative(padding, nameof(padding));
        return ConvOutputSize(input, kernel, stride, padding, padding, dilation);
    }

    /// <summary>
    /// Output spatial shape of a convolution for any padding specification (explicit, asymmetric pairs, "same",
    /// "same_lower", "valid"); the same resolution the convolution operators use.
    /// </summary>
    /// <param name="input">Input spatial sizes.</param>
    /// <param name="kernel">Kernel spatial sizes.</param>
    /// <param name="stride">Stride (int or per axis).</param>
    /// <param name="padding">Padding specification.</param>
    /// <param name="dilation">Dilation (int or per axis).</param>
    public static int[] ConvOutputShape(int[] input, int[] kernel, Dims stride = default, Padding? padding = null, Dims dilation = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(kernel);
        int rank = input.Length;
        if (kernel.Length != rank)
            throw new ArgumentException($"kernel: {ShapeMath.Format(kernel)} has {kernel.Length} axes, input {ShapeMath.Format(input)} has {rank}.", nameof(kernel));
        var s = stride.Expand(rank, nameof(stride), 1, 1);
        var d = dilation.Expand(rank, nameof(dilation), 1, 1);
        foreach (var v in kernel) Positive(v, nameof(kernel));
        foreach (var v in input) Positive(v, nameof(input));
        var (pb, pe) = (padding ?? Padding.Zero).Resolve(rank, input, kernel, s, d);
        var o = new int[rank];
        for (int i = 0; i < rank; i++) o[i] = ConvOutputSize(input[i], kernel[i], s[i], pb[i], pe[i], d[i]);
        return o;
    }

    /// <summary>
    /// Output size of a transposed convolution on one axis: (in - 1)·s - 2p + d·(k - 1) + output_padding + 1.
    /// output_padding must be smaller than the stride or the dilation (PyTorch's rule).
    /// </summary>
    /// <param name="input">Input size.</param>
    /// <param name="kernel">Kernel size.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Padding removed from both ends of the output.</param>
    /// <param name="outputPadding">Extra size at the end of the output.</param>
    /// <param name="dilation">Dilation.</param>
    public static int TransposedOutputSize(int input, int kernel, int stride = 1, int padding = 0, int outputPadding = 0, int dilation = 1)
    {
        Positive(input, nameof(input));
        Positive(stride, nameof(stride));
        NonNegative(padding, nameof(padding));
        NonNegative(outputPadding, nameof(outputPadding));
        int span = EffectiveKernelSize(kernel, dilation);
        if (outputPadding >= stride && outputPadding >= dilation)
            throw new ArgumentException($"outputPadding: {outputPadding} must be smaller than either the stride {stride} or the dilation {dilation}.", nameof(outputPadding));
        long o = (long)(input - 1) * stride - 2L * padding + span - 1 + outputPadding + 1;
        if (o <= 0) throw new ArgumentException($"padding: output size {o} is not positive (input {input}, kernel {kernel}, stride {stride}, padding {padding}).", nameof(padding));
        if (o > int.MaxValue) throw new ArgumentException($"input: output size {o} overflows Int32.", nameof(input));
        return (int)o;
    }

    /// <summary>
    /// Output size of max/avg pooling on one axis, PyTorch's rule: floor or ceil of (in + 2p - d·(k - 1) - 1) / s, plus 1;
    /// with ceil_mode the last window must start inside the input or the left padding, otherwise it is dropped.
    /// Padding may be at most half the kernel.
    /// </summary>
    /// <param name="input">Input size.</param>
    /// <param name="kernel">Window size.</param>
    /// <param name="stride">Stride (PyTorch's default is the kernel size).</param>
    /// <param name="padding">Implicit padding on both sides.</param>
    /// <param name="dilation">Dilation of the window.</param>
    /// <param name="ceilMode">Round up instead of down.</param>
    public static int PoolOutputSize(int input, int kernel, int stride, int padding = 0, int dilation = 1, bool ceilMode = false)
    {
        Positive(input, nameof(input));
        Positive(stride, nameof(stride));
        NonNegative(padding, nameof(padding));
        int span = EffectiveKernelSize(kernel, dilation);
        if (padding > kernel / 2)
            throw new ArgumentException($"padding: {padding} should be at most half the kernel size {kernel}.", nameof(padding));
        long num = (long)input + 2L * padding - span;
        if (num < 0)
            throw new ArgumentException($"kernel: window extent {span} is larger than the padded input {input} + 2·{padding}.", nameof(kernel));
        long o = (ceilMode ? (num + stride - 1) / stride : num / stride) + 1;
        // The last window may not start in the right padding.
        if (ceilMode && (o - 1) * stride >= input + padding) o--;
        return (int)o;
    }

    /// <summary>
    /// Learnable parameters of a convolution (any rank, also transposed): C_out·(C_in/groups)·∏k, plus C_out for the bias.
    /// </summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernel">Kernel sizes per axis.</param>
    /// <param name="groups">Groups (must divide both channel counts).</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    public static long ConvParameters(int inChannels, int outChannels, int[] kernel, int groups = 1, bool bias = true)
    {
        CheckChannels(inChannels, outChannels, groups);
        return (long)outChannels * (inChannels / groups) * Volume(kernel, nameof(kernel)) + (bias ? outChannels : 0);
    }

    /// <summary>
    /// Multiply-accumulates of a convolution: (C_in/groups)·∏k per output element, times N·C_out·∏out.
    /// For a transposed convolution use <see cref="TransposedConvMacs"/>.
    /// </summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernel">Kernel sizes per axis.</param>
    /// <param name="outputSize">Output spatial sizes.</param>
    /// <param name="groups">Groups.</param>
    /// <param name="batch">Batch size.</param>
    public static long ConvMacs(int inChannels, int outChannels, int[] kernel, int[] outputSize, int groups = 1, int batch = 1)
    {
        CheckChannels(inChannels, outChannels, groups);
        Positive(batch, nameof(batch));
        return checked(batch * (long)outChannels * Volume(outputSize, nameof(outputSize)) * (inChannels / groups) * Volume(kernel, nameof(kernel)));
    }

    /// <summary>
    /// Multiply-accumulates of a transposed convolution: every input element is multiplied by (C_out/groups)·∏k weights,
    /// i.e. N·C_in·∏in·(C_out/groups)·∏k — the same count as the forward convolution it is the gradient of.
    /// </summary>
    /// <param name="inChannels">Input channels of the transposed convolution.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernel">Kernel sizes per axis.</param>
    /// <param name="inputSize">Input spatial sizes.</param>
    /// <param name="groups">Groups.</param>
    /// <param name="batch">Batch size.</param>
    public static long TransposedConvMacs(int inChannels, int outChannels, int[] kernel, int[] inputSize, int groups = 1, int batch = 1)
        => ConvMacs(outChannels, inChannels, kernel, inputSize, groups, batch);

    /// <summary>Floating-point operations: 2 per multiply-accumulate.</summary>
    /// <param name="macs">Multiply-accumulates.</param>
    public static long Flops(long macs) => checked(2 * macs);

    /// <summary>Parameters of a fully connected layer: in·out, plus out for the bias.</summary>
    /// <param name="inFeatures">Input features.</param>
    /// <param name="outFeatures">Output features.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    public static long LinearParameters(int inFeatures, int outFeatures, bool bias = true)
    {
        Positive(inFeatures, nameof(inFeatures));
        Positive(outFeatures, nameof(outFeatures));
        return (long)inFeatures * outFeatures + (bias ? outFeatures : 0);
    }

    /// <summary>
    /// Receptive field and jump after one layer: r_out = r_in + (k_eff - 1)·j_in and j_out = j_in·s, where
    /// k_eff = k + (k - 1)(d - 1). Start from r = 1, j = 1 (one input pixel).
    /// </summary>
    /// <param name="previous">Receptive field and jump before the layer.</param>
    /// <param name="kernel">Kernel size.</param>
    /// <param name="stride">Stride.</param>
    /// <param name="dilation">Dilation.</param>
    public static ReceptiveField NextReceptiveField(ReceptiveField previous, int kernel, int stride = 1, int dilation = 1)
    {
        Positive(stride, nameof(stride));
        int k = EffectiveKernelSize(kernel, dilation);
        return new ReceptiveField(previous.Size + (k - 1) * previous.Jump, previous.Jump * stride);
    }

    /// <summary>The receptive field (in input pixels) and jump after each layer of a stack of (kernel, stride, dilation) layers.</summary>
    /// <param name="layers">Layers from input to output.</param>
    public static IReadOnlyList<ReceptiveField> ReceptiveFields(IEnumerable<(int Kernel, int Stride, int Dilation)> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var r = ReceptiveField.Pixel;
        var list = new List<ReceptiveField>();
        foreach (var (k, s, d) in layers)
        {
            r = NextReceptiveField(r, k, s, d);
            list.Add(r);
        }
        return list;
    }

    /// <summary>The receptive field of the last layer of a stack (1 for an empty stack).</summary>
    /// <param name="layers">Layers from input to output.</param>
    public static double ReceptiveFieldOf(IEnumerable<(int Kernel, int Stride, int Dilation)> layers)
    {
        var all = ReceptiveFields(layers);
        return all.Count == 0 ? 1 : all[^1].Size;
    }

    private static void CheckChannels(int inChannels, int outChannels, int groups)
    {
        Positive(inChannels, nameof(inChannels));
        Positive(outChannels, nameof(outChannels));
        Positive(groups, nameof(groups));
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups: {groups} must divide both input channels {inChannels} and output channels {outChannels}.", nameof(groups));
    }

    private static long Volume(int[] sizes, string name)
    {
        ArgumentNullException.ThrowIfNull(sizes, name);
        long v = 1;
        foreach (var s in sizes)
        {
            Positive(s, name);
            v = checked(v * s);
        }
        return v;
    }
}

/// <summary>A receptive field on one axis: its size in input pixels and the jump (distance in input pixels between
/// adjacent outputs). Doubles because a transposed convolution divides the jump by its stride.</summary>
/// <param name="Size">Receptive field size in input pixels.</param>
/// <param name="Jump">Distance in input pixels between neighbouring outputs.</param>
public readonly record struct ReceptiveField(double Size, double Jump)
{
    /// <summary>One input pixel: size 1, jump 1.</summary>
    public static ReceptiveField Pixel => new(1, 1);
}
