using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Nn;

public static partial class Autograd
{
    /// <summary>
    /// Cross-entropy of logits [N, C] against class indices (PyTorch's F.cross_entropy, reduction 'mean').
    /// With label smoothing ε the target is (1-ε)·one_hot + ε/C. Computed with a stable log-softmax.
    /// </summary>
    /// <param name="logits">Unnormalized scores [N, C].</param>
    /// <param name="target">Class index per sample, each in [0, C).</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    public static Variable<T> CrossEntropy<T>(Variable<T> logits, ReadOnlySpan<int> target, double labelSmoothing = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (logits.Data.Rank != 2) throw new ArgumentException($"logits: expected [N, C], got {ShapeMath.Format(logits.Shape)}.", nameof(logits));
        int n = logits.Data.Size(0), c = logits.Data.Size(1);
        if (target.Length != n) throw new ArgumentException($"target: {target.Length} labels for {n} rows of logits {ShapeMath.Format(logits.Shape)}.", nameof(target));
        if (labelSmoothing < 0 || labelSmoothing > 1) throw new ArgumentOutOfRangeException(nameof(labelSmoothing), $"label smoothing must be in [0, 1], got {labelSmoothing}.");
        if (n == 0) throw new ArgumentException("logits: empty batch.", nameof(logits));
        var ls = logits.Data.AsSpan();
        var prob = new double[n * c];
        var tgt = target.ToArray();
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            int t = tgt[i];
            if ((uint)t >= (uint)c) throw new ArgumentException($"target: label {t} at index {i} is outside [0, {c}).", nameof(target));
            var row = ls.Slice(i * c, c);
            double max = double.NegativeInfinity;
            for (int j = 0; j < c; j++) max = Math.Max(max, double.CreateTruncating(row[j]));
            double sum = 0;
            for (int j = 0; j < c; j++) { double e = Math.Exp(double.CreateTruncating(row[j]) - max); prob[i * c + j] = e; sum += e; }
            double logZ = max + Math.Log(sum);
            double nll = logZ - double.CreateTruncating(row[t]);
            double smooth = 0;
            if (labelSmoothing > 0)
            {
                for (int j = 0; j < c; j++) smooth += logZ - double.CreateTruncating(row[j]);
                smooth /= c;
            }
            loss += (1 - labelSmoothing) * nll + labelSmoothing * smooth;
            for (int j = 0; j < c; j++) prob[i * c + j] /= sum;
        }
        var y = Tensor.Full(T.CreateTruncating(loss / n), 1);
        return new Variable<T>(y, [logits], g =>
        {
            double scale = double.CreateTruncating(g.AsSpan()[0]) / n;
            var gx = new Tensor<T>(n, c);
            var gs = gx.AsSpan();
            for (int i = 0; i < n; i++)
                for (int j = 0; j < c; j++)
                {
                    double target_ = labelSmoothing / c + (j == tgt[i] ? 1 - labelSmoothing : 0);
                    gs[i * c + j] = T.CreateTruncating((prob[i * c + j] - target_) * scale);
                }
            logits.Accumulate(gx);
        });
    }

    /// <summary>Mean squared error between <paramref name="input"/> and a constant <paramref name="target"/> of the same shape (PyTorch's F.mse_loss).</summary>
    public static Variable<T> MseLoss<T>(Variable<T> input, Tensor<T> target) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!input.Data.SameShape(target))
            throw new ArgumentException($"target: shape {ShapeMath.Format(target.Shape)} does not match input {ShapeMath.Format(input.Shape)}.", nameof(target));
        var xs = input.Data.AsSpan(); var ts = target.AsSpan();
        double sum = 0;
        for (int i = 0; i < xs.Length; i++) { double d = double.CreateTruncating(xs[i] - ts[i]); sum += d * d; }
        int count = Math.Max(1, xs.Length);
        var y = Tensor.Full(T.CreateTruncating(sum / count), 1);
        return new Variable<T>(y, [input], g =>
        {
            T scale = T.CreateTruncating(2.0 / count) * g.AsSpan()[0];
            var gx = new Tensor<T>(input.Data.ShapeArray());
            var gs = gx.AsSpan(); var x2 = input.Data.AsSpan(); var t2 = target.AsSpan();
            for (int i = 0; i < gs.Length; i++) gs[i] = (x2[i] - t2[i]) * scale;
            input.Accumulate(gx);
        });
    }
}
