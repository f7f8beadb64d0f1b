using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit;

public static partial class Functional
{
    // ---------------------------------------------------------------- batch normalization (F.batch_norm)
    // Registered operators: batch_norm (outputs: output, then the updated running_mean and running_var when given)
    // and grad.batch_norm (outputs: grad_input, grad_weight, grad_bias).

    /// <summary>Batch normalization over channel 1, like <c>F.batch_norm</c>, for input [N, C], [N, C, L],
    /// [N, C, H, W] or [N, C, D, H, W] (BatchNorm1d/2d/3d). Training mode normalizes with the batch mean and
    /// biased variance and, when running statistics are given, updates them in place:
    /// running = (1 − momentum)·running + momentum·batch, with the unbiased variance. Evaluation mode normalizes
    /// with the running statistics.</summary>
    /// <param name="input">[N, C, *].</param>
    /// <param name="runningMean">[C] running mean (updated in training mode); required in evaluation mode.</param>
    /// <param name="runningVar">[C] running variance (updated in training mode); required in evaluation mode.</param>
    /// <param name="weight">Optional [C] scale γ.</param>
    /// <param name="bias">Optional [C] shift β.</param>
    /// <param name="training">Use batch statistics (and update the running ones).</param>
    /// <param name="momentum">Weight of the batch statistics in the running update.</param>
    /// <param name="eps">Added to the variance before the square root.</param>
    public static Tensor<T> BatchNorm<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight = null, Tensor<T>? bias = null,
        bool training = false, double momentum = 0.1, double eps = 1e-5) where T : unmanaged, IFloatingPointIeee754<T>
        => Ops.BatchNorm.Forward(input, runningMean, runningVar, weight, bias, training, momentum, eps).Output;

    /// <summary>Batch normalization that also returns what <see cref="BatchNormBackward{T}"/> needs: the per-channel
    /// mean and 1/√(var + eps) used to normalize (batch statistics in training mode, running ones in evaluation mode).</summary>
    /// <inheritdoc cref="BatchNorm{T}"/>
    public static (Tensor<T> Output, Tensor<T> SaveMean, Tensor<T> SaveInvstd) BatchNormForward<T>(Tensor<T> input, Tensor<T>? runningMean,
        Tensor<T>? runningVar, Tensor<T>? weight = null, Tensor<T>? bias = null, bool training = false, double momentum = 0.1, double eps = 1e-5)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Ops.BatchNorm.Forward(input, runningMean, runningVar, weight, bias, training, momentum, eps);

    /// <summary>Gradient of batch normalization (op <c>grad.batch_norm</c>). In training mode the gradient flows
    /// through the batch statistics: gx = γ·invstd·(g − mean(g) − x̂·mean(g·x̂)); in evaluation mode gx = γ·invstd·g.
    /// GradWeight = Σ g·x̂ and GradBias = Σ g per channel (returned even when there is no weight).</summary>
    /// <param name="gradOutput">Gradient with respect to the output, shaped like input.</param>
    /// <param name="input">The forward input.</param>
    /// <param name="weight">The forward γ, or null for 1.</param>
    /// <param name="saveMean">SaveMean from <see cref="BatchNormForward{T}"/>.</param>
    /// <param name="saveInvstd">SaveInvstd from <see cref="BatchNormForward{T}"/>.</param>
    /// <param name="training">The mode of the forward.</param>
    public static (Tensor<T> GradInput, Tensor<T> GradWeight, Tensor<T> GradBias) BatchNormBackward<T>(Tensor<T> gradOutput, Tensor<T> input,
        Tensor<T>? weight, Tensor<T> saveMean, Tensor<T> saveInvstd, bool training = true) where T : unmanaged, IFloatingPointIeee754<T>
        => Ops.BatchNorm.Backward(gradOutput, input, weight, saveMean, saveInvstd, training);
}
