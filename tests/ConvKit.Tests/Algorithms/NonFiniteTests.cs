using ConvKit.Algorithms;
using ConvKit.Descriptors;
using Xunit;

namespace ConvKit.Tests.Algorithms;

/// <summary>
/// An infinity in the input (or in the weights for backward-data) propagates exactly as in the reference: the fast
/// kernels compute whole vectors past the valid columns, and a zero lane times an infinity there must not turn an
/// element the reference keeps finite (or zero) into NaN.
/// </summary>
public class NonFiniteTests
{
    // the algorithms whose fast paths compute past the valid columns (not Winograd, whose transforms turn an
    // infinity into NaN by design)
    public static IEnumerable<object[]> Cases()
    {
        foreach (var dir in Enum.GetValues<ConvDirection>())
        {
            yield return ["im2col_gemm", ConvShapes.Kind.General, dir];
            yield return ["depthwise_direct", ConvShapes.Kind.Depthwise, dir];
            if (dir != ConvDirection.BackwardData && AlgorithmDifferentialTests.Avx2Kernels) yield return ["direct_small_c", ConvShapes.Kind.SmallChannels, dir];
        }
        if (System.Runtime.Intrinsics.X86.Fma.IsSupported)
        {
            yield return ["implicit_gemm", ConvShapes.Kind.StrideOne, ConvDirection.Forward];
            yield return ["implicit_gemm", ConvShapes.Kind.StrideOne, ConvDirection.BackwardWeight];
        }
        if (AlgorithmDifferentialTests.BlockedTiles)
        {
            yield return ["blocked_direct", ConvShapes.Kind.RowStride, ConvDirection.Forward];
            yield return ["blocked_direct", ConvShapes.Kind.StrideOne, ConvDirection.BackwardData];
            yield return ["blocked_direct", ConvShapes.Kind.RowStride, ConvDirection.BackwardWeight];
        }
        if (AlgorithmDifferentialTests.Avx512Tiles)
        {
            yield return ["small_plane_direct", ConvShapes.Kind.StrideOne, ConvDirection.Forward];
            yield return ["small_plane_direct", ConvShapes.Kind.StrideOne, ConvDirection.BackwardData];
            yield return ["strided_implicit_gemm", ConvShapes.Kind.Strided, ConvDirection.BackwardWeight];
        }
        if (AlgorithmDifferentialTests.Avx2Kernels) yield return ["lane_channel_direct", ConvShapes.Kind.FirstLayer, ConvDirection.Forward];
        yield return ["flipped_forward", ConvShapes.Kind.StrideOne, ConvDirection.BackwardData];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InfinityPropagatesAsInTheReference(string algorithm, ConvShapes.Kind kind, ConvDirection dir)
    {
        var r = new Random(4242 + (int)kind * 7 + (int)dir);
        for (int i = 0; i < 60; i++)
        {
            var d = ConvShapes.Random(r, kind);
            // backward-data as a flipped forward declines padding past the dilated kernel
            if (dir == ConvDirection.BackwardData && algorithm is "flipped_forward" or "blocked_direct" or "small_plane_direct" && FlippedForwardAlgorithm.FlippedDescriptor(d) is null) continue;
            var plan = ConvPlanner.Plan(d, dir, algorithm);
            var x = ConvShapes.Data(r, d.InputShape);
            var w = ConvShapes.Data(r, d.WeightShape);
            var gy = ConvShapes.Data(r, d.OutputShape);
            // the operand whose values meet the zero padding of the fast paths
            var hit = dir == ConvDirection.BackwardData ? w : x;
            hit[r.Next(hit.Length)] = float.PositiveInfinity;
            var (got, want) = AlgorithmDifferentialTests.RunWithReference(plan, d, dir, x, w, gy, []);
            for (int j = 0; j < got.Length; j++)
            {
                bool same = float.IsFinite(want[j]) ? float.IsFinite(got[j]) : float.IsNaN(want[j]) ? float.IsNaN(got[j]) : got[j] == want[j];
                Assert.True(same, $"{algorithm} {dir} {d}: element {j} got {got[j]} want {want[j]}");
            }
        }
    }
}
