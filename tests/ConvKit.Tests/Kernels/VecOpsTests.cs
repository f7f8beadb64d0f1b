using ConvKit.Kernels;
using Xunit;

namespace ConvKit.Tests.Kernels;

public class VecOpsTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 8)]
    [InlineData(7, 9)]
    [InlineData(16, 3)]
    [InlineData(17, 23)]
    [InlineData(64, 2304)]
    [InlineData(2304, 256)]
    public unsafe void TransposeMatchesPlainLoop(int rows, int cols)
    {
        var r = new Random(rows * 31 + cols);
        var src = new float[rows * cols];
        for (int i = 0; i < src.Length; i++) src[i] = (float)r.NextDouble();
        var dst = new float[rows * cols];
        fixed (float* s = src) fixed (float* d = dst)
        {
            // in two row ranges, the second starting off the 8-row grid, as the callers split it over threads
            int mid = Math.Min(rows, 5);
            VecOps.Transpose(s, rows, cols, d, 0, mid);
            VecOps.Transpose(s, rows, cols, d, mid, rows);
        }
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                Assert.Equal(src[i * cols + j], dst[j * rows + i]);
    }
}
