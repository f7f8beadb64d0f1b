using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ConvKit.Algorithms;
using ConvKit.Descriptors;
using ConvKit.Kernels;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>
/// Differentiable operations on <see cref="Variable{T}"/>. Each forward calls the library's functional operator
/// and each backward calls the matching functional backward operator (Conv*BackwardInput/Weight, ConvBackwardBias,
/// transposed-conv backward, ...), so the tape and the functional API can never disagree.
/// </summary>
public static partial class Autograd
{
    [ThreadStatic] private static int _noGradDepth;

    /// <summary>True inside a <see cref="NoGrad"/> scope on this thread.</summary>
    public static bool GradDisabled => _noGradDepth > 0;

    /// <summary>Disables recording on this thread until the returned scope is disposed (PyTorch's torch.no_grad()).</summary>
    public static IDisposable NoGrad() => new NoGradScope();

    private sealed class NoGradScope : IDisposable
    {
        private bool _disposed;
        public NoGradScope() => _noGradDepth++;
        public void Dispose() { if (!_disposed) { _disposed = true; _noGradDepth--; } }
    }

    /// <summary>Convolution of any rank from a validated descriptor (padding modes and flip included).</summary>
    public static Variable<T> Conv<T>(ConvDescriptor d, Variable<T> input, Variable<T> weight, Variable<T>? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = StepConv(d) ? ConvForwardInStep(d, input.Data, weight.Data, bias?.Data) : Functional.ConvForward(d, input.Data, weight.Data, bias?.Data);
        var parents = bias is null ? new[] { input, weight } : new[] { input, weight, bias };
        return new Variable<T>(y, parents, g =>
        {
            if (input.RequiresGrad)
                input.Accumulate(StepConv(d) ? ConvBackwardDataInStep(d, weight.Data, g) : Functional.ConvBackwardData(d, weight.Data, g));
            if (weight.RequiresGrad) weight.Accumulate(Functional.ConvBackwardWeight(d, input.Data, g));
            if (bias is not null && bias.RequiresGrad) bias.Accumulate(Functional.ConvBackwardBias(g));
        });
    }

    // Inside a training step (StepBuffers active) the float convolutions of the plain case (zero padding, no flip)
    // write into recycled buffers: the same engine calls as Functional.ConvForward / ConvBackwardData, without a
    // large-object allocation, its zeroing and its page faults (the engine's Forward and BackwardData overwrite
    // their output; StepBuffersTests runs them on poisoned buffers).
    private static bool StepConv(ConvDescriptor d) => StepBuffers.Active is not null && d.PaddingMode == PaddingMode.Zeros && !d.Flip;

