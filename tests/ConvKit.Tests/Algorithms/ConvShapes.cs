using ConvKit.Descriptors;

namespace ConvKit.Tests.Algorithms;

/// <summary>Seeded random convolution geometries for the differential tests.</summary>
public static class ConvShapes
{
    public enum Kind { General, Pointwise, Depthwise, Winograd3x3, Grouped, SmallChannels, StrideOne, RowStride, Strided, FirstLayer }

    public static ConvDescriptor Random(Random r, Kind kind)
    {
        while (true)
        {
            int rank = kind == Kind.Winograd3x3 ? 2 : kind is Kind.SmallChannels or Kind.StrideOne or Kind.RowStride or Kind.Strided or Kind.FirstLayer ? 1 + r.Next(2) : 1 + r.Next(3);
            int groups = kind switch { Kind.Depthwise => 2 + r.Next(5), Kind.General => r.Next(3) == 0 ? 1 + r.Next(3) : 1, _ => r.Next(5) == 0 ? 2 : 1 };
            int cg = kind == Kind.Depthwise ? 1 : Pick(r, 1, 2, 3, 5, 7, 8, 13, 17);
            int kg = Pick(r, 1, 2, 3, 5, 6, 7, 12, 16, 17);
            if (kind == Kind.Depthwise) kg = Pick(r, 1, 1, 1, 2, 3);
            if (kind == Kind.Grouped) { groups = 2 + r.Next(4); cg = Pick(r, 1, 2, 3, 4, 7, 16); }
            if (kind == Kind.Winograd3x3) { groups = 1; cg = Pick(r, 8, 9, 13, 17, 24); kg = Pick(r, 8, 11, 16, 17, 30); }
            if (kind == Kind.SmallChannels) { groups = Pick(r, 1, 1, 2, 3); cg = Pick(r, 1, 2, 3, 4); kg = Pick(r, 1, 4, 5, 8, 9, 12, 16, 17); }
            // output channels around the 12- and 6-row tiles of the implicit GEMM
            if (kind == Kind.StrideOne) { groups = 1; cg = Pick(r, 1, 2, 3, 7, 13, 30, 64); kg = Pick(r, 1, 5, 6, 7, 12, 13, 18, 25, 30, 49); }
            // channels around the 16-channel blocks and 32-channel tiles of the blocked direct kernel
            if (kind == Kind.RowStride) { groups = 1; cg = Pick(r, 1, 3, 16, 17, 33); kg = Pick(r, 1, 5, 16, 31, 32, 33, 64); }
            // rows of A around the 6-row tiles, output channels around the 64-channel panels of the strided implicit GEMM
            if (kind == Kind.Strided) { groups = 1; cg = Pick(r, 1, 2, 3, 5, 13); kg = Pick(r, 1, 7, 63, 64, 65, 100); }
            // output channels around the 16-channel halves and 32-channel tiles of the lane-channel kernel
            if (kind == Kind.FirstLayer) { groups = 1; cg = Pick(r, 1, 2, 3, 4, 5); kg = Pick(r, 1, 7, 16, 17, 31, 32, 33, 64); }
            int n = Pick(r, 1, 1, 2, 3);
            int maxSpatial = rank switch { 1 => 40, 2 => 19, _ => 7 };
            var input = new int[rank]; var kernel = new int[rank]; var stride = new int[rank]; var dil = new int[rank];
            var pb = new int[rank]; var pe = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                input[i] = 1 + r.Next(maxSpatial);
                switch (kind)
                {
                    case Kind.Pointwise: kernel[i] = 1; stride[i] = 1; dil[i] = 1; break;
                    case Kind.Winograd3x3: kernel[i] = 3; stride[i] = 1; dil[i] = 1; pb[i] = r.Next(3); pe[i] = r.Next(3); break;
                    case Kind.StrideOne: kernel[i] = 1 + r.Next(5); stride[i] = 1; dil[i] = 1 + r.Next(3); pb[i] = r.Next(3); pe[i] = r.Next(3); break;
                    case Kind.Strided:
                        // strides 1-4 (at least one axis above 1 below), kernels up to 7 (conv1), dilation
                        input[i] = 1 + r.Next(rank == 1 ? 80 : 30);
                        kernel[i] = 1 + r.Next(7); stride[i] = 1 + r.Next(4); dil[i] = 1 + r.Next(2); pb[i] = r.Next(4); pe[i] = r.Next(4);
                        break;
                    case Kind.FirstLayer:
                        // rows around its 14-position tiles, stride 1 or 2 along them (any down the columns), kernels to 7
                        input[i] = 1 + r.Next(i == rank - 1 ? 70 : 19);
                        kernel[i] = 1 + r.Next(7); stride[i] = i == rank - 1 ? 1 + r.Next(2) : 1 + r.Next(3); dil[i] = 1 + r.Next(2);
                        pb[i] = r.Next(4); pe[i] = r.Next(4);
                        break;
                    case Kind.RowStride:
                        // stride along every axis but the last (width), whose lengths pass runs of 7 positions
                        kernel[i] = 1 + r.Next(4); stride[i] = i == rank - 1 ? 1 : 1 + r.Next(3); dil[i] = 1 + r.Next(3);
                        pb[i] = r.Next(3); pe[i] = r.Next(3);
                        break;
                    case Kind.SmallChannels:
                        // widths past one and two vectors (8, 16) and their tails; kernels past one block of five taps
                        input[i] = 1 + r.Next(i == rank - 1 ? 40 : 19);
                        kernel[i] = 1 + r.Next(i == rank - 1 ? 7 : 5); stride[i] = 1; dil[i] = 1 + r.Next(3); pb[i] = r.Next(3); pe[i] = r.Next(3);
                        break;
                    default:
                        kernel[i] = 1 + r.Next(rank == 3 ? 3 : 5); stride[i] = 1 + r.Next(3); dil[i] = 1 + r.Next(3);
                        pb[i] = r.Next(3); pe[i] = r.Next(3);
                        break;
                }
            }
            bool ok = true;
            for (int i = 0; i < rank; i++)
                if (input[i] + pb[i] + pe[i] < dil[i] * (kernel[i] - 1) + 1) ok = false;
            if (!ok || (kind == Kind.Strided && stride.All(s => s == 1))) continue;
            return ConvDescriptor.FromGeometry(rank, n, cg * groups, kg * groups, groups, input, kernel, stride, dil, pb, pe, false);
        }
    }

    private static int Pick(Random r, params int[] v) => v[r.Next(v.Length)];

    public static float[] Data(Random r, int[] shape)
    {
        long len = 1; foreach (var s in shape) len *= s;
        var a = new float[len];
        for (int i = 0; i < a.Length; i++) a[i] = r.NextSingle() * 2 - 1;
        return a;
    }
}
