using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>
/// Element-wise activations and their gradients. Float tensors run vectorized kernels (TensorPrimitives or
/// Vector256); every other type, and the <c>*Reference</c> twins used by the differential tests, run plain loops
/// in double. Operator names: the torch.nn.functional name for the forward, <c>grad.&lt;name&gt;</c> for the
/// gradient with respect to the input (inputs <c>grad_output</c> and <c>input</c>, or <c>output</c> for relu,
/// sigmoid and tanh whose gradients are cheapest from the result).
/// </summary>
internal static class Activations
{
    internal const double Sqrt2OverPi = 0.79788456080286535587989211986876; // sqrt(2/pi)
    internal const double GeluKappa = 0.044715;
    internal const double InvSqrt2 = 0.70710678118654752440084436210485;
    internal const double InvSqrt2Pi = 0.39894228040143267793994605993438; // 1/sqrt(2*pi)

    private static Span<float> F<T>(Span<T> s) where T : unmanaged => MemoryMarshal.Cast<T, float>(s);

    internal static Tensor<T> Target<T>(Tensor<T> x, bool inplace) where T : unmanaged, IFloatingPointIeee754<T>
        => inplace ? x : Uninit<T>(x.ShapeArray());

    /// <summary>A tensor whose every element the caller overwrites: skipping the zeroing saves a pass over memory.</summary>
    internal static Tensor<T> Uninit<T>(int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
        => Tensor.Uninitialized<T>(shape);

    internal static void CheckSame<T>(Tensor<T> gradOutput, Tensor<T> other, string otherName) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(other, otherName);
        if (!gradOutput.SameShape(other))
            throw new ArgumentException($"gradOutput: shape {ShapeMath.Format(gradOutput.Shape)} differs from {otherName} shape {ShapeMath.Format(other.Shape)}.", "gradOutput");
    }

    // ------------------------------------------------------------------ generic (reference) element loops

