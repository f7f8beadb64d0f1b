using System.Numerics;
using System.Runtime.InteropServices;
using ConvKit.Algorithms;
using ConvKit.Descriptors;
using ConvKit.Ops;
using ConvKit.Reference;
using ConvKit.Tensors;

namespace ConvKit;

/// <summary>
/// The functional API, named after <c>torch.nn.functional</c> so that code ports line by line:
/// <c>F.conv2d(x, w, b, stride=2, padding=1)</c> becomes <c>Functional.Conv2d(x, w, b, stride: 2, padding: 1)</c>.
/// Float tensors run on the fast engine; double tensors run the reference (for gradient checks).
/// </summary>
public static partial class Functional
{
    // ---------------------------------------------------------------- convolution forward

    /// <summary>1-d convolution (cross-correlation). input [N, C_in, L] (or [C_in, L]), weight [C_out, C_in/groups, k].</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="weight">Filters.</param>
    /// <param name="bias">Optional bias [C_out].</param>
    /// <param name="stride">Stride (int or per axis).</param>
    /// <param name="padding">int, per axis, <see cref="Padding.Asymmetric"/> pairs, or "same"/"valid"/"same_lower".</param>
    /// <param name="dilation">Dilation (int or per axis).</param>
    /// <param name="groups">Number of groups.</param>
    /// <param name="paddingMode">zeros, reflect, replicate or circular.</param>
    /// <param name="flip">True (mathematical) convolution: rotate the kernel 180°.</param>
    public static Tensor<T> Conv1d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Conv(1, input, weight, bias, stride, padding, dilation, groups, paddingMode, flip);

    /// <summary>2-d convolution (cross-correlation). input [N, C_in, H, W] (or [C_in, H, W]), weight [C_out, C_in/groups, kH, kW].</summary>
    /// <inheritdoc cref="Conv1d{T}"/>
    public static Tensor<T> Conv2d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Conv(2, input, weight, bias, stride, padding, dilation, groups, paddingMode, flip);

    /// <summary>3-d convolution (cross-correlation). input [N, C_in, D, H, W] (or [C_in, D, H, W]), weight [C_out, C_in/groups, kD, kH, kW].</summary>
    /// <inheritdoc cref="Conv1d{T}"/>
    public static Tensor<T> Conv3d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Conv(3, input, weight, bias, stride, padding, dilation, groups, paddingMode, flip);

