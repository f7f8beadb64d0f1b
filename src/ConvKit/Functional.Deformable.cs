using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Ops;
using ConvKit.Tensors;

namespace ConvKit;

/// <summary>Gradients of <see cref="Functional.DeformConv2d{T}"/>, in torchvision's argument order.</summary>
/// <param name="Input">∂L/∂input [N, C_in, H, W].</param>
/// <param name="Offset">∂L/∂offset [N, 2·offset_groups·kH·kW, H_out, W_out].</param>
/// <param name="Weight">∂L/∂weight [C_out, C_in/groups, kH, kW].</param>
/// <param name="Bias">∂L/∂bias [C_out], or null when the forward pass had no bias.</param>
/// <param name="Mask">∂L/∂mask [N, offset_groups·kH·kW, H_out, W_out], or null for v1 (no mask).</param>
public sealed record DeformConv2dGrads<T>(Tensor<T> Input, Tensor<T> Offset, Tensor<T> Weight, Tensor<T>? Bias, Tensor<T>? Mask)
    where T : unmanaged, IFloatingPointIeee754<T>;

public static partial class Functional
{
    /// <summary>
    /// Deformable convolution v1 (no mask) / v2 (with mask), exactly as <c>torchvision.ops.deform_conv2d(input, offset,
    /// weight, bias, stride, padding, dilation, mask)</c>. Kernel tap (i, j) of output (oh, ow) reads channel c at
    /// (oh·sH - pH + i·dH + dy, ow·sW - pW + j·dW + dx) by bilinear interpolation (0 outside (-1, H)×(-1, W)),
    /// times the mask value when given. Weight groups = C_in / weight.shape[1]; offset groups =
    /// offset.shape[1] / (2·kH·kW), channel c uses offset group c / (C_in / offset_groups).
    /// </summary>
    /// <param name="input">Input [N, C_in, H, W].</param>
    /// <param name="offset">Offsets [N, 2·offset_groups·kH·kW, H_out, W_out], (dy, dx) interleaved per tap (tap = i·kW + j).</param>
    /// <param name="weight">Filters [C_out, C_in/groups, kH, kW].</param>
    /// <param name="bias">Optional bias [C_out].</param>
    /// <param name="stride">Stride (int or (sH, sW)); default 1.</param>
    /// <param name="padding">Zero padding (int or (pH, pW)); default 0.</param>
    /// <param name="dilation">Dilation (int or (dH, dW)); default 1.</param>
    /// <param name="mask">Optional modulation mask [N, offset_groups·kH·kW, H_out, W_out] (v2).</param>
    /// <returns>Output [N, C_out, H_out, W_out].</returns>
    public static Tensor<T> DeformConv2d<T>(Tensor<T> input, Tensor<T> offset, Tensor<T> weight, Tensor<T>? bias = null,
        Dims stride = default, Dims padding = default, Dims dilation = default, Tensor<T>? mask = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = DeformGeometry(input, offset, weight, bias, stride, padding, dilation, mask);
        var y = new Tensor<T>(g.OutputShape);
        DeformConv.Forward(g, input.AsSpan(), offset.AsSpan(), mask is null ? default : mask.AsSpan(), weight.AsSpan(),
            bias is null ? default : bias.AsSpan(), y.AsSpan());
        return y;
    }

    /// <summary>
    /// All gradients of <see cref="DeformConv2d{T}"/> for a given ∂L/∂output: input, offset, weight, bias (when a bias
    /// is given) and mask (when a mask is given), with torchvision's conventions at cell boundaries (the cell of a
    /// sample point is floor(y), floor(x); points outside the sampling range contribute nothing).
    /// </summary>
    /// <param name="gradOutput">∂L/∂output [N, C_out, H_out, W_out].</param>
    /// <param name="input">Input of the forward pass.</param>
    /// <param name="offset">Offsets of the forward pass.</param>
    /// <param name="weight">Filters of the forward pass.</param>
    /// <param name="bias">Bias of the forward pass (only its presence matters).</param>
    /// <param name="stride">As in the forward pass.</param>
    /// <param name="padding">As in the forward pass.</param>
    /// <param name="dilation">As in the forward pass.</param>
    /// <param name="mask">Mask of the forward pass (v2) or null (v1).</param>
    public static DeformConv2dGrads<T> DeformConv2dBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Tensor<T> offset, Tensor<T> weight,
        Tensor<T>? bias = null, Dims stride = default, Dims padding = default, Dims dilation = default, Tensor<T>? mask = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = DeformGeometry(input, offset, weight, bias, stride, padding, dilation, mask);
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (!gradOutput.Shape.SequenceEqual(g.OutputShape))
            throw new ArgumentException($"gradOutput: expected {ShapeMath.Format(g.OutputShape)}, got {ShapeMath.Format(gradOutput.Shape)}.", nameof(gradOutput));
        var gx = new Tensor<T>(input.ShapeArray());
        var goff = new Tensor<T>(offset.ShapeArray());
        var gw = new Tensor<T>(weight.ShapeArray());
        var gb = bias is null ? null : new Tensor<T>(g.OutChannels);
        var gm = mask is null ? null : new Tensor<T>(mask.ShapeArray());
        DeformConv.Backward(g, input.AsSpan(), offset.AsSpan(), mask is null ? default : mask.AsSpan(), weight.AsSpan(), gradOutput.AsSpan(),
            gx.AsSpan(), goff.AsSpan(), gw.AsSpan(), gb is null ? default : gb.AsSpan(), gm is null ? default : gm.AsSpan());
        return new DeformConv2dGrads<T>(gx, goff, gw, gb, gm);
    }

    private static DeformConvGeometry DeformGeometry<T>(Tensor<T> input, Tensor<T> offset, Tensor<T> weight, Tensor<T>? bias,
        Dims stride, Dims padding, Dims dilation, Tensor<T>? mask) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(offset);
        ArgumentNullException.ThrowIfNull(weight);
        return DeformConvGeometry.Create(input.Shape, offset.Shape, weight.Shape, bias is null ? default : bias.Shape, bias is not null,
            mask is null ? default : mask.Shape, mask is not null, stride, padding, dilation);
    }
}
