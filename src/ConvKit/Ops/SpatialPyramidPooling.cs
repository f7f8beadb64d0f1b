using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>Reduction used in every bin of a spatial pyramid.</summary>
public enum PyramidPoolMode
{
    /// <summary>Maximum of the bin (NaN propagates; the first maximum in row-major order receives the gradient).</summary>
    Max,
    /// <summary>Mean of the bin.</summary>
    Avg,
}

/// <summary>
/// Spatial pyramid pooling (He et al., 2014): for each level l, the H×W plane is split into l×l adaptive bins
/// (bin i of n over a length L spans [floor(i·L/n), ceil((i+1)·L/n)), the same rule as PyTorch's adaptive pooling)
/// and each bin is max- or average-pooled. The result is [N, C·Σl²] for any input size: level by level, and within a
/// level channel-major with bins row-major (i.e. cat over levels of adaptive_pool(x, l).flatten(1)).
/// </summary>
public static class SpatialPyramidPooling
{
    /// <summary>Start (inclusive) of adaptive bin <paramref name="i"/> of <paramref name="bins"/> over <paramref name="length"/>.</summary>
    public static int BinStart(int i, int length, int bins) => (int)((long)i * length / bins);

    /// <summary>End (exclusive) of adaptive bin <paramref name="i"/>: ceil((i+1)·length/bins).</summary>
    public static int BinEnd(int i, int length, int bins) => (int)(((long)(i + 1) * length + bins - 1) / bins);

    /// <summary>Validates the levels and the input; returns the output width C·Σl².</summary>
    public static int OutputFeatures(ReadOnlySpan<int> inputShape, ReadOnlySpan<int> levels)
    {
        if (inputShape.Length != 4 || inputShape[2] < 1 || inputShape[3] < 1)
            throw new ArgumentException($"input: expected [N, C, H, W] with H, W >= 1, got {ShapeMath.Format(inputShape)}.", "input");
        if (levels.Length == 0) throw new ArgumentException("levels: at least one pyramid level is needed, e.g. [1, 2, 4].", "levels");
        long f = 0;
        foreach (var l in levels)
        {
            if (l < 1) throw new ArgumentException($"levels: every level must be >= 1, got {ShapeMath.Format(levels)}.", "levels");
            f += (long)l * l;
        }
        long total = f * inputShape[1];
        if (total > int.MaxValue || (long)inputShape[0] * total > int.MaxValue)
            throw new ArgumentException($"levels: {ShapeMath.Format(levels)} on input {ShapeMath.Format(inputShape)} overflows Int32.", "levels");
        return (int)total;
    }