    /// <summary>Depthwise 2-d convolution: groups = C_in, weight [m·C_in, 1, kH, kW] for channel multiplier m.</summary>
    /// <inheritdoc cref="Conv1d{T}"/>
    public static Tensor<T> DepthwiseConv2d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims dilation = default, PaddingMode paddingMode = PaddingMode.Zeros)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (input.Rank is < 3 or > 4) throw new ArgumentException($"input: expected [N, C, H, W], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        if (weight.Rank != 4 || weight.Size(1) != 1)
            throw new ArgumentException($"weight: depthwise weight must be [multiplier·C_in, 1, kH, kW], got {ShapeMath.Format(weight.Shape)}.", nameof(weight));
        return Conv(2, input, weight, bias, stride, padding, dilation, input.Size(-3), paddingMode, false);
    }

    /// <summary>Convolution of any rank from a descriptor-building call; the shared body of Conv1d/2d/3d.</summary>
    internal static Tensor<T> Conv<T>(int rank, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Dims stride, Padding? padding,
        Dims dilation, int groups, PaddingMode paddingMode, bool flip)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool unbatched = input.Rank == rank + 1;
        var x = unbatched ? input.Reshape([1, .. input.Shape]) : input;
        var d = ConvDescriptor.Create(rank, x.Shape, weight.Shape, bias is not null, stride, padding, dilation, groups, paddingMode, flip,
            bias is null ? default : bias.Shape);
        var y = ConvForward(d, x, weight, bias);
        return unbatched ? y.Reshape(y.Shape[1..].ToArray()) : y;
    }

    /// <summary>Runs a validated descriptor forward: handles padding modes and flip, then the engine or reference.</summary>
    public static Tensor<T> ConvForward<T>(ConvDescriptor d, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(input, d.InputShape, "input");
        CheckShape(weight, d.WeightShape, "weight");
        var x = CoreInput(d, input);
        var w = d.Flip ? FlipKernel(weight, d.Rank) : weight;
        var y = new Tensor<T>(d.OutputShape);
        var b = bias is null ? ReadOnlySpan<T>.Empty : bias.AsSpan();
        if (typeof(T) == typeof(float))
            ConvEngine.Forward(d.Core, F(x.AsSpan()), F(w.AsSpan()), F(b), F(y.AsSpan()));
        else
            ConvReference.Forward(d.Core, x.AsSpan(), w.AsSpan(), b, y.AsSpan());
        return y;
    }

    // ---------------------------------------------------------------- convolution backward

    /// <summary>∂L/∂input of conv1d (PyTorch's torch.nn.grad.conv1d_input).</summary>
    public static Tensor<T> Conv1dBackwardInput<T>(int[] inputSize, Tensor<T> weight, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvBackwardData(ConvDescriptor.Create(1, inputSize, weight.Shape, false, stride, padding, dilation, groups, paddingMode, flip), weight, gradOutput);

    /// <summary>∂L/∂input of conv2d (PyTorch's torch.nn.grad.conv2d_input; TensorFlow's conv2d_backprop_input).</summary>
    /// <param name="inputSize">Full input shape [N, C_in, H, W].</param>
    /// <param name="weight">Filters of the forward pass.</param>
    /// <param name="gradOutput">∂L/∂output [N, C_out, H_out, W_out].</param>
    /// <param name="stride">As in the forward pass.</param>
    /// <param name="padding">As in the forward pass.</param>
    /// <param name="dilation">As in the forward pass.</param>
    /// <param name="groups">As in the forward pass.</param>
    /// <param name="paddingMode">As in the forward pass.</param>
    /// <param name="flip">As in the forward pass.</param>
    public static Tensor<T> Conv2dBackwardInput<T>(int[] inputSize, Tensor<T> weight, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvBackwardData(ConvDescriptor.Create(2, inputSize, weight.Shape, false, stride, padding, dilation, groups, paddingMode, flip), weight, gradOutput);

    /// <summary>∂L/∂input of conv3d (PyTorch's torch.nn.grad.conv3d_input).</summary>
    public static Tensor<T> Conv3dBackwardInput<T>(int[] inputSize, Tensor<T> weight, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvBackwardData(ConvDescriptor.Create(3, inputSize, weight.Shape, false, stride, padding, dilation, groups, paddingMode, flip), weight, gradOutput);

    /// <summary>∂L/∂weight of conv1d (PyTorch's torch.nn.grad.conv1d_weight).</summary>
    public static Tensor<T> Conv1dBackwardWeight<T>(Tensor<T> input, int[] weightSize, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvBackwardWeight(ConvDescriptor.Create(1, input.Shape, weightSize, false, stride, padding, dilation, groups, paddingMode, flip), input, gradOutput);

    /// <summary>∂L/∂weight of conv2d (PyTorch's torch.nn.grad.conv2d_weight; TensorFlow's conv2d_backprop_filter).</summary>
    /// <param name="input">Input of the forward pass.</param>
    /// <param name="weightSize">Full weight shape [C_out, C_in/groups, kH, kW].</param>
    /// <param name="gradOutput">∂L/∂output.</param>
    /// <param name="stride">As in the forward pass.</param>
    /// <param name="padding">As in the forward pass.</param>
    /// <param name="dilation">As in the forward pass.</param>
    /// <param name="groups">As in the forward pass.</param>
    /// <param name="paddingMode">As in the forward pass.</param>
    /// <param name="flip">As in the forward pass.</param>
    public static Tensor<T> Conv2dBackwardWeight<T>(Tensor<T> input, int[] weightSize, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvBackwardWeight(ConvDescriptor.Create(2, input.Shape, weightSize, false, stride, padding, dilation, groups, paddingMode, flip), input, gradOutput);

    /// <summary>∂L/∂weight of conv3d (PyTorch's torch.nn.grad.conv3d_weight).</summary>
    public static Tensor<T> Conv3dBackwardWeight<T>(Tensor<T> input, int[] weightSize, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvBackwardWeight(ConvDescriptor.Create(3, input.Shape, weightSize, false, stride, padding, dilation, groups, paddingMode, flip), input, gradOutput);

    /// <summary>∂L/∂bias of any convolution: the sum of gradOutput over batch and spatial axes.</summary>
    public static Tensor<T> ConvBackwardBias<T>(Tensor<T> gradOutput) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gradOutput.Rank < 2) throw new ArgumentException($"gradOutput: expected [N, C, ...], got {ShapeMath.Format(gradOutput.Shape)}.", nameof(gradOutput));
        int n = gradOutput.Size(0), c = gradOutput.Size(1);
        var gb = new Tensor<T>(c);
        int spatial = gradOutput.Length / Math.Max(1, n * c);
        if (typeof(T) == typeof(float)) BackwardBiasFloat(n, c, spatial, (Tensor<float>)(object)gradOutput, (Tensor<float>)(object)gb);
        else ConvReference.BackwardBias(n, c, spatial, gradOutput.AsSpan(), gb.AsSpan());
        return gb;
    }

    /// <summary>Float bias gradient: each (n, c) plane summed in float lanes, the plane sums added in double per
    /// channel (the same order of magnitude of rounding as the double reference); channels split over two cores.</summary>
    private static void BackwardBiasFloat(int n, int c, int spatial, Tensor<float> gy, Tensor<float> gb)
    {
        var gd = gy.Data; int go = gy.Offset;
        Ops.BatchNorm.ForChannels(c, (long)n * spatial, (c0, c1) =>
        {
            for (int k = c0; k < c1; k++)
            {
                double acc = 0;
                for (int b = 0; b < n; b++) acc += Ops.BatchNorm.PlaneSum(gd.AsSpan(go + (b * c + k) * spatial, spatial));
                gb.Data[k] = (float)acc;
            }
        });
    }

    /// <summary>∂L/∂input for a validated descriptor (padding modes and flip included).</summary>
    public static Tensor<T> ConvBackwardData<T>(ConvDescriptor d, Tensor<T> weight, Tensor<T> gradOutput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(weight, d.WeightShape, "weight");
        CheckShape(gradOutput, d.OutputShape, "gradOutput");
        var w = d.Flip ? FlipKernel(weight, d.Rank) : weight;
        var gx = new Tensor<T>(d.Core.InputShape);
        RunBackwardData(d.Core, gradOutput, w, gx);
        return d.PaddingMode == PaddingMode.Zeros ? gx : PadOps.PadBackward(gx, d.InputShape, d.PadBegin, d.PadEnd, d.PaddingMode);
    }

    /// <summary>∂L/∂weight for a validated descriptor (padding modes and flip included).</summary>
    public static Tensor<T> ConvBackwardWeight<T>(ConvDescriptor d, Tensor<T> input, Tensor<T> gradOutput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(input, d.InputShape, "input");
        CheckShape(gradOutput, d.OutputShape, "gradOutput");
        var x = CoreInput(d, input);
        var gw = new Tensor<T>(d.WeightShape);
        RunBackwardWeight(d.Core, x, gradOutput, gw);
        return d.Flip ? FlipKernel(gw, d.Rank) : gw;
    }

    // ---------------------------------------------------------------- transposed convolution

    /// <summary>1-d transposed convolution. input [N, C_in, L], weight [C_in, C_out/groups, k].</summary>
    /// <param name="input">Input tensor.</param>
    /// <param name="weight">Filters [C_in, C_out/groups, k...].</param>
    /// <param name="bias">Optional bias [C_out].</param>
    /// <param name="stride">Stride.</param>
    /// <param name="padding">Padding removed from the output (int, per axis, or asymmetric pairs).</param>
    /// <param name="outputPadding">Extra size on the end of each output axis (&lt; stride or &lt; dilation).</param>
    /// <param name="groups">Number of groups.</param>
    /// <param name="dilation">Dilation.</param>
    /// <param name="outputSize">Optional requested spatial output size (derives output padding).</param>
    /// <param name="flip">True (mathematical) convolution: rotate the kernel 180°.</param>
    public static Tensor<T> ConvTranspose1d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, int[]? outputSize = null, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTranspose(1, input, weight, bias, stride, padding, outputPadding, groups, dilation, outputSize, flip);

    /// <summary>2-d transposed convolution. input [N, C_in, H, W], weight [C_in, C_out/groups, kH, kW].</summary>
    /// <inheritdoc cref="ConvTranspose1d{T}"/>
    public static Tensor<T> ConvTranspose2d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, int[]? outputSize = null, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTranspose(2, input, weight, bias, stride, padding, outputPadding, groups, dilation, outputSize, flip);

    /// <summary>3-d transposed convolution. input [N, C_in, D, H, W], weight [C_in, C_out/groups, kD, kH, kW].</summary>
    /// <inheritdoc cref="ConvTranspose1d{T}"/>
    public static Tensor<T> ConvTranspose3d<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, int[]? outputSize = null, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTranspose(3, input, weight, bias, stride, padding, outputPadding, groups, dilation, outputSize, flip);

    internal static Tensor<T> ConvTranspose<T>(int rank, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Dims stride, Padding? padding,
        Dims outputPadding, int groups, Dims dilation, int[]? outputSize, bool flip)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool unbatched = input.Rank == rank + 1;
        var x = unbatched ? input.Reshape([1, .. input.Shape]) : input;
        var d = ConvTransposeDescriptor.Create(rank, x.Shape, weight.Shape, bias is not null, stride, padding, outputPadding, groups, dilation,
            outputSize, flip, bias is null ? default : bias.Shape);
        var y = ConvTransposeForward(d, x, weight, bias);
        return unbatched ? y.Reshape(y.Shape[1..].ToArray()) : y;
    }

    /// <summary>Runs a validated transposed convolution: the backward-data pass of <see cref="ConvTransposeDescriptor.Conv"/>, plus bias.</summary>
    public static Tensor<T> ConvTransposeForward<T>(ConvTransposeDescriptor d, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(input, d.InputShape, "input");
        CheckShape(weight, d.WeightShape, "weight");
        var w = d.Flip ? FlipKernel(weight, d.Rank) : weight;
        var y = new Tensor<T>(d.OutputShape);
        RunBackwardData(d.Conv, input, w, y);
        if (bias is not null) AddBias(y, bias);
        return y;
    }

    /// <summary>∂L/∂input of a transposed convolution: the forward convolution of gradOutput.</summary>
    public static Tensor<T> ConvTransposeBackwardInput<T>(ConvTransposeDescriptor d, Tensor<T> weight, Tensor<T> gradOutput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(weight, d.WeightShape, "weight");
        CheckShape(gradOutput, d.OutputShape, "gradOutput");
        var w = d.Flip ? FlipKernel(weight, d.Rank) : weight;
        var gx = new Tensor<T>(d.InputShape);
        RunForward(d.Conv, gradOutput, w, gx);
        return gx;
    }

    /// <summary>∂L/∂weight of a transposed convolution [C_in, C_out/groups, k...].</summary>
    public static Tensor<T> ConvTransposeBackwardWeight<T>(ConvTransposeDescriptor d, Tensor<T> input, Tensor<T> gradOutput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(input, d.InputShape, "input");
        CheckShape(gradOutput, d.OutputShape, "gradOutput");
        var gw = new Tensor<T>(d.WeightShape);
        RunBackwardWeight(d.Conv, gradOutput, input, gw);
        return d.Flip ? FlipKernel(gw, d.Rank) : gw;
    }

    /// <summary>∂L/∂input of conv_transpose1d from PyTorch-style arguments (see <see cref="ConvTranspose2dBackwardInput{T}"/>).</summary>
    public static Tensor<T> ConvTranspose1dBackwardInput<T>(int[] inputSize, Tensor<T> weight, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTransposeBackwardInput(TransposeFromGrad(1, inputSize, weight.Shape, gradOutput, stride, padding, outputPadding, groups, dilation, flip), weight, gradOutput);

    /// <summary>∂L/∂input of conv_transpose2d from PyTorch-style arguments. The output size is taken from
    /// <paramref name="gradOutput"/> unless <paramref name="outputPadding"/> is given.</summary>
    /// <param name="inputSize">Full input shape [N, C_in, H, W].</param>
    /// <param name="weight">Filters [C_in, C_out/groups, kH, kW].</param>
    /// <param name="gradOutput">∂L/∂output.</param>
    /// <param name="stride">As in the forward pass.</param>
    /// <param name="padding">As in the forward pass.</param>
    /// <param name="outputPadding">As in the forward pass.</param>
    /// <param name="groups">As in the forward pass.</param>
    /// <param name="dilation">As in the forward pass.</param>
    /// <param name="flip">As in the forward pass.</param>
    public static Tensor<T> ConvTranspose2dBackwardInput<T>(int[] inputSize, Tensor<T> weight, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTransposeBackwardInput(TransposeFromGrad(2, inputSize, weight.Shape, gradOutput, stride, padding, outputPadding, groups, dilation, flip), weight, gradOutput);

    /// <summary>∂L/∂input of conv_transpose3d from PyTorch-style arguments (see <see cref="ConvTranspose2dBackwardInput{T}"/>).</summary>
    public static Tensor<T> ConvTranspose3dBackwardInput<T>(int[] inputSize, Tensor<T> weight, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTransposeBackwardInput(TransposeFromGrad(3, inputSize, weight.Shape, gradOutput, stride, padding, outputPadding, groups, dilation, flip), weight, gradOutput);

    /// <summary>∂L/∂weight of conv_transpose1d from PyTorch-style arguments (see <see cref="ConvTranspose2dBackwardInput{T}"/>).</summary>
    public static Tensor<T> ConvTranspose1dBackwardWeight<T>(Tensor<T> input, int[] weightSize, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTransposeBackwardWeight(TransposeFromGrad(1, input.Shape, weightSize, gradOutput, stride, padding, outputPadding, groups, dilation, flip), input, gradOutput);

    /// <summary>∂L/∂weight of conv_transpose2d from PyTorch-style arguments (output size as in
    /// <see cref="ConvTranspose2dBackwardInput{T}"/>).</summary>
    public static Tensor<T> ConvTranspose2dBackwardWeight<T>(Tensor<T> input, int[] weightSize, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTransposeBackwardWeight(TransposeFromGrad(2, input.Shape, weightSize, gradOutput, stride, padding, outputPadding, groups, dilation, flip), input, gradOutput);

    /// <summary>∂L/∂weight of conv_transpose3d from PyTorch-style arguments (see <see cref="ConvTranspose2dBackwardInput{T}"/>).</summary>
    public static Tensor<T> ConvTranspose3dBackwardWeight<T>(Tensor<T> input, int[] weightSize, Tensor<T> gradOutput, Dims stride = default, Padding? padding = null,
        Dims outputPadding = default, int groups = 1, Dims dilation = default, bool flip = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTransposeBackwardWeight(TransposeFromGrad(3, input.Shape, weightSize, gradOutput, stride, padding, outputPadding, groups, dilation, flip), input, gradOutput);

    /// <summary>The transposed descriptor of a backward call: output size from gradOutput unless output padding is given
    /// (output_padding ≥ stride, allowed below dilation, cannot be expressed as a requested size).</summary>
    private static ConvTransposeDescriptor TransposeFromGrad<T>(int rank, ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape, Tensor<T> gradOutput,
        Dims stride, Padding? padding, Dims outputPadding, int groups, Dims dilation, bool flip) where T : unmanaged, IFloatingPointIeee754<T>
        => ConvTransposeDescriptor.Create(rank, inputShape, weightShape, false, stride, padding, outputPadding, groups, dilation,
            outputPadding.IsDefault ? gradOutput.ShapeArray() : null, flip);

    // ---------------------------------------------------------------- helpers

    /// <summary>Rotates the spatial axes of a kernel by 180° (reverses each), turning correlation into convolution.</summary>
    public static Tensor<T> FlipKernel<T>(Tensor<T> weight, int rank) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int vol = 1;
        for (int i = weight.Rank - rank; i < weight.Rank; i++) vol *= weight.Size(i);
        var r = weight.Clone();
        var s = r.AsSpan();
        // Reversing the flattened spatial block reverses every spatial axis at once.
        for (int o = 0; o < s.Length; o += vol) s.Slice(o, vol).Reverse();
        return r;
    }

    /// <summary>Adds bias[c] to every element of channel c of y [N, C, ...] in place.</summary>
    internal static void AddBias<T>(Tensor<T> y, Tensor<T> bias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = y.Size(0), c = y.Size(1), sp = y.Length / (n * c);
        var ys = y.AsSpan(); var bs = bias.AsSpan();
        for (int i = 0; i < n * c; i++)
        {
            var row = ys.Slice(i * sp, sp);
            T b = bs[i % c];
            for (int j = 0; j < row.Length; j++) row[j] += b;
        }
    }

    private static Tensor<T> CoreInput<T>(ConvDescriptor d, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
        => d.PaddingMode == PaddingMode.Zeros ? input : PadOps.Pad(input, d.PadBegin, d.PadEnd, d.PaddingMode);

    internal static void CheckShape<T>(Tensor<T> t, int[] expected, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!t.Shape.SequenceEqual(expected))
            throw new ArgumentException($"{name}: expected shape {ShapeMath.Format(expected)}, got {ShapeMath.Format(t.Shape)}.", name);
    }

    private static void RunForward<T>(ConvDescriptor core, Tensor<T> x, Tensor<T> w, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) ConvEngine.Forward(core, F(x.AsSpan()), F(w.AsSpan()), default, F(y.AsSpan()));
        else ConvReference.Forward(core, x.AsSpan(), w.AsSpan(), default, y.AsSpan());
    }

    private static void RunBackwardData<T>(ConvDescriptor core, Tensor<T> gy, Tensor<T> w, Tensor<T> gx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) ConvEngine.BackwardData(core, F(gy.AsSpan()), F(w.AsSpan()), F(gx.AsSpan()));
        else ConvReference.BackwardData(core, gy.AsSpan(), w.AsSpan(), gx.AsSpan());
    }

    private static void RunBackwardWeight<T>(ConvDescriptor core, Tensor<T> x, Tensor<T> gy, Tensor<T> gw) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) ConvEngine.BackwardWeight(core, F(x.AsSpan()), F(gy.AsSpan()), F(gw.AsSpan()));
        else ConvReference.BackwardWeight(core, x.AsSpan(), gy.AsSpan(), gw.AsSpan());
    }

    /// <summary>Reinterprets a span of T as float (only called when T is float).</summary>
    internal static Span<float> F<T>(Span<T> s) where T : unmanaged => MemoryMarshal.Cast<T, float>(s);
    internal static ReadOnlySpan<float> F<T>(ReadOnlySpan<T> s) where T : unmanaged => MemoryMarshal.Cast<T, float>(s);
}