    private static void Map<T>(ReadOnlySpan<T> x, Span<T> y, Func<double, double> f) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.CreateTruncating(f(double.CreateTruncating(x[i])));
    }

    private static void Map2<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> y, Func<double, double, double> f) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.CreateTruncating(f(double.CreateTruncating(g[i]), double.CreateTruncating(x[i])));
    }

    // ------------------------------------------------------------------ scalar definitions (double)

    internal static double ReluD(double x) => x > 0 ? x : (double.IsNaN(x) ? x : 0);
    internal static double SigmoidD(double x) => 1.0 / (1.0 + Math.Exp(-x));
    internal static double GeluD(double x, bool tanhApprox) => tanhApprox
        ? 0.5 * x * (1 + Math.Tanh(Sqrt2OverPi * (x + GeluKappa * x * x * x)))
        : 0.5 * x * (1 + Erf(x * InvSqrt2));
    internal static double GeluGradD(double x, bool tanhApprox)
    {
        if (!tanhApprox) return 0.5 * (1 + Erf(x * InvSqrt2)) + x * Math.Exp(-0.5 * x * x) * InvSqrt2Pi;
        double t = Math.Tanh(Sqrt2OverPi * (x + GeluKappa * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Sqrt2OverPi * (1 + 3 * GeluKappa * x * x);
    }
    internal static double SiluGradD(double x) { double s = SigmoidD(x); return s * (1 + x * (1 - s)); }

    /// <summary>The error function to double precision: erf(x) = 2/sqrt(pi)·exp(-x²)·Σ (2x²)^n·x / (1·3·…·(2n+1)).
    /// Every term is positive, so there is no cancellation; beyond |x| = 6, erf is ±1 in double.</summary>
    internal static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax >= 6) return Math.Sign(x);
        double x2 = ax * ax, term = ax, sum = ax;
        for (int n = 1; n < 500; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) break;
        }
        double r = 1.1283791670955125739 * Math.Exp(-x2) * sum; // 2/sqrt(pi)
        if (r > 1) r = 1;
        return x < 0 ? -r : r;
    }

    // ------------------------------------------------------------------ forward

    public static Tensor<T> Relu<T>(Tensor<T> x, bool inplace) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        var y = Target(x, inplace);
        if (typeof(T) == typeof(float)) TensorPrimitives.Max(F(x.AsSpan()), 0f, F(y.AsSpan()));
        else ReluReference(x.AsSpan(), y.AsSpan());
        return y;
    }
    internal static void ReluReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Map(x, y, ReluD);

    public static Tensor<T> LeakyRelu<T>(Tensor<T> x, double slope, bool inplace) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        var y = Target(x, inplace);
        if (typeof(T) == typeof(float)) LeakyFloat(F(x.AsSpan()), F(y.AsSpan()), (float)slope);
        else LeakyReluReference(x.AsSpan(), y.AsSpan(), slope);
        return y;
    }
    internal static void LeakyReluReference<T>(ReadOnlySpan<T> x, Span<T> y, double slope) where T : unmanaged, IFloatingPointIeee754<T>
        => Map(x, y, v => v > 0 ? v : v * slope);

    private static void LeakyFloat(Span<float> x, Span<float> y, float slope)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(slope);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref px, (nuint)i);
                Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<float>.Zero), v, v * s).StoreUnsafe(ref py, (nuint)i);
            }
        }
        for (; i < n; i++) { float v = Unsafe.Add(ref px, i); Unsafe.Add(ref py, i) = v > 0 ? v : v * slope; }
    }

    public static Tensor<T> Hardtanh<T>(Tensor<T> x, double minVal, double maxVal, bool inplace) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        if (!(minVal <= maxVal))
            throw new ArgumentException($"minVal: {minVal} must not exceed maxVal {maxVal}.", "minVal");
        var y = Target(x, inplace);
        if (typeof(T) == typeof(float)) ClampFloat(F(x.AsSpan()), F(y.AsSpan()), (float)minVal, (float)maxVal);
        else HardtanhReference(x.AsSpan(), y.AsSpan(), minVal, maxVal);
        return y;
    }
    internal static void HardtanhReference<T>(ReadOnlySpan<T> x, Span<T> y, double lo, double hi) where T : unmanaged, IFloatingPointIeee754<T>
        => Map(x, y, v => double.IsNaN(v) ? v : v < lo ? lo : v > hi ? hi : v);

    private static void ClampFloat(Span<float> x, Span<float> y, float lo, float hi)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref px, (nuint)i);
                // select-based clamp keeps NaN (both comparisons are false for NaN), as torch.clamp does
                var r = Vector256.ConditionalSelect(Vector256.LessThan(v, vlo), vlo, v);
                r = Vector256.ConditionalSelect(Vector256.GreaterThan(v, vhi), vhi, r);
                r.StoreUnsafe(ref py, (nuint)i);
            }
        }
        for (; i < n; i++) { float v = Unsafe.Add(ref px, i); Unsafe.Add(ref py, i) = v < lo ? lo : v > hi ? hi : v; }
    }

    public static Tensor<T> Sigmoid<T>(Tensor<T> x, bool inplace) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        var y = Target(x, inplace);
        if (typeof(T) == typeof(float)) TensorPrimitives.Sigmoid(F(x.AsSpan()), F(y.AsSpan()));
        else Map(x.AsSpan(), y.AsSpan(), SigmoidD);
        return y;
    }
    internal static void SigmoidReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Map(x, y, SigmoidD);

    public static Tensor<T> Tanh<T>(Tensor<T> x, bool inplace) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        var y = Target(x, inplace);
        if (typeof(T) == typeof(float)) TensorPrimitives.Tanh(F(x.AsSpan()), F(y.AsSpan()));
        else Map(x.AsSpan(), y.AsSpan(), Math.Tanh);
        return y;
    }
    internal static void TanhReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Map(x, y, Math.Tanh);

    public static Tensor<T> Silu<T>(Tensor<T> x, bool inplace) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        var y = Target(x, inplace);
        if (typeof(T) == typeof(float))
        {
            var xs = F(x.AsSpan()); var ys = F(y.AsSpan());
            if (inplace)
            {
                var s = new float[xs.Length];
                TensorPrimitives.Sigmoid(xs, s);
                TensorPrimitives.Multiply(xs, s, ys);
            }
            else
            {
                TensorPrimitives.Sigmoid(xs, ys);
                TensorPrimitives.Multiply(xs, ys, ys);
            }
        }
        else SiluReference(x.AsSpan(), y.AsSpan());
        return y;
    }
    internal static void SiluReference<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Map(x, y, v => v * SigmoidD(v));

    public static Tensor<T> Gelu<T>(Tensor<T> x, string approximate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x, "input");
        bool approx = ParseApproximate(approximate);
        var y = Uninit<T>(x.ShapeArray());
        if (typeof(T) == typeof(float) && approx)
        {
            var xs = F(x.AsSpan()); var ys = F(y.AsSpan());
            const float b = (float)Sqrt2OverPi, k = (float)GeluKappa;
            for (int i = 0; i < xs.Length; i++) { float v = xs[i]; ys[i] = b * (v + k * v * v * v); }
            TensorPrimitives.Tanh(ys, ys);
            for (int i = 0; i < xs.Length; i++) ys[i] = 0.5f * xs[i] * (1 + ys[i]);
        }
        else if (typeof(T) == typeof(float))
        {
            var xs = F(x.AsSpan()); var ys = F(y.AsSpan());
            ErfFloat(xs, ys, null);
            for (int i = 0; i < xs.Length; i++) ys[i] = 0.5f * xs[i] * (1 + ys[i]);
        }
        else GeluReference(x.AsSpan(), y.AsSpan(), approx);
        return y;
    }

    /// <summary>erf(x/√2) for float lanes, and optionally exp(−x²/2) (the Gaussian factor of the GELU gradient).
    /// Uses the rational approximation 7.1.26 of Abramowitz and Stegun (|error| ≤ 1.5e-7, about one float ulp
    /// of 1 + erf): erf(z) = 1 − (a1·t + … + a5·t⁵)·exp(−z²), t = 1/(1 + p·z) for z ≥ 0, odd symmetry.</summary>
    internal static void ErfFloat(ReadOnlySpan<float> x, Span<float> erf, Span<float> gauss)
    {
        const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
        const float H = (float)InvSqrt2;
        var e = gauss.IsEmpty ? new float[x.Length] : gauss;
        for (int i = 0; i < x.Length; i++) e[i] = -0.5f * x[i] * x[i];
        TensorPrimitives.Exp(e, e);
        int n = x.Length, j = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; j <= n - 8; j += 8)
            {
                var z = Vector256.Create(x.Slice(j, 8)) * H;
                var az = Vector256.Abs(z);
                var t = Vector256<float>.One / (Vector256<float>.One + Vector256.Create(P) * az);
                var poly = ((((Vector256.Create(A5) * t + Vector256.Create(A4)) * t + Vector256.Create(A3)) * t + Vector256.Create(A2)) * t + Vector256.Create(A1)) * t;
                var r = Vector256<float>.One - poly * Vector256.Create(e.Slice(j, 8));
                // copy the sign of z (and keep NaN, which propagates through every step)
                (r | (z & Vector256.Create(-0f))).CopyTo(erf.Slice(j, 8));
            }
        for (; j < n; j++)
        {
            float z = x[j] * H, az = MathF.Abs(z);
            float t = 1 / (1 + P * az);
            float r = 1 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * e[j];
            erf[j] = MathF.CopySign(r, z);
        }
    }
    internal static void GeluReference<T>(ReadOnlySpan<T> x, Span<T> y, bool approx) where T : unmanaged, IFloatingPointIeee754<T>
        => Map(x, y, v => GeluD(v, approx));

    internal static bool ParseApproximate(string approximate) => approximate switch
    {
        "none" => false,
        "tanh" => true,
        _ => throw new ArgumentException($"approximate: expected \"none\" or \"tanh\", got \"{approximate}\".", nameof(approximate)),
    };

    // ------------------------------------------------------------------ backward

    public static Tensor<T> ReluBackward<T>(Tensor<T> g, Tensor<T> output) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSame(g, output, "output");
        var gx = Uninit<T>(g.ShapeArray());
        if (typeof(T) == typeof(float)) MaskFloat(F(g.AsSpan()), F(output.AsSpan()), F(gx.AsSpan()), 0f, 0f);
        else ReluBackwardReference(g.AsSpan(), output.AsSpan(), gx.AsSpan());
        return gx;
    }
    internal static void ReluBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> gx) where T : unmanaged, IFloatingPointIeee754<T>
        => Map2(g, y, gx, (gv, yv) => yv > 0 ? gv : 0);

    /// <summary>gx = x &gt; 0 ? g : g·slope (slope 0 gives ReLU's mask).</summary>
    private static void MaskFloat(Span<float> g, Span<float> x, Span<float> gx, float slope, float threshold)
    {
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float po = ref MemoryMarshal.GetReference(gx);
        int n = g.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(slope); var t = Vector256.Create(threshold);
            for (; i <= n - 8; i += 8)
            {
                var gv = Vector256.LoadUnsafe(ref pg, (nuint)i);
                var xv = Vector256.LoadUnsafe(ref px, (nuint)i);
                Vector256.ConditionalSelect(Vector256.GreaterThan(xv, t), gv, gv * s).StoreUnsafe(ref po, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float gv = Unsafe.Add(ref pg, i);
            Unsafe.Add(ref po, i) = Unsafe.Add(ref px, i) > threshold ? gv : gv * slope;
        }
    }

    public static Tensor<T> LeakyReluBackward<T>(Tensor<T> g, Tensor<T> input, double slope) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSame(g, input, "input");
        var gx = Uninit<T>(g.ShapeArray());
        if (typeof(T) == typeof(float)) MaskFloat(F(g.AsSpan()), F(input.AsSpan()), F(gx.AsSpan()), (float)slope, 0f);
        else LeakyReluBackwardReference(g.AsSpan(), input.AsSpan(), gx.AsSpan(), slope);
        return gx;
    }
    internal static void LeakyReluBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> gx, double slope) where T : unmanaged, IFloatingPointIeee754<T>
        => Map2(g, x, gx, (gv, xv) => xv > 0 ? gv : gv * slope);

    public static Tensor<T> HardtanhBackward<T>(Tensor<T> g, Tensor<T> input, double minVal, double maxVal) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSame(g, input, "input");
        var gx = Uninit<T>(g.ShapeArray());
        if (typeof(T) == typeof(float))
        {
            var gs = F(g.AsSpan()); var xs = F(input.AsSpan()); var os = F(gx.AsSpan());
            float lo = (float)minVal, hi = (float)maxVal;
            ref float pg = ref MemoryMarshal.GetReference(gs);
            ref float px = ref MemoryMarshal.GetReference(xs);
            ref float po = ref MemoryMarshal.GetReference(os);
            int n = gs.Length, i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
                for (; i <= n - 8; i += 8)
                {
                    var xv = Vector256.LoadUnsafe(ref px, (nuint)i);
                    var m = Vector256.GreaterThan(xv, vlo) & Vector256.LessThan(xv, vhi);
                    (Vector256.LoadUnsafe(ref pg, (nuint)i) & m).StoreUnsafe(ref po, (nuint)i);
                }
            }
            for (; i < n; i++) { float xv = Unsafe.Add(ref px, i); Unsafe.Add(ref po, i) = xv > lo && xv < hi ? Unsafe.Add(ref pg, i) : 0f; }
        }
        else HardtanhBackwardReference(g.AsSpan(), input.AsSpan(), gx.AsSpan(), minVal, maxVal);
        return gx;
    }
    internal static void HardtanhBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> gx, double lo, double hi) where T : unmanaged, IFloatingPointIeee754<T>
        => Map2(g, x, gx, (gv, xv) => xv > lo && xv < hi ? gv : 0);

    public static Tensor<T> SigmoidBackward<T>(Tensor<T> g, Tensor<T> output) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSame(g, output, "output");
        var gx = Uninit<T>(g.ShapeArray());
        if (typeof(T) == typeof(float))
        {
            var gs = F(g.AsSpan()); var ys = F(output.AsSpan()); var os = F(gx.AsSpan());
            int n = gs.Length, i = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var y = Vector256.Create(ys.Slice(i, 8));
                    (Vector256.Create(gs.Slice(i, 8)) * y * (Vector256<float>.One - y)).CopyTo(os.Slice(i, 8));
                }
            for (; i < n; i++) os[i] = gs[i] * ys[i] * (1 - ys[i]);
        }
        else SigmoidBackwardReference(g.AsSpan(), output.AsSpan(), gx.AsSpan());
        return gx;
    }
    internal static void SigmoidBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> gx) where T : unmanaged, IFloatingPointIeee754<T>
        => Map2(g, y, gx, (gv, yv) => gv * yv * (1 - yv));

    public static Tensor<T> TanhBackward<T>(Tensor<T> g, Tensor<T> output) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSame(g, output, "output");
        var gx = Uninit<T>(g.ShapeArray());
        if (typeof(T) == typeof(float))
        {
            var gs = F(g.AsSpan()); var ys = F(output.AsSpan()); var os = F(gx.AsSpan());
            int n = gs.Length, i = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var y = Vector256.Create(ys.Slice(i, 8));
                    (Vector256.Create(gs.Slice(i, 8)) * (Vector256<float>.One - y * y)).CopyTo(os.Slice(i, 8));
                }
            for (; i < n; i++) os[i] = gs[i] * (1 - ys[i] * ys[i]);
        }
        else TanhBackwardReference(g.AsSpan(), output.AsSpan(), gx.AsSpan());
        return gx;
    }
    internal static void TanhBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> gx) where T : unmanaged, IFloatingPointIeee754<T>
        => Map2(g, y, gx, (gv, yv) => gv * (1 - yv * yv));

    public static Tensor<T> SiluBackward<T>(Tensor<T> g, Tensor<T> input) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSame(g, input, "input");
        var gx = Uninit<T>(g.ShapeArray());
        if (typeof(T) == typeof(float))
        {
            var gs = F(g.AsSpan()); var xs = F(input.AsSpan()); var os = F(gx.AsSpan());
            TensorPrimitives.Sigmoid(xs, os);
            int n = gs.Length, i = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var s = Vector256.Create(os.Slice(i, 8)); var x = Vector256.Create(xs.Slice(i, 8));
                    (Vector256.Create(gs.Slice(i, 8)) * s * (Vector256<float>.One + x * (Vector256<float>.One - s))).CopyTo(os.Slice(i, 8));
                }
            for (; i < n; i++) { float s = os[i]; os[i] = gs[i] * s * (1 + xs[i] * (1 - s)); }
        }
        else SiluBackwardReference(g.AsSpan(), input.AsSpan(), gx.AsSpan());
        return gx;
    }
    internal static void SiluBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> gx) where T : unmanaged, IFloatingPointIeee754<T>
        => Map2(g, x, gx, (gv, xv) => gv * SiluGradD(xv));

    public static Tensor<T> GeluBackward<T>(Tensor<T> g, Tensor<T> input, string approximate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSame(g, input, "input");
        bool approx = ParseApproximate(approximate);
        var gx = Uninit<T>(g.ShapeArray());
        if (typeof(T) == typeof(float) && !approx)
        {
            var gs = F(g.AsSpan()); var xs = F(input.AsSpan()); var os = F(gx.AsSpan());
            var gauss = new float[xs.Length];
            ErfFloat(xs, os, gauss);
            const float c = (float)InvSqrt2Pi;
            for (int i = 0; i < xs.Length; i++) os[i] = gs[i] * (0.5f * (1 + os[i]) + xs[i] * c * gauss[i]);
        }
        else GeluBackwardReference(g.AsSpan(), input.AsSpan(), gx.AsSpan(), approx);
        return gx;
    }
    internal static void GeluBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> gx, bool approx) where T : unmanaged, IFloatingPointIeee754<T>
        => Map2(g, x, gx, (gv, xv) => gv * GeluGradD(xv, approx));

    // ------------------------------------------------------------------ registered operators

    [Op("relu")]
    public static Tensor<T>[] ReluOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T> => [Relu(c.Input("input"), false)];
    [Op("leaky_relu")]
    public static Tensor<T>[] LeakyReluOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [LeakyRelu(c.Input("input"), c.Double("negative_slope", 0.01), false)];
    [Op("relu6")]
    public static Tensor<T>[] Relu6Op<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T> => [Hardtanh(c.Input("input"), 0, 6, false)];
    [Op("hardtanh")]
    public static Tensor<T>[] HardtanhOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Hardtanh(c.Input("input"), c.Double("min_val", -1), c.Double("max_val", 1), false)];
    [Op("sigmoid")]
    public static Tensor<T>[] SigmoidOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T> => [Sigmoid(c.Input("input"), false)];
    [Op("tanh")]
    public static Tensor<T>[] TanhOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T> => [Tanh(c.Input("input"), false)];
    [Op("silu")]
    public static Tensor<T>[] SiluOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T> => [Silu(c.Input("input"), false)];
    [Op("gelu")]
    public static Tensor<T>[] GeluOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Gelu(c.Input("input"), c.String("approximate") ?? "none")];

    [Op("grad.relu")]
    public static Tensor<T>[] ReluGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [ReluBackward(c.Input("grad_output"), c.Input("output"))];
    [Op("grad.leaky_relu")]
    public static Tensor<T>[] LeakyReluGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [LeakyReluBackward(c.Input("grad_output"), c.Input("input"), c.Double("negative_slope", 0.01))];
    [Op("grad.relu6")]
    public static Tensor<T>[] Relu6GradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [HardtanhBackward(c.Input("grad_output"), c.Input("input"), 0, 6)];
    [Op("grad.hardtanh")]
    public static Tensor<T>[] HardtanhGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [HardtanhBackward(c.Input("grad_output"), c.Input("input"), c.Double("min_val", -1), c.Double("max_val", 1))];
    [Op("grad.sigmoid")]
    public static Tensor<T>[] SigmoidGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [SigmoidBackward(c.Input("grad_output"), c.Input("output"))];
    [Op("grad.tanh")]
    public static Tensor<T>[] TanhGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [TanhBackward(c.Input("grad_output"), c.Input("output"))];
    [Op("grad.silu")]
    public static Tensor<T>[] SiluGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [SiluBackward(c.Input("grad_output"), c.Input("input"))];
    [Op("grad.gelu")]
    public static Tensor<T>[] GeluGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [GeluBackward(c.Input("grad_output"), c.Input("input"), c.String("approximate") ?? "none")];
}
