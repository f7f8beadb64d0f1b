using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Reference;

/// <summary>The PyTorch-style transposed-conv backward entry points of every rank satisfy the adjoint identities
/// ⟨convT(x, w), g⟩ = ⟨x, ∂x(g)⟩ = ⟨w, ∂w(g)⟩ (the op is bilinear), in double.</summary>
public class TransposeBackwardApiTests
{
    private static double Dot(Tensor<double> a, Tensor<double> b)
    {
        double s = 0; var x = a.AsSpan(); var y = b.AsSpan();
        for (int i = 0; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void BackwardInputAndWeightAreAdjoints(int rank)
    {
        int[] sp = rank switch { 1 => [5], 2 => [4, 3], _ => [3, 2, 3] };
        int[] k = rank switch { 1 => [3], 2 => [3, 2], _ => [2, 3, 2] };
        var x = Tensor.Randn<double>(1, [2, 4, .. sp]);
        var w = Tensor.Randn<double>(2, [4, 3, .. k]);
        Tensor<double> y = rank switch
        {
            1 => Functional.ConvTranspose1d(x, w, stride: 2, padding: 1, outputPadding: 1, groups: 2),
            2 => Functional.ConvTranspose2d(x, w, stride: 2, padding: 1, outputPadding: 1, groups: 2),
            _ => Functional.ConvTranspose3d(x, w, stride: 2, padding: 1, outputPadding: 1, groups: 2),
        };
        var g = Tensor.Randn<double>(3, y.ShapeArray());
        var (gx, gw) = rank switch
        {
            1 => (Functional.ConvTranspose1dBackwardInput(x.ShapeArray(), w, g, 2, 1, 1, 2), Functional.ConvTranspose1dBackwardWeight(x, w.ShapeArray(), g, 2, 1, 1, 2)),
            2 => (Functional.ConvTranspose2dBackwardInput(x.ShapeArray(), w, g, 2, 1, 1, 2), Functional.ConvTranspose2dBackwardWeight(x, w.ShapeArray(), g, 2, 1, 1, 2)),
            _ => (Functional.ConvTranspose3dBackwardInput(x.ShapeArray(), w, g, 2, 1, 1, 2), Functional.ConvTranspose3dBackwardWeight(x, w.ShapeArray(), g, 2, 1, 1, 2)),
        };
        double lhs = Dot(y, g);
        Assert.Equal(lhs, Dot(x, gx), 9);
        Assert.Equal(lhs, Dot(w, gw), 9);
    }
}
