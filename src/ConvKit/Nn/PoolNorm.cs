using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Nn;

public static partial class Autograd
{
    /// <summary>F.max_pool2d on the tape (indices from <see cref="Functional.MaxPool2dWithIndices{T}"/>, backward <see cref="Functional.MaxPool2dBackward{T}"/>).</summary>
    public static Variable<T> MaxPool2d<T>(Variable<T> x, Dims kernelSize, Dims stride = default, Dims padding = default, Dims dilation = default,
        bool ceilMode = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (GradDisabled || !x.RequiresGrad)
            return new Variable<T>(Functional.MaxPool2d(x.Data, kernelSize, stride, padding, dilation, ceilMode));
        Tensor<T> y; int[] idx;
        if (StepBuffers.Active is { } arena && x.Data.Rank == 4)
        {
            // inside a training step the indices come from the step's recycled buffers (as Functional.MaxPool2dWithIndices otherwise)
            var d = PoolDescriptor.Create(2, x.Shape, kernelSize, stride, padding, dilation, ceilMode);
            idx = arena.RentInts(ShapeMath.Numel(d.OutputShape, "output"));
            y = Ops.Pooling.MaxPool(d, x.Data, idx);
        }
        else (y, idx) = Functional.MaxPool2dWithIndices(x.Data, kernelSize, stride, padding, dilation, ceilMode);
        return new Variable<T>(y, [x], g => x.Accumulate(Functional.MaxPool2dBackward(g, x.Data, idx)));
    }

    /// <summary>F.avg_pool2d on the tape.</summary>
    public static Variable<T> AvgPool2d<T>(Variable<T> x, Dims kernelSize, Dims stride = default, Dims padding = default, bool ceilMode = false,
        bool countIncludePad = true, int? divisorOverride = null) where T : unmanaged, IFloatingPointIeee754<T>
        => new(Functional.AvgPool2d(x.Data, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride), [x],
            g => x.Accumulate(Functional.AvgPool2dBackward(g, x.Data, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride)));

    /// <summary>F.adaptive_avg_pool2d on the tape.</summary>
    public static Variable<T> AdaptiveAvgPool2d<T>(Variable<T> x, Dims outputSize) where T : unmanaged, IFloatingPointIeee754<T>
        => new(Functional.AdaptiveAvgPool2d(x.Data, outputSize), [x], g => x.Accumulate(Functional.AdaptiveAvgPool2dBackward(g, x.Data)));

    /// <summary>
    /// F.batch_norm on the tape. In training mode the running statistics (when given) are updated in place and the
    /// gradient flows through the batch statistics; backward is <see cref="Functional.BatchNormBackward{T}"/>.
    /// </summary>
    public static Variable<T> BatchNorm<T>(Variable<T> x, Tensor<T>? runningMean, Tensor<T>? runningVar, Variable<T>? weight, Variable<T>? bias,
        bool training, double momentum = 0.1, double eps = 1e-5) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (y, mean, invstd) = Functional.BatchNormForward(x.Data, runningMean, runningVar, weight?.Data, bias?.Data, training, momentum, eps);
        var parents = new List<Variable<T>> { x };
        if (weight is not null) parents.Add(weight);
        if (bias is not null) parents.Add(bias);
        return new Variable<T>(y, [.. parents], g =>
        {
            var (gx, gw, gb) = Functional.BatchNormBackward(g, x.Data, weight?.Data, mean, invstd, training);
            x.Accumulate(gx);
            weight?.Accumulate(gw);
            bias?.Accumulate(gb);
        });
    }
}

public static partial class Autograd
{
    /// <summary>
    /// relu(batch_norm(x)) as one node: the same values and gradients as <see cref="BatchNorm{T}"/> followed by
    /// <see cref="Relu{T}"/>, without the intermediate tensor, its gradient and two passes over them.
    /// <see cref="Sequential{T}"/> uses it for a batch-norm layer directly followed by a ReLU layer.
    /// </summary>
    internal static Variable<T> BatchNormRelu<T>(Variable<T> x, Tensor<T>? runningMean, Tensor<T>? runningVar, Variable<T>? weight, Variable<T>? bias,
        bool training, double momentum = 0.1, double eps = 1e-5) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (y, mean, invstd) = Ops.BatchNorm.Forward(x.Data, runningMean, runningVar, weight?.Data, bias?.Data, training, momentum, eps, relu: true);
        var parents = new List<Variable<T>> { x };
        if (weight is not null) parents.Add(weight);
        if (bias is not null) parents.Add(bias);
        return new Variable<T>(y, [.. parents], g =>
        {
            var (gx, gw, gb) = Ops.BatchNorm.Backward(g, x.Data, weight?.Data, mean, invstd, training, reluOutput: y);
            x.Accumulate(gx);
            weight?.Accumulate(gw);
            bias?.Accumulate(gb);
        });
    }
}

