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

    [Theory]
    [InlineData(32, 28, 784, 32)]
    [InlineData(19, 13, 20, 24)]
    [InlineData(8, 8, 9, 8)]
    public unsafe void TransposeWithStridesLeavesTheGapsAlone(int rows, int cols, int srcStride, int dstStride)
    {
        var r = new Random(rows + cols);
        var src = new float[rows * srcStride];
        for (int i = 0; i < src.Length; i++) src[i] = (float)r.NextDouble();
        var dst = Enumerable.Repeat(-1f, cols * dstStride).ToArray();
        fixed (float* s = src) fixed (float* d = dst) VecOps.Transpose(s, rows, cols, d, 0, rows, srcStride, dstStride);
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < dstStride; i++)
                Assert.Equal(i < rows ? src[i * srcStride + j] : -1f, dst[j * dstStride + i]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(37)]
    public void AllFiniteFindsEveryNonFiniteValue(int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i % 3 == 0 ? float.MaxValue : i % 3 == 1 ? -0f : -float.Epsilon;
        Assert.True(VecOps.AllFinite(x));
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            for (int i = 0; i < n; i++)
            {
                float keep = x[i];
                x[i] = bad;
                Assert.False(VecOps.AllFinite(x), $"{bad} at {i} of {n}");
                x[i] = keep;
            }
    }

    [Fact]
    public unsafe void AllFiniteSplitOverThreadsFindsANonFiniteValueInAnyChunk()
    {
        var x = new float[(1 << 18) * 3 + 77];
        fixed (float* p = x)
        {
            Assert.True(VecOps.AllFinite(p, x.Length));
            foreach (int at in new[] { 0, 1 << 16, (1 << 18) + 5, x.Length - 1 })
            {
                x[at] = float.NegativeInfinity;
                Assert.False(VecOps.AllFinite(p, x.Length), $"at {at}");
                x[at] = 0f;
            }
        }
    }
}
