using ConvKit.Descriptors;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Reference;

/// <summary>
/// Central finite differences in double for every backward operator of the convolution family. The loss is
/// L = Σ y·r with a fixed random r, so ∂L/∂y = r and each analytic gradient is the backward op applied to r.
/// Convolution is linear in each argument, so the central difference is exact up to rounding.
/// </summary>
public class ConvGradientCheckTests
{
    private const double H = 1e-4;

    private static double Loss(Tensor<double> y, Tensor<double> r)
    {
        double s = 0;
        var a = y.AsSpan(); var b = r.AsSpan();
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Perturbs every element of <paramref name="p"/> and compares (L(p+h) - L(p-h)) / 2h with the analytic gradient.</summary>
    private static void AssertGradient(string what, Tensor<double> p, Tensor<double> analytic, Func<double> loss)
    {
        Assert.True(p.SameShape(analytic), $"{what}: gradient shape {ShapeMath.Format(analytic.Shape)} vs parameter {ShapeMath.Format(p.Shape)}");
        var s = p.AsSpan();
        var g = analytic.AsSpan();
        for (int i = 0; i < s.Length; i++)
        {
            double v = s[i];
            s[i] = v + H; double lp = loss();
            s[i] = v - H; double lm = loss();
            s[i] = v;
            double num = (lp - lm) / (2 * H);
            Assert.True(Math.Abs(num - g[i]) <= 1e-7 * (1 + Math.Abs(num)), $"{what}[{i}]: analytic {g[i]:G12}, numeric {num:G12}");
        }
    }

    public static TheoryData<string> ConvCaseNames() => new(ConvCases.Keys);

    private sealed record ConvCase(int Rank, int[] X, int[] W, Dims Stride, Padding Padding, Dims Dilation, int Groups, PaddingMode Mode, bool Flip);

    private static readonly Dictionary<string, ConvCase> ConvCases = new()
    {
        ["conv1d_stride2_dil2"] = new(1, [2, 3, 11], [4, 3, 3], 2, 1, 2, 1, PaddingMode.Zeros, false),
        ["conv1d_groups_reflect"] = new(1, [1, 4, 7], [2, 2, 3], 1, 2, 1, 2, PaddingMode.Reflect, false),
        ["conv1d_circular_flip"] = new(1, [2, 2, 6], [3, 2, 4], 1, Padding.Asymmetric(2, 1), 1, 1, PaddingMode.Circular, true),
        ["conv2d_basic"] = new(2, [2, 3, 5, 4], [2, 3, 3, 3], 1, 1, 1, 1, PaddingMode.Zeros, false),
        ["conv2d_stride_dil_nonsquare"] = new(2, [1, 2, 7, 6], [3, 2, 2, 3], (2, 1), (1, 2), (2, 1), 1, PaddingMode.Zeros, false),
        ["conv2d_groups2_asym"] = new(2, [1, 4, 5, 5], [4, 2, 3, 2], 1, Padding.Asymmetric(1, 0, 2, 1), 1, 2, PaddingMode.Zeros, false),
        ["conv2d_depthwise_same_s2"] = new(2, [1, 3, 6, 5], [6, 1, 3, 3], 2, Padding.Same, 1, 3, PaddingMode.Zeros, false),
        ["conv2d_same_lower"] = new(2, [1, 2, 5, 5], [2, 2, 4, 2], 1, Padding.SameLower, 1, 1, PaddingMode.Zeros, false),
        ["conv2d_reflect"] = new(2, [1, 2, 5, 4], [2, 2, 3, 3], 1, (2, 1), 1, 1, PaddingMode.Reflect, false),
        ["conv2d_replicate_s2"] = new(2, [2, 2, 5, 5], [2, 2, 3, 3], 2, 2, 1, 1, PaddingMode.Replicate, false),
        ["conv2d_circular_asym"] = new(2, [1, 2, 4, 5], [2, 2, 3, 3], 1, Padding.Asymmetric(2, 1, 0, 2), 1, 1, PaddingMode.Circular, false),
        ["conv2d_flip"] = new(2, [1, 2, 5, 5], [3, 2, 3, 2], 1, 1, 1, 1, PaddingMode.Zeros, true),
        ["conv2d_flip_reflect_groups"] = new(2, [1, 4, 5, 5], [2, 2, 2, 3], 1, 1, 1, 2, PaddingMode.Reflect, true),
        ["conv3d_basic"] = new(3, [1, 2, 4, 4, 3], [2, 2, 3, 3, 2], 1, 1, 1, 1, PaddingMode.Zeros, false),
        ["conv3d_stride_dil_groups"] = new(3, [1, 4, 5, 4, 5], [2, 2, 2, 2, 3], (2, 1, 2), (1, 0, 1), (1, 2, 1), 2, PaddingMode.Zeros, false),
        ["conv3d_replicate_flip"] = new(3, [1, 2, 3, 4, 3], [2, 2, 2, 3, 2], 1, 1, 1, 1, PaddingMode.Replicate, true),
        ["conv3d_reflect"] = new(3, [1, 1, 3, 3, 4], [2, 1, 3, 3, 3], 1, 1, 1, 1, PaddingMode.Reflect, false),
        ["conv3d_circular"] = new(3, [1, 2, 3, 3, 3], [1, 2, 3, 2, 3], 1, 1, 1, 1, PaddingMode.Circular, false),
    };

    [Theory]
    [MemberData(nameof(ConvCaseNames))]
    public void ConvDataWeightBias(string name)
    {
        var c = ConvCases[name];
        var x = Tensor.Randn<double>(11, c.X);
        var w = Tensor.Randn<double>(12, c.W);
        var b = Tensor.Randn<double>(13, c.W[0]);
        Tensor<double> Fwd() => c.Rank switch
        {
            1 => Functional.Conv1d(x, w, b, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
            2 => Functional.Conv2d(x, w, b, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
            _ => Functional.Conv3d(x, w, b, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
        };
        var r = Tensor.Randn<double>(14, Fwd().ShapeArray());
        var gx = c.Rank switch
        {
            1 => Functional.Conv1dBackwardInput(c.X, w, r, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
            2 => Functional.Conv2dBackwardInput(c.X, w, r, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
            _ => Functional.Conv3dBackwardInput(c.X, w, r, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
        };
        var gw = c.Rank switch
        {
            1 => Functional.Conv1dBackwardWeight(x, c.W, r, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
            2 => Functional.Conv2dBackwardWeight(x, c.W, r, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
            _ => Functional.Conv3dBackwardWeight(x, c.W, r, c.Stride, c.Padding, c.Dilation, c.Groups, c.Mode, c.Flip),
        };
        var gb = Functional.ConvBackwardBias(r);
        AssertGradient(name + " input", x, gx, () => Loss(Fwd(), r));
        AssertGradient(name + " weight", w, gw, () => Loss(Fwd(), r));
        AssertGradient(name + " bias", b, gb, () => Loss(Fwd(), r));
    }

    private sealed record TCase(int Rank, int[] X, int[] W, Dims Stride, Padding Padding, Dims OutputPadding, int Groups, Dims Dilation, bool Flip);

    private static readonly Dictionary<string, TCase> TransposeCases = new()
    {
        ["t1d_s2_op1"] = new(1, [2, 3, 5], [3, 2, 3], 2, 1, 1, 1, 1, false),
        ["t1d_groups_dil_flip"] = new(1, [1, 4, 4], [4, 1, 3], 1, 2, 0, 2, 2, true),
        ["t2d_s2_p1_op1"] = new(2, [1, 2, 3, 4], [2, 3, 3, 3], 2, 1, 1, 1, 1, false),
        ["t2d_s3_nonsquare"] = new(2, [2, 2, 3, 2], [2, 2, 2, 3], (3, 2), (0, 1), (2, 1), 1, 1, false),
        ["t2d_groups_flip"] = new(2, [1, 4, 3, 3], [4, 2, 3, 2], 2, 1, 0, 2, 1, true),
        ["t2d_asym_pad"] = new(2, [1, 2, 3, 3], [2, 2, 3, 3], 2, Padding.Asymmetric(1, 0, 0, 2), 0, 1, 1, false),
        ["t2d_op_below_dilation"] = new(2, [1, 2, 3, 3], [2, 2, 3, 3], 1, 1, 1, 1, 2, false),
        ["t3d_s2"] = new(3, [1, 2, 2, 3, 2], [2, 2, 3, 2, 3], 2, 1, 1, 1, 1, false),
        ["t3d_groups_dil_flip"] = new(3, [1, 2, 2, 2, 3], [2, 1, 2, 2, 2], (1, 2, 1), 0, 0, 2, (2, 1, 1), true),
    };

    public static TheoryData<string> TransposeCaseNames() => new(TransposeCases.Keys);

    [Theory]
    [MemberData(nameof(TransposeCaseNames))]
    public void TransposedConvDataWeightBias(string name)
    {
        var c = TransposeCases[name];
        var x = Tensor.Randn<double>(21, c.X);
        var w = Tensor.Randn<double>(22, c.W);
        var b = Tensor.Randn<double>(23, c.W[1] * c.Groups);
        Tensor<double> Fwd() => c.Rank switch
        {
            1 => Functional.ConvTranspose1d(x, w, b, c.Stride, c.Padding, c.OutputPadding, c.Groups, c.Dilation, flip: c.Flip),
            2 => Functional.ConvTranspose2d(x, w, b, c.Stride, c.Padding, c.OutputPadding, c.Groups, c.Dilation, flip: c.Flip),
            _ => Functional.ConvTranspose3d(x, w, b, c.Stride, c.Padding, c.OutputPadding, c.Groups, c.Dilation, flip: c.Flip),
        };
        var r = Tensor.Randn<double>(24, Fwd().ShapeArray());
        var d = ConvTransposeDescriptor.Create(c.Rank, c.X, c.W, true, c.Stride, c.Padding, c.OutputPadding, c.Groups, c.Dilation, flip: c.Flip);
        var gx = Functional.ConvTransposeBackwardInput(d, w, r);
        var gw = Functional.ConvTransposeBackwardWeight(d, x, r);
        AssertGradient(name + " input", x, gx, () => Loss(Fwd(), r));
        AssertGradient(name + " weight", w, gw, () => Loss(Fwd(), r));
        AssertGradient(name + " bias", b, Functional.ConvBackwardBias(r), () => Loss(Fwd(), r));
        if (c.Rank == 2)
        {
            // The PyTorch-style wrappers agree with the descriptor-level ops.
            var gx2 = Functional.ConvTranspose2dBackwardInput(c.X, w, r, c.Stride, c.Padding, c.OutputPadding, c.Groups, c.Dilation, c.Flip);
            var gw2 = Functional.ConvTranspose2dBackwardWeight(x, c.W, r, c.Stride, c.Padding, c.OutputPadding, c.Groups, c.Dilation, c.Flip);
            Assert.Equal(gx.AsSpan().ToArray(), gx2.AsSpan().ToArray());
            Assert.Equal(gw.AsSpan().ToArray(), gw2.AsSpan().ToArray());
        }
    }
}
