using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>Base class of optimizers: a list of parameters, a learning rate, and a step that reads their gradients.</summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The parameters updated by <see cref="Step"/>.</summary>
    protected IReadOnlyList<Variable<T>> Params { get; }

    /// <summary>Learning rate (schedules change it between steps).</summary>
    public double LearningRate { get; set; }

    /// <summary>Creates the optimizer over <paramref name="parameters"/>.</summary>
    protected Optimizer(IEnumerable<Variable<T>> parameters, double lr)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(lr >= 0)) throw new ArgumentOutOfRangeException(nameof(lr), $"learning rate must be non-negative, got {lr}.");
        Params = parameters.ToList();
        LearningRate = lr;
    }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Params) p.ZeroGrad();
    }

    /// <summary>Updates the parameters from their gradients (parameters without a gradient are skipped, as in PyTorch).</summary>
    public abstract void Step();
}

/// <summary>
/// torch.optim.SGD: g ← g + wd·p; with momentum μ, b ← g on the first step, else b ← μ·b + (1-dampening)·g;
/// g ← g + μ·b (Nesterov) or b; p ← p - lr·g.
/// </summary>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[]?[] _momentum;
    private readonly double _mu, _dampening, _wd;
    private readonly bool _nesterov;

    /// <summary>Creates SGD with PyTorch's arguments.</summary>
    public Sgd(IEnumerable<Variable<T>> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, lr)
    {
        if (momentum < 0) throw new ArgumentOutOfRangeException(nameof(momentum), $"momentum must be non-negative, got {momentum}.");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"weight decay must be non-negative, got {weightDecay}.");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("nesterov: requires a momentum and zero dampening.", nameof(nesterov));
        _mu = momentum; _dampening = dampening; _wd = weightDecay; _nesterov = nesterov;
        _momentum = new T[]?[Params.Count];
    }

    /// <inheritdoc/>
    public override void Step()
    {
        T lr = T.CreateTruncating(LearningRate), mu = T.CreateTruncating(_mu), damp = T.One - T.CreateTruncating(_dampening), wd = T.CreateTruncating(_wd);
        for (int i = 0; i < Params.Count; i++)
        {
            var p = Params[i];
            if (p.Grad is null) continue;
            var ps = p.Data.AsSpan(); var gs = p.Grad.AsSpan();
            bool first = _momentum[i] is null;
            if (_mu != 0 && first) _momentum[i] = new T[ps.Length];
            var buf = _momentum[i];
            for (int j = 0; j < ps.Length; j++)
            {
                T g = gs[j];
                if (_wd != 0) g += wd * ps[j];
                if (buf is not null)
                {
                    buf[j] = first ? g : mu * buf[j] + damp * g;
                    g = _nesterov ? g + mu * buf[j] : buf[j];
                }
                ps[j] -= lr * g;
            }
        }
    }
}

/// <summary>
/// torch.optim.Adam / AdamW. m ← β1·m + (1-β1)·g, v ← β2·v + (1-β2)·g², p ← p - lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε).
/// Adam adds wd·p to g (L2); AdamW (decoupled) multiplies p by (1 - lr·wd) first.
/// </summary>
public partial class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] _m, _v;
    private readonly double _b1, _b2, _eps, _wd;
    private readonly bool _decoupled;
    private int _t;

    /// <summary>Creates Adam (or AdamW when <paramref name="decoupledWeightDecay"/>) with PyTorch's arguments.</summary>
    public Adam(IEnumerable<Variable<T>> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 0, bool decoupledWeightDecay = false)
        : base(parameters, lr)
    {
        if (beta1 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), $"beta1 must be in [0, 1), got {beta1}.");
        if (beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta2), $"beta2 must be in [0, 1), got {beta2}.");
        if (eps < 0) throw new ArgumentOutOfRangeException(nameof(eps), $"eps must be non-negative, got {eps}.");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"weight decay must be non-negative, got {weightDecay}.");
        _b1 = beta1; _b2 = beta2; _eps = eps; _wd = weightDecay; _decoupled = decoupledWeightDecay;
        _m = Params.Select(p => new T[p.Data.Length]).ToArray();
        _v = Params.Select(p => new T[p.Data.Length]).ToArray();
    }

    /// <summary>Number of steps taken.</summary>
    public int StepCount => _t;

    /// <inheritdoc/>
    public override void Step()
    {
        _t++;
        double bc1 = 1 - Math.Pow(_b1, _t), bc2 = 1 - Math.Pow(_b2, _t);
        T stepSize = T.CreateTruncating(LearningRate / bc1), sqrtBc2 = T.CreateTruncating(Math.Sqrt(bc2)), eps = T.CreateTruncating(_eps);
        T b1 = T.CreateTruncating(_b1), b2 = T.CreateTruncating(_b2), ob1 = T.One - b1, ob2 = T.One - b2;
        T wd = T.CreateTruncating(_wd), decay = T.CreateTruncating(1 - LearningRate * _wd);
        for (int i = 0; i < Params.Count; i++)
        {
            var p = Params[i];
            if (p.Grad is null) continue;
            var ps = p.Data.AsSpan(); var gs = p.Grad.AsSpan();
            var m = _m[i]; var v = _v[i];
            int j = 0;
            if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
                j = StepFloat(Functional.F(ps), Functional.F(gs), Functional.F(m.AsSpan()), Functional.F(v.AsSpan()),
                    float.CreateTruncating(b1), float.CreateTruncating(b2), float.CreateTruncating(stepSize), float.CreateTruncating(sqrtBc2),
                    float.CreateTruncating(eps), float.CreateTruncating(wd), float.CreateTruncating(decay), _wd != 0, _decoupled);
            for (; j < ps.Length; j++)
            {
                T g = gs[j];
                if (_wd != 0)
                {
                    if (_decoupled) ps[j] *= decay;
                    else g += wd * ps[j];
                }
                m[j] = b1 * m[j] + ob1 * g;
                v[j] = b2 * v[j] + ob2 * g * g;
                ps[j] -= stepSize * m[j] / (T.Sqrt(v[j]) / sqrtBc2 + eps);
            }
        }
    }
}

