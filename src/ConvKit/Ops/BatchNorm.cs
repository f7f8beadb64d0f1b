using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>
/// Batch normalization over channel 1 of [N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W] and its gradient.
/// The float training path reads every (n, c) plane once for the statistics (sums shifted by the channel's first
/// value, so a large mean does not cancel the variance) and once more to normalize with one FMA per element;
/// channels are split over two cores. <see cref="ForwardReference{T}"/> / <see cref="BackwardReference{T}"/> are
/// the two-pass double-accumulation twins (and the path of every non-float type).
/// </summary>
internal static class BatchNorm
{
    internal readonly record struct Layout(int N, int C, int S)
    {
        public long M => (long)N * S;
    }

    internal static Layout Check<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight, Tensor<T>? bias, bool training)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank is < 2 or > 5)
            throw new ArgumentException($"input: batch norm expects [N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W], got {ShapeMath.Format(input.Shape)}.", nameof(input));
        int n = input.Size(0), c = input.Size(1);
        int s = c == 0 || n == 0 ? 0 : input.Length / n / c;
        CheckChannel(runningMean, c, input, nameof(runningMean));
        CheckChannel(runningVar, c, input, nameof(runningVar));
        CheckChannel(weight, c, input, nameof(weight));
        CheckChannel(bias, c, input, nameof(bias));
        if ((runningMean is null) != (runningVar is null))
            throw new ArgumentException("runningMean: runningMean and runningVar must be given together.", nameof(runningMean));
        if (!training && runningMean is null)
            throw new ArgumentException("runningMean: running statistics are required in evaluation mode (training: false).", nameof(runningMean));
        if (training && (long)n * s <= 1)
            throw new ArgumentException($"input: expected more than 1 value per channel when training, got input {ShapeMath.Format(input.Shape)}.", nameof(input));
        return new Layout(n, c, s);
    }

    private static void CheckChannel<T>(Tensor<T>? t, int c, Tensor<T> input, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t is not null && (t.Rank != 1 || t.Length != c))
            throw new ArgumentException($"{name}: expected [{c}] for the {c} channels of input {ShapeMath.Format(input.Shape)}, got {ShapeMath.Format(t.Shape)}.", name);
    }

    private static double Get<T>(Tensor<T>? t, int c, double dflt) where T : unmanaged, IFloatingPointIeee754<T>
        => t is null ? dflt : double.CreateTruncating(t.Data[t.Offset + c]);

    /// <summary>Channel statistics → (mean, invstd); updates running stats in training mode like PyTorch.</summary>
    private static (double Mean, double Invstd) Stats<T>(int c, double mean, double biasedVar, long m, Tensor<T>? rm, Tensor<T>? rv, bool training,
        double momentum, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!training) return (Get(rm, c, 0), 1 / Math.Sqrt(Get(rv, c, 1) + eps));
        if (rm is not null && rv is not null)
        {
            ref T a = ref rm.Data[rm.Offset + c];
            ref T b = ref rv.Data[rv.Offset + c];
            a = T.CreateTruncating((1 - momentum) * double.CreateTruncating(a) + momentum * mean);
            b = T.CreateTruncating((1 - momentum) * double.CreateTruncating(b) + momentum * biasedVar * m / (m - 1));
        }
        return (mean, 1 / Math.Sqrt(biasedVar + eps));
    }

    internal static void ForChannels(int channels, long workPerChannel, Action<int, int> body)
        => Kernels.VecOps.ParallelRanges(channels, workPerChannel, body);

    public static (Tensor<T> Output, Tensor<T> SaveMean, Tensor<T> SaveInvstd) Forward<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar,
        Tensor<T>? weight, Tensor<T>? bias, bool training, double momentum, double eps) where T : unmanaged, IFloatingPointIeee754<T>
        => Forward(input, runningMean, runningVar, weight, bias, training, momentum, eps, relu: false);

    /// <summary>Batch norm, followed by ReLU in the same pass when <paramref name="relu"/> is set: the result equals
    /// relu(batch_norm(x)) element for element, without a second tensor and a second pass over it.</summary>
    internal static (Tensor<T> Output, Tensor<T> SaveMean, Tensor<T> SaveInvstd) Forward<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar,
        Tensor<T>? weight, Tensor<T>? bias, bool training, double momentum, double eps, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var l = Check(input, runningMean, runningVar, weight, bias, training);
        if (typeof(T) != typeof(float))
        {
            var r = ForwardReference(input, runningMean, runningVar, weight, bias, training, momentum, eps);
            if (relu) Activations.ReluReference<T>(r.Output.AsSpan(), r.Output.AsSpan());
            return r;
        }
        var x = (Tensor<float>)(object)input;
        var y = Activations.Uninit<float>(x.ShapeArray());
        var sm = new Tensor<float>(l.C); var si = new Tensor<float>(l.C);
        ForChannels(l.C, l.M, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                double mean = 0, var = 0;
                float k = 0;
                if (training && l.M > 0)
                {
                    k = x.Data[x.Offset + c * l.S];
                    double s1 = 0, s2 = 0;
                    for (int n = 0; n < l.N; n++)
                    {
                        var (a, b) = ShiftedSums(x.Data.AsSpan(x.Offset + (n * l.C + c) * l.S, l.S), k);
                        s1 += a; s2 += b;
                    }
                    double d = s1 / l.M;
                    mean = k + d;
                    var = Math.Max(s2 / l.M - d * d, 0);
                }
                var (mu, inv) = Stats(c, mean, var, l.M, runningMean, runningVar, training, momentum, eps);
                sm.Data[c] = (float)mu; si.Data[c] = (float)inv;
                double scale = Get(weight, c, 1) * inv;
                // y = (x − k)·scale + (β − (mean − k)·scale): x − k is exact for values near the channel's first one
                float shift = (float)(Get(bias, c, 0) - (mu - k) * scale);
                for (int n = 0; n < l.N; n++)
                {
                    int o = (n * l.C + c) * l.S;
                    if (relu) AffineRelu(x.Data.AsSpan(x.Offset + o, l.S), y.Data.AsSpan(o, l.S), k, (float)scale, shift);
                    else Affine(x.Data.AsSpan(x.Offset + o, l.S), y.Data.AsSpan(o, l.S), k, (float)scale, shift);
                }
            }
        });
        return ((Tensor<T>)(object)y, (Tensor<T>)(object)sm, (Tensor<T>)(object)si);
    }

    /// <summary>Σx of one plane in four float vector accumulators, the total in double (the bias gradient).</summary>
    internal static double PlaneSum(ReadOnlySpan<float> x)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        double s = 0;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 32; i += 32)
            {
                a0 += Vector256.LoadUnsafe(ref p, (nuint)i);
                a1 += Vector256.LoadUnsafe(ref p, (nuint)(i + 8));
                a2 += Vector256.LoadUnsafe(ref p, (nuint)(i + 16));
                a3 += Vector256.LoadUnsafe(ref p, (nuint)(i + 24));
            }
            s = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < n; i++) s += Unsafe.Add(ref p, i);
        return s;
    }

    /// <summary>Σ(x − k) and Σ(x − k)² of one plane (float lanes, double result).</summary>
    private static (double, double) ShiftedSums(ReadOnlySpan<float> x, float k)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        double s1 = 0, s2 = 0;
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var kv = Vector256.Create(k);
            Vector256<float> a0 = default, a1 = default, b0 = default, b1 = default;
            for (; i <= n - 16; i += 16)
            {
                var v0 = Vector256.LoadUnsafe(ref p, (nuint)i) - kv;
                var v1 = Vector256.LoadUnsafe(ref p, (nuint)(i + 8)) - kv;
                a0 += v0; a1 += v1;
                b0 = Vector256.FusedMultiplyAdd(v0, v0, b0);
                b1 = Vector256.FusedMultiplyAdd(v1, v1, b1);
            }
            s1 = Vector256.Sum(a0 + a1);
            s2 = Vector256.Sum(b0 + b1);
        }
        for (; i < n; i++) { double v = Unsafe.Add(ref p, i) - k; s1 += v; s2 += v * v; }
        return (s1, s2);
    }

    /// <summary>y = (x − k)·scale + shift (subtracting first keeps precision when |mean| ≫ std).</summary>
    private static void Affine(ReadOnlySpan<float> x, Span<float> y, float k, float scale, float shift)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(scale); var b = Vector256.Create(shift); var m = Vector256.Create(k);
            for (; i <= n - 8; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i) - m, a, b).StoreUnsafe(ref py, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref py, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref px, i) - k, scale, shift);
    }

    /// <summary><see cref="Affine"/> then ReLU: max(v, 0) with NaN kept (as TensorPrimitives.Max and torch.relu do) and −0 → +0.</summary>
    private static void AffineRelu(ReadOnlySpan<float> x, Span<float> y, float k, float scale, float shift)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(scale); var b = Vector256.Create(shift); var m = Vector256.Create(k);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i) - m, a, b);
                // v ≤ 0 is false for NaN, so NaN passes through; −0 and negatives become +0
                Vector256.AndNot(v, Vector256.LessThanOrEqual(v, Vector256<float>.Zero)).StoreUnsafe(ref py, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float v = MathF.FusedMultiplyAdd(Unsafe.Add(ref px, i) - k, scale, shift);
            Unsafe.Add(ref py, i) = v <= 0 ? 0f : v;
        }
    }

    /// <summary>Two-pass batch norm in double accumulation (the reference twin).</summary>
    internal static (Tensor<T> Output, Tensor<T> SaveMean, Tensor<T> SaveInvstd) ForwardReference<T>(Tensor<T> input, Tensor<T>? runningMean,
        Tensor<T>? runningVar, Tensor<T>? weight, Tensor<T>? bias, bool training, double momentum, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var l = Check(input, runningMean, runningVar, weight, bias, training);
        var y = new Tensor<T>(input.ShapeArray());
        var sm = new Tensor<T>(l.C); var si = new Tensor<T>(l.C);
        var xs = input.AsSpan(); var ys = y.AsSpan();
        for (int c = 0; c < l.C; c++)
        {
            double mean = 0, var = 0;
            if (training && l.M > 0)
            {
                for (int n = 0; n < l.N; n++)
                    for (int s = 0; s < l.S; s++) mean += double.CreateTruncating(xs[(n * l.C + c) * l.S + s]);
                mean /= l.M;
                for (int n = 0; n < l.N; n++)
                    for (int s = 0; s < l.S; s++) { double d = double.CreateTruncating(xs[(n * l.C + c) * l.S + s]) - mean; var += d * d; }
                var /= l.M;
            }
            var (mu, inv) = Stats(c, mean, var, l.M, runningMean, runningVar, training, momentum, eps);
            sm.Data[c] = T.CreateTruncating(mu); si.Data[c] = T.CreateTruncating(inv);
            double gam = Get(weight, c, 1), bet = Get(bias, c, 0);
            for (int n = 0; n < l.N; n++)
                for (int s = 0; s < l.S; s++)
                {
                    int i = (n * l.C + c) * l.S + s;
                    ys[i] = T.CreateTruncating((double.CreateTruncating(xs[i]) - mu) * inv * gam + bet);
                }
        }
        return (y, sm, si);
    }

    private static Layout CheckBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Tensor<T>? weight, Tensor<T> saveMean, Tensor<T> saveInvstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(saveMean);
        ArgumentNullException.ThrowIfNull(saveInvstd);
        var l = Check(input, null, null, weight, null, true);
        if (!gradOutput.SameShape(input))
            throw new ArgumentException($"gradOutput: shape {ShapeMath.Format(gradOutput.Shape)} differs from input {ShapeMath.Format(input.Shape)}.", nameof(gradOutput));
        CheckChannel(saveMean, l.C, input, nameof(saveMean));
        CheckChannel(saveInvstd, l.C, input, nameof(saveInvstd));
        return l;
    }

    public static (Tensor<T> GradInput, Tensor<T> GradWeight, Tensor<T> GradBias) Backward<T>(Tensor<T> gradOutput, Tensor<T> input, Tensor<T>? weight,
        Tensor<T> saveMean, Tensor<T> saveInvstd, bool training) where T : unmanaged, IFloatingPointIeee754<T>
        => Backward(gradOutput, input, weight, saveMean, saveInvstd, training, reluOutput: null);

    /// <summary>
    /// The gradient of relu(batch_norm(x)) when <paramref name="reluOutput"/> (that forward's result) is given: the
    /// incoming gradient counts only where the output is positive (PyTorch's threshold_backward), applied on the fly
    /// instead of materializing the masked gradient.
    /// </summary>
    internal static (Tensor<T> GradInput, Tensor<T> GradWeight, Tensor<T> GradBias) Backward<T>(Tensor<T> gradOutput, Tensor<T> input, Tensor<T>? weight,
        Tensor<T> saveMean, Tensor<T> saveInvstd, bool training, Tensor<T>? reluOutput) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (reluOutput is not null) Activations.CheckSame(gradOutput, reluOutput, nameof(reluOutput));
        if (typeof(T) != typeof(float))
        {
            if (reluOutput is not null)
            {
                var masked = new Tensor<T>(gradOutput.ShapeArray());
                Activations.ReluBackwardReference<T>(gradOutput.AsSpan(), reluOutput.AsSpan(), masked.AsSpan());
                gradOutput = masked;
            }
            return BackwardReference(gradOutput, input, weight, saveMean, saveInvstd, training);
        }
        var l = CheckBackward(gradOutput, input, weight, saveMean, saveInvstd);
        var g = (Tensor<float>)(object)gradOutput; var x = (Tensor<float>)(object)input;
        var yr = (Tensor<float>?)(object?)reluOutput;
        var gx = Activations.Uninit<float>(x.ShapeArray());
        var gw = new Tensor<float>(l.C); var gb = new Tensor<float>(l.C);
        ForChannels(l.C, 2 * l.M, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                double mu = Get(saveMean, c, 0), inv = Get(saveInvstd, c, 1), gam = Get(weight, c, 1);
                double sg = 0, sgx = 0;
                for (int n = 0; n < l.N; n++)
                {
                    int o = (n * l.C + c) * l.S;
                    var (a, b) = yr is null
                        ? GradSums(g.Data.AsSpan(g.Offset + o, l.S), x.Data.AsSpan(x.Offset + o, l.S), (float)mu)
                        : GradSumsMasked(g.Data.AsSpan(g.Offset + o, l.S), x.Data.AsSpan(x.Offset + o, l.S), yr.Data.AsSpan(yr.Offset + o, l.S), (float)mu);
                    sg += a; sgx += b;
                }
                gb.Data[c] = (float)sg;
                gw.Data[c] = (float)(sgx * inv);
                // gx = a·g + b·(x − mean) + c0 with the batch-statistics terms only in training mode
                double ca = gam * inv, cb = 0, cc = 0;
                if (training)
                {
                    cb = -gam * inv * inv * inv * sgx / l.M;
                    cc = -gam * inv * sg / l.M;
                }
                for (int n = 0; n < l.N; n++)
                {
                    int o = (n * l.C + c) * l.S;
                    if (yr is null)
                        GradCombine(g.Data.AsSpan(g.Offset + o, l.S), x.Data.AsSpan(x.Offset + o, l.S), gx.Data.AsSpan(o, l.S),
                            (float)mu, (float)ca, (float)cb, (float)cc);
                    else
                        GradCombineMasked(g.Data.AsSpan(g.Offset + o, l.S), x.Data.AsSpan(x.Offset + o, l.S), yr.Data.AsSpan(yr.Offset + o, l.S),
                            gx.Data.AsSpan(o, l.S), (float)mu, (float)ca, (float)cb, (float)cc);
                }
            }
        });
        return ((Tensor<T>)(object)gx, (Tensor<T>)(object)gw, (Tensor<T>)(object)gb);
    }

    /// <summary>Σg and Σg·(x − mean) of one plane.</summary>
    private static (double, double) GradSums(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float mean)
    {
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float px = ref MemoryMarshal.GetReference(x);
        int n = g.Length, i = 0;
        double s1 = 0, s2 = 0;
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var m = Vector256.Create(mean);
            Vector256<float> a0 = default, a1 = default, b0 = default, b1 = default;
            for (; i <= n - 16; i += 16)
            {
                var g0 = Vector256.LoadUnsafe(ref pg, (nuint)i);
                var g1 = Vector256.LoadUnsafe(ref pg, (nuint)(i + 8));
                a0 += g0; a1 += g1;
                b0 = Vector256.FusedMultiplyAdd(g0, Vector256.LoadUnsafe(ref px, (nuint)i) - m, b0);
                b1 = Vector256.FusedMultiplyAdd(g1, Vector256.LoadUnsafe(ref px, (nuint)(i + 8)) - m, b1);
            }
            s1 = Vector256.Sum(a0 + a1);
            s2 = Vector256.Sum(b0 + b1);
        }
        for (; i < n; i++) { double gv = Unsafe.Add(ref pg, i); s1 += gv; s2 += gv * (Unsafe.Add(ref px, i) - mean); }
        return (s1, s2);
    }

    /// <summary>gx = a·g + b·(x − mean) + c.</summary>
    private static void GradCombine(ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> gx, float mean, float a, float b, float c)
    {
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float po = ref MemoryMarshal.GetReference(gx);
        int n = g.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b); var vc = Vector256.Create(c); var vm = Vector256.Create(mean);
            for (; i <= n - 8; i += 8)
            {
                var t = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i) - vm, vb, vc);
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pg, (nuint)i), va, t).StoreUnsafe(ref po, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref po, i) = a * Unsafe.Add(ref pg, i) + b * (Unsafe.Add(ref px, i) - mean) + c;
    }

    /// <summary><see cref="GradSums"/> of the gradient masked by y &gt; 0.</summary>
    private static (double, double) GradSumsMasked(ReadOnlySpan<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> y, float mean)
    {
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = g.Length, i = 0;
        double s1 = 0, s2 = 0;
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var m = Vector256.Create(mean);
            Vector256<float> a0 = default, a1 = default, b0 = default, b1 = default;
            for (; i <= n - 16; i += 16)
            {
                var g0 = Vector256.LoadUnsafe(ref pg, (nuint)i) & Vector256.GreaterThan(Vector256.LoadUnsafe(ref py, (nuint)i), Vector256<float>.Zero);
                var g1 = Vector256.LoadUnsafe(ref pg, (nuint)(i + 8)) & Vector256.GreaterThan(Vector256.LoadUnsafe(ref py, (nuint)(i + 8)), Vector256<float>.Zero);
                a0 += g0; a1 += g1;
                b0 = Vector256.FusedMultiplyAdd(g0, Vector256.LoadUnsafe(ref px, (nuint)i) - m, b0);
                b1 = Vector256.FusedMultiplyAdd(g1, Vector256.LoadUnsafe(ref px, (nuint)(i + 8)) - m, b1);
            }
            s1 = Vector256.Sum(a0 + a1);
            s2 = Vector256.Sum(b0 + b1);
        }
        for (; i < n; i++)
        {
            double gv = Unsafe.Add(ref py, i) > 0 ? Unsafe.Add(ref pg, i) : 0f;
            s1 += gv; s2 += gv * (Unsafe.Add(ref px, i) - mean);
        }
        return (s1, s2);
    }

    /// <summary><see cref="GradCombine"/> of the gradient masked by y &gt; 0.</summary>
    private static void GradCombineMasked(ReadOnlySpan<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> gx, float mean, float a, float b, float c)
    {
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref float po = ref MemoryMarshal.GetReference(gx);
        int n = g.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b); var vc = Vector256.Create(c); var vm = Vector256.Create(mean);
            for (; i <= n - 8; i += 8)
            {
                var gv = Vector256.LoadUnsafe(ref pg, (nuint)i) & Vector256.GreaterThan(Vector256.LoadUnsafe(ref py, (nuint)i), Vector256<float>.Zero);
                var t = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i) - vm, vb, vc);
                Vector256.FusedMultiplyAdd(gv, va, t).StoreUnsafe(ref po, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float gv = Unsafe.Add(ref py, i) > 0 ? Unsafe.Add(ref pg, i) : 0f;
            Unsafe.Add(ref po, i) = a * gv + b * (Unsafe.Add(ref px, i) - mean) + c;
        }
    }

    /// <summary>The gradient straight from the formulas, in double accumulation (the reference twin).</summary>
    internal static (Tensor<T> GradInput, Tensor<T> GradWeight, Tensor<T> GradBias) BackwardReference<T>(Tensor<T> gradOutput, Tensor<T> input,
        Tensor<T>? weight, Tensor<T> saveMean, Tensor<T> saveInvstd, bool training) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var l = CheckBackward(gradOutput, input, weight, saveMean, saveInvstd);
        var gx = new Tensor<T>(input.ShapeArray());
        var gw = new Tensor<T>(l.C); var gb = new Tensor<T>(l.C);
        var gs = gradOutput.AsSpan(); var xs = input.AsSpan(); var os = gx.AsSpan();
        for (int c = 0; c < l.C; c++)
        {
            double mu = Get(saveMean, c, 0), inv = Get(saveInvstd, c, 1), gam = Get(weight, c, 1);
            double sg = 0, sgxh = 0;
            for (int n = 0; n < l.N; n++)
                for (int s = 0; s < l.S; s++)
                {
                    int i = (n * l.C + c) * l.S + s;
                    double gv = double.CreateTruncating(gs[i]);
                    sg += gv; sgxh += gv * (double.CreateTruncating(xs[i]) - mu) * inv;
                }
            gb.Data[c] = T.CreateTruncating(sg);
            gw.Data[c] = T.CreateTruncating(sgxh);
            for (int n = 0; n < l.N; n++)
                for (int s = 0; s < l.S; s++)
                {
                    int i = (n * l.C + c) * l.S + s;
                    double gv = double.CreateTruncating(gs[i]);
                    double r = training
                        ? gam * inv * (gv - sg / l.M - (double.CreateTruncating(xs[i]) - mu) * inv * sgxh / l.M)
                        : gam * inv * gv;
                    os[i] = T.CreateTruncating(r);
                }
        }
        return (gx, gw, gb);
    }

    // ------------------------------------------------------------------ registered operators

    /// <summary>batch_norm: outputs [output] plus the updated running_mean and running_var when they are given.</summary>
    [Op("batch_norm")]
    public static Tensor<T>[] BatchNormOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rm = c.OptionalInput("running_mean"); var rv = c.OptionalInput("running_var");
        var (y, _, _) = Forward(c.Input("input"), rm, rv, c.OptionalInput("weight"), c.OptionalInput("bias"),
            c.Bool("training", false), c.Double("momentum", 0.1), c.Double("eps", 1e-5));
        return rm is null || rv is null ? [y] : [y, rm, rv];
    }

    /// <summary>grad.batch_norm: outputs [grad_input, grad_weight, grad_bias]; the forward statistics are recomputed.</summary>
    [Op("grad.batch_norm")]
    public static Tensor<T>[] BatchNormGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = c.Input("input"); var w = c.OptionalInput("weight");
        bool training = c.Bool("training", false);
        var (_, sm, si) = Forward(x, c.OptionalInput("running_mean")?.Clone(), c.OptionalInput("running_var")?.Clone(), w, c.OptionalInput("bias"),
            training, 0.1, c.Double("eps", 1e-5));
        var (gx, gw, gb) = Backward(c.Input("grad_output"), x, w, sm, si, training);
        return [gx, gw, gb];
    }
}
