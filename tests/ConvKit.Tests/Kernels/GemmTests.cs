using ConvKit.Kernels;
using Xunit;

namespace ConvKit.Tests.Kernels;

[Collection(EngineSettingsCollection.Name)]
public class GemmTests
{
    private static float[] Rand(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = r.NextSingle() * 2 - 1;
        return a;
    }

    public static IEnumerable<object[]> Shapes()
    {
        int[] sizes = [1, 2, 5, 6, 7, 13, 16, 17, 31, 97];
        var r = new Random(42);
        foreach (var m in sizes)
            foreach (var n in new[] { 1, 15, 16, 17, 33 })
                yield return [m, n, sizes[r.Next(sizes.Length)]];
        // blocking edges: k across KC, m across MC, n across NC
        yield return [GemmCore.MC + 7, 40, GemmCore.KC + 3];
        yield return [13, GemmCore.NC + 17, 9];
        yield return [250, 70, 600];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesReferenceAllTransposes(int m, int n, int k)
    {
        int seed = m * 1000003 + n * 1009 + k;
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (var (alpha, beta) in new[] { (1f, 0f), (0.5f, 1f), (-1.5f, 0.25f) })
                {
                    int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
                    var a = Rand((ta ? k : m) * lda, seed);
                    var b = Rand((tb ? n : k) * ldb, seed + 1);
                    var c0 = Rand(m * ldc, seed + 2);
                    var c1 = (float[])c0.Clone();
                    Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc);
                    GemmReference.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < ldc; j++)
                        {
                            float want = c1[i * ldc + j], got = c0[i * ldc + j];
                            Assert.True(Math.Abs(want - got) <= 1e-4f * (1 + k) * (1 + Math.Abs(want)) * 0.1f + 1e-5f,
                                $"m={m} n={n} k={k} ta={ta} tb={tb} alpha={alpha} beta={beta} at ({i},{j}): {got} vs {want}");
                        }
                }
    }

    [Theory]
    [InlineData(12, 32, 7)]
    [InlineData(25, 69, 300)]
    [InlineData(130, 2100, 40)]
    [InlineData(97, 33, 257)]
    [InlineData(64, 49, 300)]
    [InlineData(128, 196, 65)]
    [InlineData(16, 47, 9)]
    [InlineData(23, 16, 11)]
    [InlineData(4, 70, 5)]
    [InlineData(70, 49, 33)]
    [InlineData(64, 35, 20)]
    public void WideKernelEqualsAvx2KernelBitwise(int m, int n, int k)
    {
        // The AVX-512 kernels (12×32 tiles, 6×32 row tails, 12×16 column tails; packed and in-place A and B) perform
        // the same FMAs per element in the same order as the 6×16 AVX2 kernel, so switching kernels must not change a
        // single bit (on CPUs without AVX-512 both runs take the AVX2 path).
        var a = Rand(m * k, 1); var b = Rand(k * n, 2); var bias = Rand(m, 3);
        bool saved = GemmCore.UseAvx512;
        try
        {
            foreach (var (relu, directA, directB) in new[] { (false, false, false), (true, false, true), (false, true, false), (true, true, false) })
            {
                var c0 = Rand(m * n, 4); var c1 = (float[])c0.Clone();
                unsafe
                {
                    fixed (float* pa = a) fixed (float* pb = b) fixed (float* pbias = bias) fixed (float* p0 = c0) fixed (float* p1 = c1)
                    {
                        // A transposed (k×m) when read in place and relu is on: its rows are then contiguous
                        bool ta = directA && relu;
                        int lda = ta ? m : k;
                        GemmCore.UseAvx512 = false;
                        GemmCore.Run(ta, false, m, n, k, 1f, pa, lda, pb, n, 0.5f, p0, n, pbias, relu, 1, directA: directA, directB: directB);
                        GemmCore.UseAvx512 = System.Runtime.Intrinsics.X86.Avx512F.IsSupported;
                        GemmCore.Run(ta, false, m, n, k, 1f, pa, lda, pb, n, 0.5f, p1, n, pbias, relu, 1, directA: directA, directB: directB);
                    }
                }
                Assert.Equal(c0, c1);
            }
        }
        finally { GemmCore.UseAvx512 = saved; }
    }

    [Fact]
    public void BetaZeroIgnoresNaNInC()
    {
        var a = Rand(7 * 9, 1); var b = Rand(9 * 18, 2);
        var c = Enumerable.Repeat(float.NaN, 7 * 18).ToArray();
        Gemm.Sgemm(false, false, 7, 18, 9, 1f, a, 9, b, 18, 0f, c, 18);
        Assert.All(c, v => Assert.False(float.IsNaN(v)));
    }

    [Fact]
    public void KZeroScalesC()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, [], 1, [], 2, 2f, c, 2);
        Assert.Equal(new float[] { 2, 4, 6, 8 }, c);
    }

    [Fact]
    public void ThreadedMatchesSingleThread()
    {
        int m = 90, n = 300, k = 200;
        var a = Rand(m * k, 3); var b = Rand(k * n, 4);
        var c1 = new float[m * n]; var c2 = new float[m * n];
        int saved = Gemm.MaxThreads;
        try
        {
            Gemm.MaxThreads = 1; Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c1, n);
            Gemm.MaxThreads = 2; Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c2, n);
        }
        finally { Gemm.MaxThreads = saved; }
        Assert.Equal(c1, c2);
    }

    [Fact]
    public void RejectsShortOperands()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[15], 4, new float[16], 4, 0f, new float[16], 4));
        Assert.Equal("a", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[16], 3, new float[16], 4, 0f, new float[16], 4));
        Assert.Equal("lda", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[16], 4, new float[16], 4, 0f, new float[15], 4));
        Assert.Equal("c", ex.ParamName);
    }
}