public partial class Adam<T>
{
    /// <summary>The float update, 8 lanes at a time (same arithmetic as the scalar loop); returns how many were done.</summary>
    private static int StepFloat(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float b1, float b2, float stepSize, float sqrtBc2,
        float eps, float wd, float decay, bool hasWd, bool decoupled)
    {
        int n = p.Length - p.Length % 8;
        var vb1 = Vector256.Create(b1); var vob1 = Vector256.Create(1 - b1);
        var vb2 = Vector256.Create(b2); var vob2 = Vector256.Create(1 - b2);
        var vstep = Vector256.Create(stepSize); var vsq = Vector256.Create(sqrtBc2); var veps = Vector256.Create(eps);
        var vwd = Vector256.Create(wd); var vdecay = Vector256.Create(decay);
        ref float rp = ref MemoryMarshal.GetReference(p); ref float rg = ref MemoryMarshal.GetReference(g);
        ref float rm = ref MemoryMarshal.GetReference(m); ref float rv = ref MemoryMarshal.GetReference(v);
        for (int j = 0; j < n; j += 8)
        {
            var pj = Vector256.LoadUnsafe(ref rp, (nuint)j);
            var gj = Vector256.LoadUnsafe(ref rg, (nuint)j);
            if (hasWd)
            {
                if (decoupled) pj *= vdecay;
                else gj += vwd * pj;
            }
            var mj = vb1 * Vector256.LoadUnsafe(ref rm, (nuint)j) + vob1 * gj;
            var vj = vb2 * Vector256.LoadUnsafe(ref rv, (nuint)j) + vob2 * gj * gj;
            mj.StoreUnsafe(ref rm, (nuint)j);
            vj.StoreUnsafe(ref rv, (nuint)j);
            pj -= vstep * mj / (Vector256.Sqrt(vj) / vsq + veps);
            pj.StoreUnsafe(ref rp, (nuint)j);
        }
        return n;
    }
}

/// <summary>torch.optim.AdamW: Adam with decoupled weight decay (default 0.01).</summary>
public sealed class AdamW<T>(IEnumerable<Variable<T>> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
    double weightDecay = 0.01) : Adam<T>(parameters, lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay: true)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>A learning-rate schedule stepped once per epoch (or per step), like torch.optim.lr_scheduler.</summary>
public abstract class LrSchedule
{
    /// <summary>The learning rate at step 0.</summary>
    public double BaseLr { get; }
    /// <summary>Steps taken.</summary>
    public int StepCount { get; private set; }

    /// <summary>Creates the schedule from the initial rate.</summary>
    protected LrSchedule(double baseLr) => BaseLr = baseLr;

    /// <summary>The learning rate after <paramref name="step"/> steps (closed form).</summary>
    public abstract double LrAt(int step);

    /// <summary>Advances one step and returns the new learning rate.</summary>
    public double Step() => LrAt(++StepCount);

    /// <summary>Advances one step and sets the optimizer's rate.</summary>
    public void Step<T>(Optimizer<T> optimizer) where T : unmanaged, IFloatingPointIeee754<T> => optimizer.LearningRate = Step();
}

/// <summary>StepLR: lr = base · γ^⌊step / stepSize⌋.</summary>
public sealed class StepLr(double baseLr, int stepSize, double gamma = 0.1) : LrSchedule(baseLr)
{
    private readonly int _stepSize = stepSize > 0 ? stepSize : throw new ArgumentOutOfRangeException(nameof(stepSize), $"step size must be positive, got {stepSize}.");

    /// <inheritdoc/>
    public override double LrAt(int step) => BaseLr * Math.Pow(gamma, step / _stepSize);
}

/// <summary>CosineAnnealingLR (closed form): lr = η_min + (base - η_min)·(1 + cos(π·step/T_max))/2.</summary>
public sealed class CosineLr(double baseLr, int tMax, double etaMin = 0) : LrSchedule(baseLr)
{
    private readonly int _tMax = tMax > 0 ? tMax : throw new ArgumentOutOfRangeException(nameof(tMax), $"T_max must be positive, got {tMax}.");

    /// <inheritdoc/>
    public override double LrAt(int step) => etaMin + (BaseLr - etaMin) * (1 + Math.Cos(Math.PI * Math.Min(step, _tMax) / _tMax)) / 2;
}