/// <summary>torch.nn.BatchNorm1d/2d (and 3d): <c>weight</c>, <c>bias</c>, buffers <c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c> (I64).</summary>
public class BatchNormNd<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _inputRankMin, _inputRankMax;
    private readonly string _name;

    /// <summary>Number of channels.</summary>
    public int NumFeatures { get; }
    /// <summary>Epsilon.</summary>
    public double Eps { get; }
    /// <summary>Momentum of the running statistics.</summary>
    public double Momentum { get; }
    /// <summary>γ.</summary>
    public Variable<T>? Weight { get; }
    /// <summary>β.</summary>
    public Variable<T>? Bias { get; }
    /// <summary>Running mean.</summary>
    public Tensor<T> RunningMean { get; }
    /// <summary>Running (unbiased) variance.</summary>
    public Tensor<T> RunningVar { get; }
    /// <summary>Number of training batches seen.</summary>
    public Tensor<T> NumBatchesTracked { get; }

    /// <summary>Creates the layer (γ = 1, β = 0, running mean 0, running variance 1).</summary>
    protected BatchNormNd(string name, int minRank, int maxRank, int numFeatures, double eps, double momentum, bool affine)
    {
        if (numFeatures <= 0) throw new ArgumentException($"numFeatures: must be positive, got {numFeatures}.", nameof(numFeatures));
        _name = name; _inputRankMin = minRank; _inputRankMax = maxRank;
        NumFeatures = numFeatures; Eps = eps; Momentum = momentum;
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Full(T.One, numFeatures));
            Bias = RegisterParameter("bias", new Tensor<T>(numFeatures));
        }
        RunningMean = RegisterBuffer("running_mean", new Tensor<T>(numFeatures));
        RunningVar = RegisterBuffer("running_var", Tensor.Full(T.One, numFeatures));
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", new Tensor<T>(Array.Empty<int>()), isInteger: true);
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        if (input.Data.Rank < _inputRankMin || input.Data.Rank > _inputRankMax || input.Data.Size(1) != NumFeatures)
            throw new ArgumentException($"input: {_name}({NumFeatures}) expects [N, {NumFeatures}, ...] of rank {_inputRankMin}..{_inputRankMax}, got {ShapeMath.Format(input.Shape)}.", nameof(input));
        if (Training) NumBatchesTracked.AsSpan()[0] += T.One;
        return Autograd.BatchNorm(input, RunningMean, RunningVar, Weight, Bias, Training, Momentum, Eps);
    }

    /// <summary>relu(Forward(input)) in one pass (see <see cref="Autograd.BatchNormRelu{T}"/>).</summary>
    internal Variable<T> ForwardRelu(Variable<T> input)
    {
        if (input.Data.Rank < _inputRankMin || input.Data.Rank > _inputRankMax || input.Data.Size(1) != NumFeatures)
            throw new ArgumentException($"input: {_name}({NumFeatures}) expects [N, {NumFeatures}, ...] of rank {_inputRankMin}..{_inputRankMax}, got {ShapeMath.Format(input.Shape)}.", nameof(input));
        if (Training) NumBatchesTracked.AsSpan()[0] += T.One;
        return Autograd.BatchNormRelu(input, RunningMean, RunningVar, Weight, Bias, Training, Momentum, Eps);
    }

    /// <inheritdoc/>
    public override string Describe() => $"{_name}({NumFeatures}, eps={Eps}, momentum={Momentum})";
}

/// <summary>torch.nn.BatchNorm1d: input [N, C] or [N, C, L].</summary>
public sealed class BatchNorm1d<T>(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true)
    : BatchNormNd<T>("BatchNorm1d", 2, 3, numFeatures, eps, momentum, affine) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>torch.nn.BatchNorm2d: input [N, C, H, W].</summary>
public sealed class BatchNorm2d<T>(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true)
    : BatchNormNd<T>("BatchNorm2d", 4, 4, numFeatures, eps, momentum, affine) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>torch.nn.MaxPool2d.</summary>
public sealed class MaxPool2d<T>(Dims kernelSize, Dims stride = default, Dims padding = default, Dims dilation = default, bool ceilMode = false)
    : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.MaxPool2d(input, kernelSize, stride, padding, dilation, ceilMode);

    /// <inheritdoc/>
    public override string Describe() => $"MaxPool2d(kernel_size={kernelSize}, stride={(stride.IsDefault ? kernelSize : stride)})";
}

/// <summary>torch.nn.AvgPool2d.</summary>
public sealed class AvgPool2d<T>(Dims kernelSize, Dims stride = default, Dims padding = default, bool ceilMode = false, bool countIncludePad = true)
    : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.AvgPool2d(input, kernelSize, stride, padding, ceilMode, countIncludePad);
}

/// <summary>torch.nn.AdaptiveAvgPool2d.</summary>
public sealed class AdaptiveAvgPool2d<T>(Dims outputSize) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.AdaptiveAvgPool2d(input, outputSize);
}