    private static Tensor<T> ConvForwardInStep<T>(ConvDescriptor d, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float)) return Functional.ConvForward(d, input, weight, bias);
        Functional.CheckShape(input, d.InputShape, "input");
        Functional.CheckShape(weight, d.WeightShape, "weight");
        var y = Tensor.Uninitialized<T>(d.OutputShape);
        var b = bias is null ? ReadOnlySpan<T>.Empty : bias.AsSpan();
        ConvEngine.Forward(d.Core, Functional.F<T>(input.AsSpan()), Functional.F<T>(weight.AsSpan()), Functional.F(b), Functional.F(y.AsSpan()));
        return y;
    }

    private static Tensor<T> ConvBackwardDataInStep<T>(ConvDescriptor d, Tensor<T> weight, Tensor<T> gradOutput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float)) return Functional.ConvBackwardData(d, weight, gradOutput);
        Functional.CheckShape(weight, d.WeightShape, "weight");
        Functional.CheckShape(gradOutput, d.OutputShape, "gradOutput");
        var gx = Tensor.Uninitialized<T>(d.Core.InputShape);
        ConvEngine.BackwardData(d.Core, Functional.F<T>(gradOutput.AsSpan()), Functional.F<T>(weight.AsSpan()), Functional.F(gx.AsSpan()));
        return gx;
    }

    /// <summary>conv2d with PyTorch arguments (see <see cref="Functional.Conv2d{T}"/>).</summary>
    public static Variable<T> Conv2d<T>(Variable<T> input, Variable<T> weight, Variable<T>? bias = null, Dims stride = default, Padding? padding = null,
        Dims dilation = default, int groups = 1, PaddingMode paddingMode = PaddingMode.Zeros)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Conv(ConvDescriptor.Create(2, input.Shape, weight.Shape, bias is not null, stride, padding, dilation, groups, paddingMode,
            false, bias is null ? default : bias.Shape), input, weight, bias);

    /// <summary>Transposed convolution from a validated descriptor.</summary>
    public static Variable<T> ConvTranspose<T>(ConvTransposeDescriptor d, Variable<T> input, Variable<T> weight, Variable<T>? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Functional.ConvTransposeForward(d, input.Data, weight.Data, bias?.Data);
        var parents = bias is null ? new[] { input, weight } : new[] { input, weight, bias };
        return new Variable<T>(y, parents, g =>
        {
            if (input.RequiresGrad) input.Accumulate(Functional.ConvTransposeBackwardInput(d, weight.Data, g));
            if (weight.RequiresGrad) weight.Accumulate(Functional.ConvTransposeBackwardWeight(d, input.Data, g));
            if (bias is not null && bias.RequiresGrad) bias.Accumulate(Functional.ConvBackwardBias(g));
        });
    }

    /// <summary>y = x·Wᵀ + b for x [N, in], W [out, in], b [out] (PyTorch's F.linear). Float runs on Sgemm.</summary>
    public static Variable<T> Linear<T>(Variable<T> input, Variable<T> weight, Variable<T>? bias = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (input.Data.Rank != 2) throw new ArgumentException($"input: linear expects [N, in_features], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        if (weight.Data.Rank != 2 || weight.Data.Size(1) != input.Data.Size(1))
            throw new ArgumentException($"weight: expected [out_features, {input.Data.Size(1)}] for input {ShapeMath.Format(input.Shape)}, got {ShapeMath.Format(weight.Shape)}.", nameof(weight));
        int n = input.Data.Size(0), k = input.Data.Size(1), m = weight.Data.Size(0);
        if (bias is not null && (bias.Data.Rank != 1 || bias.Data.Length != m))
            throw new ArgumentException($"bias: expected [{m}], got {ShapeMath.Format(bias.Shape)}.", nameof(bias));
        var y = new Tensor<T>(n, m);
        MatMul(false, true, n, m, k, input.Data.AsSpan(), k, weight.Data.AsSpan(), k, y.AsSpan(), m);
        if (bias is not null)
        {
            var ys = y.AsSpan(); var bs = bias.Data.AsSpan();
            for (int i = 0; i < n; i++) TensorPrimitives.Add(ys.Slice(i * m, m), bs, ys.Slice(i * m, m));
        }
        var parents = bias is null ? new[] { input, weight } : new[] { input, weight, bias };
        return new Variable<T>(y, parents, g =>
        {
            var gs = g.AsSpan();
            if (input.RequiresGrad)
            {
                var gx = Tensor.Uninitialized<T>(n, k); // MatMul overwrites every element
                MatMul(false, false, n, k, m, gs, m, weight.Data.AsSpan(), k, gx.AsSpan(), k);
                input.Accumulate(gx);
            }
            if (weight.RequiresGrad)
            {
                // a parameter's existing gradient buffer takes the product directly (no temporary, no extra pass)
                if (weight.IsLeaf && weight.Grad is { } wg && wg.SameShape(weight.Data))
                    MatMul(true, false, m, k, n, gs, m, input.Data.AsSpan(), k, wg.AsSpan(), k, accumulate: true);
                else
                {
                    var gw = Tensor.Uninitialized<T>(m, k);
                    MatMul(true, false, m, k, n, gs, m, input.Data.AsSpan(), k, gw.AsSpan(), k);
                    weight.Accumulate(gw);
                }
            }
            if (bias is not null && bias.RequiresGrad)
            {
                var gb = new Tensor<T>(m);
                var gbs = gb.AsSpan();
                for (int i = 0; i < n; i++) TensorPrimitives.Add(gbs, gs.Slice(i * m, m), gbs);
                bias.Accumulate(gb);
            }
        });
    }

    /// <summary>C = op(A)·op(B) (row-major, overwrites C; adds to C when <paramref name="accumulate"/>): Sgemm for float, a plain loop for other types.</summary>
    internal static void MatMul<T>(bool transA, bool transB, int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc,
        bool accumulate = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            Gemm.Sgemm(transA, transB, m, n, k, 1f, Functional.F(a), lda, Functional.F(b), ldb, accumulate ? 1f : 0f, Functional.F(c), ldc);
            return;
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T acc = T.Zero;
                for (int p = 0; p < k; p++)
                    acc += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc : acc;
            }
    }

    /// <summary>Elementwise sum of two tensors of the same shape (residual connections).</summary>
    public static Variable<T> Add<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!a.Data.SameShape(b.Data))
            throw new ArgumentException($"b: shape {ShapeMath.Format(b.Shape)} does not match a {ShapeMath.Format(a.Shape)}.", nameof(b));
        var y = new Tensor<T>(a.Data.ShapeArray());
        TensorPrimitives.Add(a.Data.AsSpan(), b.Data.AsSpan(), y.AsSpan());
        return new Variable<T>(y, [a, b], g => { a.Accumulate(g); b.Accumulate(g); });
    }

    /// <summary>A view with another shape (PyTorch's reshape / view); -1 infers one size.</summary>
    public static Variable<T> Reshape<T>(Variable<T> x, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var inShape = x.Data.ShapeArray();
        return new Variable<T>(x.Data.Reshape(shape), [x], g => x.Accumulate(g.Reshape(inShape)));
    }

    /// <summary>Flattens all axes from <paramref name="startDim"/> on (PyTorch's flatten, default start 1).</summary>
    public static Variable<T> Flatten<T>(Variable<T> x, int startDim = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (startDim < 0 || startDim >= Math.Max(1, x.Data.Rank))
            throw new ArgumentOutOfRangeException(nameof(startDim), $"startDim {startDim} for a tensor of shape {ShapeMath.Format(x.Shape)}.");
        var s = x.Data.Shape;
        var shape = new int[startDim + 1];
        for (int i = 0; i < startDim; i++) shape[i] = s[i];
        shape[startDim] = -1;
        return Reshape(x, shape);
    }

    /// <summary>Concatenates along the channel axis (axis 1) of [N, C, ...] tensors (U-Net skip connections).</summary>
    public static Variable<T> ConcatChannels<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Data.Rank < 2 || a.Data.Rank != b.Data.Rank || a.Data.Size(0) != b.Data.Size(0) || !a.Shape[2..].SequenceEqual(b.Shape[2..]))
            throw new ArgumentException($"b: cannot concatenate {ShapeMath.Format(b.Shape)} to {ShapeMath.Format(a.Shape)} along channels.", nameof(b));
        int n = a.Data.Size(0), ca = a.Data.Size(1), cb = b.Data.Size(1), sp = a.Data.Length / Math.Max(1, n * ca);
        if (ca == 0) sp = b.Data.Length / Math.Max(1, n * cb);
        var shape = a.Data.ShapeArray(); shape[1] = ca + cb;
        var y = new Tensor<T>(shape);
        var ys = y.AsSpan(); var As = a.Data.AsSpan(); var Bs = b.Data.AsSpan();
        for (int i = 0; i < n; i++)
        {
            As.Slice(i * ca * sp, ca * sp).CopyTo(ys.Slice(i * (ca + cb) * sp, ca * sp));
            Bs.Slice(i * cb * sp, cb * sp).CopyTo(ys.Slice((i * (ca + cb) + ca) * sp, cb * sp));
        }
        return new Variable<T>(y, [a, b], g =>
        {
            var gs = g.AsSpan();
            var ga = new Tensor<T>(a.Data.ShapeArray()); var gb = new Tensor<T>(b.Data.ShapeArray());
            var gas = ga.AsSpan(); var gbs = gb.AsSpan();
            for (int i = 0; i < n; i++)
            {
                gs.Slice(i * (ca + cb) * sp, ca * sp).CopyTo(gas.Slice(i * ca * sp, ca * sp));
                gs.Slice((i * (ca + cb) + ca) * sp, cb * sp).CopyTo(gbs.Slice(i * cb * sp, cb * sp));
            }
            a.Accumulate(ga); b.Accumulate(gb);
        });
    }

    /// <summary>
    /// Inverted dropout: in training zeroes each element with probability <paramref name="p"/> and scales the rest by
    /// 1/(1-p); identity otherwise. The mask comes from <paramref name="rng"/> (seeded, reproducible).
    /// </summary>
    public static Variable<T> Dropout<T>(Variable<T> x, double p, bool training, SeededRandom rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p < 0 || p > 1) throw new ArgumentOutOfRangeException(nameof(p), $"dropout probability has to be between 0 and 1, got {p}.");
        if (!training || p == 0) return x;
        var mask = new Tensor<T>(x.Data.ShapeArray());
        var ms = mask.AsSpan();
        T scale = p == 1 ? T.Zero : T.CreateTruncating(1.0 / (1.0 - p));
        for (int i = 0; i < ms.Length; i++) ms[i] = rng.NextDouble() < p ? T.Zero : scale;
        var y = new Tensor<T>(x.Data.ShapeArray());
        TensorPrimitives.Multiply(x.Data.AsSpan(), ms, y.AsSpan());
        return new Variable<T>(y, [x], g =>
        {
            var gx = new Tensor<T>(g.ShapeArray());
            TensorPrimitives.Multiply(g.AsSpan(), mask.AsSpan(), gx.AsSpan());
            x.Accumulate(gx);
        });
    }

    /// <summary>Mean of all elements (a scalar).</summary>
    public static Variable<T> Mean<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Data.Length;
        var y = Tensor.Full(TensorPrimitives.Sum<T>(x.Data.AsSpan()) / T.CreateTruncating(n), 1);
        return new Variable<T>(y, [x], g => x.Accumulate(Tensor.Full(g.AsSpan()[0] / T.CreateTruncating(n), x.Data.ShapeArray())));
    }
}
