using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Kernels;

namespace ConvKit.Reference;

/// <summary>
/// The reference twin of every convolution algorithm: plain loops, obviously right, accumulating in double.
/// It works on any <see cref="ConvDescriptor.Core"/> descriptor (zero padding, cross-correlation), 1-d, 2-d or
/// 3-d alike: lower ranks are treated as 3-d with leading spatial sizes of 1. Transposed convolution is
/// <see cref="BackwardData{T}"/> of its <see cref="ConvTransposeDescriptor.Conv"/>.
/// </summary>
public static class ConvReference
{
    // The engine's 3-axis geometry (lower ranks get leading sizes of 1); the index helpers are the reference's own.
    private static int X(in ConvGeometry g, int n, int c, int z, int y, int x) => (((n * g.C + c) * g.ID + z) * g.IH + y) * g.IW + x;
    private static int W(in ConvGeometry g, int k, int c, int z, int y, int x) => (((k * g.Cg + c) * g.KD + z) * g.KH + y) * g.KW + x;
    private static int Y(in ConvGeometry g, int n, int k, int z, int y, int x) => (((n * g.K + k) * g.OD + z) * g.OH + y) * g.OW + x;

    private static void CheckLengths<T>(ConvDescriptor d, int x, int w, int y)
    {
        if (x != Tensors.ShapeMath.Numel(d.InputShape, "input")) throw new ArgumentException($"input: length {x} does not match {Tensors.ShapeMath.Format(d.InputShape)}.", "input");
        if (w != Tensors.ShapeMath.Numel(d.WeightShape, "weight")) throw new ArgumentException($"weight: length {w} does not match {Tensors.ShapeMath.Format(d.WeightShape)}.", "weight");
        if (y != Tensors.ShapeMath.Numel(d.OutputShape, "output")) throw new ArgumentException($"output: length {y} does not match {Tensors.ShapeMath.Format(d.OutputShape)}.", "output");
    }

    /// <summary>y = conv(x, w) + b. <paramref name="bias"/> may be empty.</summary>
    public static void Forward<T>(ConvDescriptor d, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(d);
        CheckLengths<T>(d, x.Length, w.Length, y.Length);
        for (int n = 0; n < g.N; n++)
        for (int k = 0; k < g.K; k++)
        {
            int grp = k / g.Kg;
            double b = bias.IsEmpty ? 0 : double.CreateTruncating(bias[k]);
            for (int oz = 0; oz < g.OD; oz++)
            for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++)
            {
                double acc = b;
                for (int c = 0; c < g.Cg; c++)
                for (int kz = 0; kz < g.KD; kz++)
                {
                    int iz = oz * g.SD - g.PD + kz * g.DD;
                    if ((uint)iz >= (uint)g.ID) continue;
                    for (int ky = 0; ky < g.KH; ky++)
                    {
                        int iy = oy * g.SH - g.PH + ky * g.DH;
                        if ((uint)iy >= (uint)g.IH) continue;
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int ix = ox * g.SW - g.PW + kx * g.DW;
                            if ((uint)ix >= (uint)g.IW) continue;
                            acc += double.CreateTruncating(x[X(g, n, grp * g.Cg + c, iz, iy, ix)]) * double.CreateTruncating(w[W(g, k, c, kz, ky, kx)]);
                        }
                    }
                }
                y[Y(g, n, k, oz, oy, ox)] = T.CreateTruncating(acc);
            }
        }
    }

    /// <summary>gx = ∂L/∂x given gy = ∂L/∂y (overwrites <paramref name="gx"/>). Also transposed convolution's forward.</summary>
    public static void BackwardData<T>(ConvDescriptor d, ReadOnlySpan<T> gy, ReadOnlySpan<T> w, Span<T> gx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(d);
        CheckLengths<T>(d, gx.Length, w.Length, gy.Length);
        var acc = new double[gx.Length];
        for (int n = 0; n < g.N; n++)
        for (int k = 0; k < g.K; k++)
        {
            int grp = k / g.Kg;
            for (int oz = 0; oz < g.OD; oz++)
            for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++)
            {
                double gv = double.CreateTruncating(gy[Y(g, n, k, oz, oy, ox)]);
                for (int c = 0; c < g.Cg; c++)
                for (int kz = 0; kz < g.KD; kz++)
                {
                    int iz = oz * g.SD - g.PD + kz * g.DD;
                    if ((uint)iz >= (uint)g.ID) continue;
                    for (int ky = 0; ky < g.KH; ky++)
                    {
                        int iy = oy * g.SH - g.PH + ky * g.DH;
                        if ((uint)iy >= (uint)g.IH) continue;
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int ix = ox * g.SW - g.PW + kx * g.DW;
                            if ((uint)ix >= (uint)g.IW) continue;
                            acc[X(g, n, grp * g.Cg + c, iz, iy, ix)] += gv * double.CreateTruncating(w[W(g, k, c, kz, ky, kx)]);
                        }
                    }
                }
            }
        }
        for (int i = 0; i < acc.Length; i++) gx[i] = T.CreateTruncating(acc[i]);
    }

    /// <summary>gw = ∂L/∂w given the forward input x and gy (overwrites <paramref name="gw"/>).</summary>
    public static void BackwardWeight<T>(ConvDescriptor d, ReadOnlySpan<T> x, ReadOnlySpan<T> gy, Span<T> gw)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(d);
        CheckLengths<T>(d, x.Length, gw.Length, gy.Length);
        for (int k = 0; k < g.K; k++)
        {
            int grp = k / g.Kg;
            for (int c = 0; c < g.Cg; c++)
            for (int kz = 0; kz < g.KD; kz++)
            for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
            {
                double acc = 0;
                for (int n = 0; n < g.N; n++)
                for (int oz = 0; oz < g.OD; oz++)
                {
                    int iz = oz * g.SD - g.PD + kz * g.DD;
                    if ((uint)iz >= (uint)g.ID) continue;
                    for (int oy = 0; oy < g.OH; oy++)
                    {
                        int iy = oy * g.SH - g.PH + ky * g.DH;
                        if ((uint)iy >= (uint)g.IH) continue;
                        for (int ox = 0; ox < g.OW; ox++)
                        {
                            int ix = ox * g.SW - g.PW + kx * g.DW;
                            if ((uint)ix >= (uint)g.IW) continue;
                            acc += double.CreateTruncating(x[X(g, n, grp * g.Cg + c, iz, iy, ix)]) * double.CreateTruncating(gy[Y(g, n, k, oz, oy, ox)]);
                        }
                    }
                }
                gw[W(g, k, c, kz, ky, kx)] = T.CreateTruncating(acc);
            }
        }
    }

    /// <summary>gb[k] = Σ gy[n, k, ...] (overwrites <paramref name="gb"/>).</summary>
    public static void BackwardBias<T>(int n, int channels, int spatial, ReadOnlySpan<T> gy, Span<T> gb)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < channels; k++)
        {
            double acc = 0;
            for (int b = 0; b < n; b++)
            {
                var row = gy.Slice((b * channels + k) * spatial, spatial);
                foreach (var v in row) acc += double.CreateTruncating(v);
            }
            gb[k] = T.CreateTruncating(acc);
        }
    }
}
