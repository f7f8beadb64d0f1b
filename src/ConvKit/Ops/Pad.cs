using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>Padding of the trailing spatial axes (zeros/constant, reflect, replicate, circular) and its backward,
/// as PyTorch's F.pad. Used by convolutions whose padding_mode is not zeros.</summary>
public static class PadOps
{
    /// <summary>Maps an output coordinate on one axis to its source coordinate, or -1 for a constant pad.</summary>
    internal static int Source(int o, int pad, int size, PaddingMode mode)
    {
        int i = o - pad;
        if ((uint)i < (uint)size) return i;
        switch (mode)
        {
            case PaddingMode.Reflect:
                if (size == 1) return 0;
                int period = 2 * (size - 1);
                i = ((i % period) + period) % period;
                return i < size ? i : period - i;
            case PaddingMode.Replicate:
                return i < 0 ? 0 : size - 1;
            case PaddingMode.Circular:
                return ((i % size) + size) % size;
            default:
                return -1;
        }
    }

    /// <summary>Pads the last <paramref name="begin"/>.Length axes of <paramref name="x"/>.</summary>
    public static Tensor<T> Pad<T>(Tensor<T> x, int[] begin, int[] end, PaddingMode mode, T value = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (lead, inSize, outSize) = Geometry(x.Shape, begin, end);
        var outShape = x.ShapeArray();
        for (int i = 0; i < inSize.Length; i++) outShape[outShape.Length - inSize.Length + i] = outSize[i];
        var y = new Tensor<T>(outShape);
        var src = x.AsSpan(); var dst = y.AsSpan();
        int inVol = src.Length / Math.Max(lead, 1), outVol = dst.Length / Math.Max(lead, 1);
        var map = SourceMaps(begin, inSize, outSize, mode);
        for (int l = 0; l < lead; l++)
            for (int o = 0; o < outVol; o++)
            {
                int s = Flat(o, map, inSize, outSize);
                dst[l * outVol + o] = s < 0 ? value : src[l * inVol + s];
            }
        return y;
    }

    /// <summary>Gradient of <see cref="Pad{T}"/>: sums the gradient of every padded position into its source.</summary>
    public static Tensor<T> PadBackward<T>(Tensor<T> gy, int[] inputShape, int[] begin, int[] end, PaddingMode mode)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gx = new Tensor<T>(inputShape);
        var (lead, inSize, outSize) = Geometry(inputShape, begin, end);
        var src = gy.AsSpan(); var dst = gx.AsSpan();
        int inVol = dst.Length / Math.Max(lead, 1), outVol = src.Length / Math.Max(lead, 1);
        var map = SourceMaps(begin, inSize, outSize, mode);
        for (int l = 0; l < lead; l++)
            for (int o = 0; o < outVol; o++)
            {
                int s = Flat(o, map, inSize, outSize);
                if (s >= 0) dst[l * inVol + s] += src[l * outVol + o];
            }
        return gx;
    }

    private static (int lead, int[] inSize, int[] outSize) Geometry(ReadOnlySpan<int> shape, int[] begin, int[] end)
    {
        int r = begin.Length;
        if (end.Length != r || shape.Length < r)
            throw new ArgumentException($"pad: {r} axes to pad but input has shape {ShapeMath.Format(shape)}.", "pad");
        var inSize = shape[^r..].ToArray();
        var outSize = new int[r];
        for (int i = 0; i < r; i++)
        {
            outSize[i] = inSize[i] + begin[i] + end[i];
            if (outSize[i] <= 0) throw new ArgumentException($"pad: padded size {outSize[i]} on axis {i} is not positive.", "pad");
        }
        int lead = ShapeMath.Numel(shape[..^r], "input");
        ShapeMath.Numel([lead, .. outSize], "output");
        return (lead, inSize, outSize);
    }

    private static int[][] SourceMaps(int[] begin, int[] inSize, int[] outSize, PaddingMode mode)
    {
        var maps = new int[inSize.Length][];
        for (int a = 0; a < inSize.Length; a++)
        {
            maps[a] = new int[outSize[a]];
            for (int o = 0; o < outSize[a]; o++) maps[a][o] = Source(o, begin[a], inSize[a], mode);
        }
        return maps;
    }

    private static int Flat(int o, int[][] map, int[] inSize, int[] outSize)
    {
        int s = 0, mul = 1;
        for (int a = inSize.Length - 1; a >= 0; a--)
        {
            int c = o % outSize[a]; o /= outSize[a];
            int m = map[a][c];
            if (m < 0) return -1;
            s += m * mul; mul *= inSize[a];
        }
        return s;
    }
}
