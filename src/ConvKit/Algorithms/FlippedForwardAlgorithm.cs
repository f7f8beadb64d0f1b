using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Algorithms;

/// <summary>
/// Backward-data of a stride-1 convolution run as a forward convolution: gx = conv(gy, W′) where W′ swaps each
/// group's input and output channels and rotates the kernel by 180°, with padding dilation·(k − 1) − pad on each
/// side. The forward planner then picks the kernel (Winograd, direct or the GEMM lowering), so backward-data gets the
/// forward paths: no col2im scatter, and a GEMM whose depth is K·kernel volume instead of K. Declines strides above 1
/// (the forward form would need zero insertion) and padding larger than the dilated kernel extent.
/// </summary>
public sealed class FlippedForwardAlgorithm : IConvAlgorithm
{
    private readonly bool _heuristic;

    /// <summary>The instance used when forced: every stride-1 shape it can express.</summary>
    public static FlippedForwardAlgorithm Instance { get; } = new(false);

    /// <summary>The instance the planner tries: only where the forward form gets a faster kernel than the GEMM
    /// lowering has for backward-data: Winograd, the depthwise or the small-channel kernel. Where the forward form is
    /// itself a GEMM lowering it lost or tied on every benchmark layer (e.g. ResNet-50 res5 4.8 against 1.6 ms on 2
    /// threads: a column matrix of K·9 rows instead of a scatter of C·9 rows, plus the weight rearrangement).</summary>
    public static FlippedForwardAlgorithm Preferred { get; } = new(true);

    private FlippedForwardAlgorithm(bool heuristic) => _heuristic = heuristic;

    // Forward kernels that beat the GEMM lowering's backward-data when run on the flipped problem (measured 2 threads,
    // Zen 4): Winograd (VGG-16 3×3), the depthwise kernel (MobileNetV2 3×3: 0.44 → 0.19 ms) and the small-channel
    // kernel (ResNeXt's 4-channel groups: 0.57 → 0.26 ms); on a Xeon with AVX-512, the implicit GEMM (CIFAR batch
    // 9.8 → 8.1 ms, ResNet-50 res2 1.06 → 0.91 ms).
    private static readonly string[] s_fastForwards = [WinogradAlgorithm.Preferred4.Name, DepthwiseAlgorithm.Preferred.Name, DirectSmallChannelAlgorithm.Preferred.Name, ImplicitGemmAlgorithm.Preferred.Name];

    /// <inheritdoc/>
    public string Name => "flipped_forward";

    /// <inheritdoc/>
    public ConvPlan? TryPlan(ConvDescriptor core, ConvDirection direction)
    {
        if (direction != ConvDirection.BackwardData) return null;
        var flipped = FlippedDescriptor(core);
        if (flipped is null) return null;
        var forward = ConvPlanner.Plan(flipped, ConvDirection.Forward);
        // The flip is a pass over all the weights; with few output positions per weight (ResNet-50 res5: 49) it cost
        // more than the GEMM lowering's whole backward-data (2.2 against 1.8 ms on 2 threads).
        if (_heuristic && (!s_fastForwards.Contains(forward.AlgorithmName) || (long)core.N * core.OutputVolume < 128)) return null;
        return new Plan(core, forward);
    }

    /// <summary>The forward problem whose output is backward-data's gx: gy as input, channels swapped, padding
    /// dilation·(k − 1) − pad; null for strides above 1 or padding past the dilated kernel.</summary>
    internal static ConvDescriptor? FlippedDescriptor(ConvDescriptor core)
    {
        int r = core.Rank;
        var pb = new int[r]; var pe = new int[r];
        for (int i = 0; i < r; i++)
        {
            int extent = core.Dilation[i] * (core.KernelSize[i] - 1);
            if (core.Stride[i] != 1 || core.PadBegin[i] > extent || core.PadEnd[i] > extent) return null;
            pb[i] = extent - core.PadBegin[i];
            pe[i] = extent - core.PadEnd[i];
        }
        var flipped = ConvDescriptor.FromGeometry(r, core.N, core.OutChannels, core.InChannels, core.Groups, core.OutputSize, core.KernelSize,
            core.Stride, core.Dilation, pb, pe, false);
        return flipped.OutputSize.AsSpan().SequenceEqual(core.InputSize) ? flipped : null;
    }

    private sealed unsafe class Plan(ConvDescriptor d, ConvPlan forward) : ConvPlan("flipped_forward", d, ConvDirection.BackwardData)
    {
        // The forward plan uses the shared per-thread workspace, so the flipped weights live in a buffer of their own.
        [ThreadStatic] private static float[]? t_weights;

        private protected override void RunBackwardData(ReadOnlySpan<float> gy, ReadOnlySpan<float> w, Span<float> gx)
        {
            // The forward form multiplies the weights by the zero border of gy: an infinite weight would give 0·∞ = NaN
            // in elements whose true gradient is finite, so such weights take the lowering, which drops those products.
            if (!VecOps.AllFinite(w))
            {
                Lowering.BackwardData(gy, w, gx);
                return;
            }
            var g = G;
            if (t_weights is null || t_weights.Length < w.Length) t_weights = GC.AllocateUninitializedArray<float>(w.Length);
            var wf = t_weights.AsSpan(0, w.Length);
            // W[grp·Kg + k, c, tap] → W′[grp·Cg + c, k, KV − 1 − tap]: a transpose of (k, c) with reversed taps, in
            // 16×16 blocks (a row-by-row walk read ResNet-50 res5's 9.4 MB of weights at an 18 KB stride and took
            // longer than the convolution), blocks of c split over threads; kernels of up to 16 taps are reversed
            // in one AVX-512 permute.
            fixed (float* ws = w) fixed (float* wd = wf)
            {
                const int B = 16;
                int kv = g.KV, cBlocks = (g.Cg + B - 1) / B;
                nint pws = (nint)ws, pwd = (nint)wd;
                bool wide = Avx512F.IsSupported && kv <= 16;
                var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                var mask = Vector512.LessThan(lanes, Vector512.Create(kv)).AsSingle();
                var reverse = Vector512.ConditionalSelect(mask.AsInt32(), Vector512.Create(kv - 1) - lanes, lanes);
                VecOps.ParallelRanges(g.Groups * cBlocks, (long)B * g.Kg * kv, (lo, hi) =>
                {
                    float* src = (float*)pws, dst = (float*)pwd;
                    for (int item = lo; item < hi; item++)
                    {
                        int grp = item / cBlocks, c0 = item % cBlocks * B, c1 = Math.Min(g.Cg, c0 + B);
                        for (int k0 = 0; k0 < g.Kg; k0 += B)
                            for (int c = c0; c < c1; c++)
                            {
                                int k1 = Math.Min(g.Kg, k0 + B);
                                float* d = dst + ((long)(grp * g.Cg + c) * g.Kg + k0) * kv;
                                for (int k = k0; k < k1; k++, d += kv)
                                {
                                    float* sp = src + ((long)(grp * g.Kg + k) * g.Cg + c) * kv;
                                    if (wide)
                                    {
                                        // the kernel's taps reversed in one masked load, permute and store
                                        var v = Avx512F.MaskLoad(sp, mask, Vector512<float>.Zero);
                                        Avx512F.MaskStore(d, mask, Avx512F.PermuteVar16x32(v, reverse));
                                    }
                                    else
                                        for (int t = 0; t < kv; t++) d[t] = sp[kv - 1 - t];
                                }
                            }
                    }
                });
            }
            forward.Forward(gy, wf, default, gx);
        }

        public override string ToString() => $"{base.ToString()} via {forward.AlgorithmName}";
    }
}
