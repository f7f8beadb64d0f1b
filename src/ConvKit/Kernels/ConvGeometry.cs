using ConvKit.Descriptors;

namespace ConvKit.Kernels;

/// <summary>
/// A <see cref="ConvDescriptor.Core"/> descriptor flattened to three spatial axes (depth, height, width; lower ranks
/// get leading sizes of 1) so every kernel handles 1-d, 2-d and 3-d alike.
/// </summary>
internal readonly struct ConvGeometry
{
    public readonly int N, C, K, Groups, Cg, Kg;
    public readonly int ID, IH, IW, KD, KH, KW, OD, OH, OW;
    public readonly int SD, SH, SW, DD, DH, DW, PD, PH, PW;
    /// <summary>Padding after each axis (only used to classify shapes).</summary>
    public readonly int PDe, PHe, PWe;
    /// <summary>Input, kernel and output volumes; Cg·KV is the GEMM depth of one group.</summary>
    public readonly int IV, KV, OV, CKV;

    public ConvGeometry(ConvDescriptor d)
    {
        if (!ReferenceEquals(d.Core, d))
            throw new ArgumentException("descriptor: convolution kernels run Core descriptors (zero padding, no flip); run descriptor.Core on the padded input.", "descriptor");
        int r = d.Rank;
        int At(int[] a, int axis, int dflt) => axis >= 3 - r ? a[axis - (3 - r)] : dflt;
        N = d.N; C = d.InChannels; K = d.OutChannels; Groups = d.Groups; Cg = C / Groups; Kg = K / Groups;
        ID = At(d.InputSize, 0, 1); IH = At(d.InputSize, 1, 1); IW = At(d.InputSize, 2, 1);
        KD = At(d.KernelSize, 0, 1); KH = At(d.KernelSize, 1, 1); KW = At(d.KernelSize, 2, 1);
        OD = At(d.OutputSize, 0, 1); OH = At(d.OutputSize, 1, 1); OW = At(d.OutputSize, 2, 1);
        SD = At(d.Stride, 0, 1); SH = At(d.Stride, 1, 1); SW = At(d.Stride, 2, 1);
        DD = At(d.Dilation, 0, 1); DH = At(d.Dilation, 1, 1); DW = At(d.Dilation, 2, 1);
        PD = At(d.PadBegin, 0, 0); PH = At(d.PadBegin, 1, 0); PW = At(d.PadBegin, 2, 0);
        PDe = At(d.PadEnd, 0, 0); PHe = At(d.PadEnd, 1, 0); PWe = At(d.PadEnd, 2, 0);
        IV = ID * IH * IW; KV = KD * KH * KW; OV = OD * OH * OW; CKV = Cg * KV;
    }

    /// <summary>Kernel 1×1(×1), stride 1, no padding: the input itself is the GEMM operand.</summary>
    public bool IsPointwise => KV == 1 && SD == 1 && SH == 1 && SW == 1 && PD == 0 && PH == 0 && PW == 0 && PDe == 0 && PHe == 0 && PWe == 0;

    /// <summary>Total input, weight and output lengths.</summary>
    public long XLen => (long)N * C * IV;
    /// <summary>Weight length.</summary>
    public long WLen => (long)K * CKV;
    /// <summary>Output length.</summary>
    public long YLen => (long)N * K * OV;
}
