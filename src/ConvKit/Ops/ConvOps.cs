using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>The convolution family as named operators (torch.nn.functional.conv*, conv_transpose*, torch.nn.grad.*).</summary>
internal static class ConvOps
{
    private static int RankOf(string op) => op[^2] - '0';

    // "grad.conv2d_input" / "grad.conv_transpose3d_weight": the digit right after the prefix.
    private static int GradRankOf(string op, string prefix) => op[prefix.Length] - '0';

    [Op("conv1d"), Op("conv2d"), Op("conv3d")]
    public static Tensor<T>[] Conv<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = RankOf(c.Op);
        return [Functional.Conv(r, c.Input("input"), c.Input("weight"), c.OptionalInput("bias"), c.Dims("stride"), c.Padding("padding", r),
            c.Dims("dilation"), c.Int("groups", 1), c.PaddingMode(), c.Bool("flip", false))];
    }

    [Op("conv_transpose1d"), Op("conv_transpose2d"), Op("conv_transpose3d")]
    public static Tensor<T>[] ConvTranspose<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = RankOf(c.Op);
        return [Functional.ConvTranspose(r, c.Input("input"), c.Input("weight"), c.OptionalInput("bias"), c.Dims("stride"), c.Padding("padding", r),
            c.Dims("output_padding"), c.Int("groups", 1), c.Dims("dilation"), c.Ints("output_size"), c.Bool("flip", false))];
    }

    [Op("grad.conv1d_input"), Op("grad.conv2d_input"), Op("grad.conv3d_input")]
    public static Tensor<T>[] ConvInput<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = GradRankOf(c.Op, "grad.conv");
        var size = c.Ints("input_size") ?? throw new ArgumentException("input_size: required for " + c.Op, "input_size");
        var d = ConvDescriptor.Create(r, size, c.Input("weight").Shape, false, c.Dims("stride"), c.Padding("padding", r), c.Dims("dilation"),
            c.Int("groups", 1), c.PaddingMode(), c.Bool("flip", false));
        return [Functional.ConvBackwardData(d, c.Input("weight"), c.Input("grad_output"))];
    }

    [Op("grad.conv1d_weight"), Op("grad.conv2d_weight"), Op("grad.conv3d_weight")]
    public static Tensor<T>[] ConvWeight<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = GradRankOf(c.Op, "grad.conv");
        var size = c.Ints("weight_size") ?? throw new ArgumentException("weight_size: required for " + c.Op, "weight_size");
        var d = ConvDescriptor.Create(r, c.Input("input").Shape, size, false, c.Dims("stride"), c.Padding("padding", r), c.Dims("dilation"),
            c.Int("groups", 1), c.PaddingMode(), c.Bool("flip", false));
        return [Functional.ConvBackwardWeight(d, c.Input("input"), c.Input("grad_output"))];
    }

    /// <summary>Gradient of the bias of any convolution (beyond PyTorch's names: grad.conv_bias).</summary>
    [Op("grad.conv_bias")]
    public static Tensor<T>[] ConvBias<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.ConvBackwardBias(c.Input("grad_output"))];

    /// <summary>Gradients of a transposed convolution (beyond PyTorch's names): grad.conv_transposeNd_input / _weight.</summary>
    [Op("grad.conv_transpose1d_input"), Op("grad.conv_transpose2d_input"), Op("grad.conv_transpose3d_input"),
     Op("grad.conv_transpose1d_weight"), Op("grad.conv_transpose2d_weight"), Op("grad.conv_transpose3d_weight")]
    public static Tensor<T>[] ConvTransposeGrad<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool input = c.Op.EndsWith("_input", StringComparison.Ordinal);
        int r = GradRankOf(c.Op, "grad.conv_transpose");
        var gy = c.Input("grad_output");
        var inShape = input ? (c.Ints("input_size") ?? throw new ArgumentException("input_size: required for " + c.Op, "input_size")) : c.Input("input").ShapeArray();
        var wShape = input ? c.Input("weight").ShapeArray() : (c.Ints("weight_size") ?? throw new ArgumentException("weight_size: required for " + c.Op, "weight_size"));
        // The output size comes from grad_output unless output_padding is given explicitly: output_padding may reach
        // the dilation (not only the stride), which a requested output_size cannot express.
        bool explicitOp = c.Has("output_padding") && !c.Has("output_size");
        var d = ConvTransposeDescriptor.Create(r, inShape, wShape, false, c.Dims("stride"), c.Padding("padding", r), c.Dims("output_padding"),
            c.Int("groups", 1), c.Dims("dilation"), explicitOp ? null : gy.ShapeArray(), c.Bool("flip", false));
        return [input ? Functional.ConvTransposeBackwardInput(d, c.Input("weight"), gy) : Functional.ConvTransposeBackwardWeight(d, c.Input("input"), gy)];
    }
}