    /// <summary>Forward pass; bin bounds are computed once per level and axis.</summary>
    public static void Forward<T>(ReadOnlySpan<int> shape, ReadOnlySpan<int> levels, PyramidPoolMode mode, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3], hw = h * w;
        int features = OutputFeatures(shape, levels);
        CheckLengths(shape, features, x.Length, y.Length, "x", "y");
        int levelBase = 0;
        foreach (int l in levels)
        {
            var (hs, he) = Bins(h, l);
            var (ws, we) = Bins(w, l);
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                {
                    var plane = x.Slice((b * c + ch) * hw, hw);
                    var dst = y.Slice(b * features + levelBase + ch * l * l, l * l);
                    for (int i = 0; i < l; i++)
                        for (int j = 0; j < l; j++)
                            dst[i * l + j] = mode == PyramidPoolMode.Max
                                ? plane[ArgMax(plane, w, hs[i], he[i], ws[j], we[j])]
                                : T.CreateTruncating(Sum(plane, w, hs[i], he[i], ws[j], we[j]) / ((he[i] - hs[i]) * (we[j] - ws[j])));
                }
            levelBase += c * l * l;
        }
    }

    /// <summary>Backward pass: max sends each bin's gradient to its (first) maximum, avg spreads it evenly over the bin.</summary>
    public static void Backward<T>(ReadOnlySpan<int> shape, ReadOnlySpan<int> levels, PyramidPoolMode mode, ReadOnlySpan<T> x,
        ReadOnlySpan<T> gradOutput, Span<T> gradInput) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3], hw = h * w;
        int features = OutputFeatures(shape, levels);
        CheckLengths(shape, features, Math.Min(x.Length, gradInput.Length), gradOutput.Length, "x", "gradOutput");
        gradInput.Clear();
        int levelBase = 0;
        foreach (int l in levels)
        {
            var (hs, he) = Bins(h, l);
            var (ws, we) = Bins(w, l);
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                {
                    var plane = x.Slice((b * c + ch) * hw, hw);
                    var gp = gradInput.Slice((b * c + ch) * hw, hw);
                    var go = gradOutput.Slice(b * features + levelBase + ch * l * l, l * l);
                    for (int i = 0; i < l; i++)
                        for (int j = 0; j < l; j++)
                        {
                            if (mode == PyramidPoolMode.Max)
                            {
                                gp[ArgMax(plane, w, hs[i], he[i], ws[j], we[j])] += go[i * l + j];
                                continue;
                            }
                            var share = go[i * l + j] / T.CreateTruncating((he[i] - hs[i]) * (we[j] - ws[j]));
                            for (int r = hs[i]; r < he[i]; r++)
                                for (int s = ws[j]; s < we[j]; s++) gp[r * w + s] += share;
                        }
                }
            levelBase += c * l * l;
        }
    }

    /// <summary>Plain reference twin: one adaptive pooling per level written out directly (bounds from floor/ceil
    /// of real division), then flattened and concatenated.</summary>
    public static void ForwardReference<T>(ReadOnlySpan<int> shape, ReadOnlySpan<int> levels, PyramidPoolMode mode, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3];
        CheckLengths(shape, OutputFeatures(shape, levels), x.Length, y.Length, "x", "y");
        int o = 0;
        var outs = new List<double>[n];
        for (int b = 0; b < n; b++) outs[b] = [];
        foreach (int l in levels)
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < l; i++)
                        for (int j = 0; j < l; j++)
                        {
                            int r0 = (int)Math.Floor((double)i * h / l), r1 = (int)Math.Ceiling((double)(i + 1) * h / l);
                            int c0 = (int)Math.Floor((double)j * w / l), c1 = (int)Math.Ceiling((double)(j + 1) * w / l);
                            double acc = mode == PyramidPoolMode.Max ? double.NegativeInfinity : 0;
                            for (int r = r0; r < r1; r++)
                                for (int s = c0; s < c1; s++)
                                {
                                    double v = double.CreateTruncating(x[((b * c + ch) * h + r) * w + s]);
                                    acc = mode == PyramidPoolMode.Avg ? acc + v : (double.IsNaN(v) || v > acc ? v : acc);
                                    if (mode == PyramidPoolMode.Max && double.IsNaN(acc)) goto done;
                                }
                            done:
                            outs[b].Add(mode == PyramidPoolMode.Avg ? acc / ((r1 - r0) * (c1 - c0)) : acc);
                        }
        for (int b = 0; b < n; b++)
            foreach (var v in outs[b]) y[o++] = T.CreateTruncating(v);
    }

    private static void CheckLengths(ReadOnlySpan<int> shape, int features, int inLength, int outLength, string inName, string outName)
    {
        long need = (long)shape[0] * shape[1] * shape[2] * shape[3];
        if (inLength < need) throw new ArgumentException($"{inName}: {inLength} elements, shape {ShapeMath.Format(shape)} needs {need}.", inName);
        if (outLength < (long)shape[0] * features)
            throw new ArgumentException($"{outName}: {outLength} elements, [{shape[0]}, {features}] needs {(long)shape[0] * features}.", outName);
    }

    private static (int[] Start, int[] End) Bins(int length, int bins)
    {
        var s = new int[bins];
        var e = new int[bins];
        for (int i = 0; i < bins; i++) { s[i] = BinStart(i, length, bins); e[i] = BinEnd(i, length, bins); }
        return (s, e);
    }

    private static int ArgMax<T>(ReadOnlySpan<T> plane, int w, int r0, int r1, int c0, int c1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int best = r0 * w + c0;
        T bv = plane[best];
        if (T.IsNaN(bv)) return best;
        for (int r = r0; r < r1; r++)
            for (int s = c0; s < c1; s++)
            {
                T v = plane[r * w + s];
                if (T.IsNaN(v)) return r * w + s;
                if (v > bv) { bv = v; best = r * w + s; }
            }
        return best;
    }

    private static double Sum<T>(ReadOnlySpan<T> plane, int w, int r0, int r1, int c0, int c1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double acc = 0;
        for (int r = r0; r < r1; r++)
            for (int s = c0; s < c1; s++) acc += double.CreateTruncating(plane[r * w + s]);
        return acc;
    }

    internal static PyramidPoolMode ParseMode(string? mode) => (mode ?? "max").ToLowerInvariant() switch
    {
        "max" => PyramidPoolMode.Max,
        "avg" or "mean" or "average" => PyramidPoolMode.Avg,
        var s => throw new ArgumentException($"mode: unknown pyramid pooling mode '{s}' (max, avg).", "mode"),
    };

    [Op("spatial_pyramid_pool2d")]
    internal static Tensor<T>[] SpatialPyramidPool2dOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.SpatialPyramidPool2d(c.Input("input"), c.Ints("levels") ?? [1, 2, 4], ParseMode(c.String("mode")))];

    [Op("grad.spatial_pyramid_pool2d")]
    internal static Tensor<T>[] SpatialPyramidPool2dGradOp<T>(OpCall<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        => [Functional.SpatialPyramidPool2dBackward(c.Input("grad_output"), c.Input("input"), c.Ints("levels") ?? [1, 2, 4], ParseMode(c.String("mode")))];
}
