using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvKit.Bench;

/// <summary>
/// Measures the machine's FP32 FMA peak in place (the C# twin of the shared peak probe): every thread runs twelve
/// independent FMA chains, all threads at once, best of three rounds. Measured rather than hard-coded because the
/// figure differs between machines (and between one busy core and two: two threads of a virtual machine can share
/// one physical core's FMA pipes).
/// </summary>
public static class PeakProbe
{
    /// <summary>Aggregate GFLOP/s of <paramref name="threads"/> threads; <paramref name="wide"/>: 512-bit FMAs.</summary>
    public static double Measure(int threads, bool wide)
    {
        double best = 0;
        for (int round = 0; round < 3; round++)
        {
            var rates = new double[threads];
            using var start = new Barrier(threads);
            var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                float sink = wide ? Chains512(Iterations) : Chains256(Iterations);
                double seconds = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
                rates[i] = Iterations * 12.0 * (wide ? 32 : 16) / seconds / 1e9 + (sink == float.MinValue ? 1e-9 : 0);
            })).ToArray();
            foreach (var t in workers) t.Start();
            foreach (var t in workers) t.Join();
            best = Math.Max(best, rates.Sum());
        }
        return best;
    }

    private const long Iterations = 4_000_000;

    // The chains run in methods without any call: a value live across a call (even the GC poll after a P/Invoke such
    // as reading the clock) is kept on the stack for its whole life, which made every FMA a load and a store.

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long iterations)
    {
        var b = Vector256.Create(0.999999f); var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(0f), a1 = Vector256.Create(1f), a2 = Vector256.Create(2f), a3 = Vector256.Create(3f),
            a4 = Vector256.Create(4f), a5 = Vector256.Create(5f), a6 = Vector256.Create(6f), a7 = Vector256.Create(7f),
            a8 = Vector256.Create(8f), a9 = Vector256.Create(9f), a10 = Vector256.Create(10f), a11 = Vector256.Create(11f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, b, c); a1 = Vector256.FusedMultiplyAdd(a1, b, c); a2 = Vector256.FusedMultiplyAdd(a2, b, c);
            a3 = Vector256.FusedMultiplyAdd(a3, b, c); a4 = Vector256.FusedMultiplyAdd(a4, b, c); a5 = Vector256.FusedMultiplyAdd(a5, b, c);
            a6 = Vector256.FusedMultiplyAdd(a6, b, c); a7 = Vector256.FusedMultiplyAdd(a7, b, c); a8 = Vector256.FusedMultiplyAdd(a8, b, c);
            a9 = Vector256.FusedMultiplyAdd(a9, b, c); a10 = Vector256.FusedMultiplyAdd(a10, b, c); a11 = Vector256.FusedMultiplyAdd(a11, b, c);
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).GetElement(0);
    }

    // The 512-bit twin of Chains256, written out rather than generic so that each is a plain loop of twelve FMAs.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long iterations)
    {
        var b = Vector512.Create(0.999999f); var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(0f), a1 = Vector512.Create(1f), a2 = Vector512.Create(2f), a3 = Vector512.Create(3f),
            a4 = Vector512.Create(4f), a5 = Vector512.Create(5f), a6 = Vector512.Create(6f), a7 = Vector512.Create(7f),
            a8 = Vector512.Create(8f), a9 = Vector512.Create(9f), a10 = Vector512.Create(10f), a11 = Vector512.Create(11f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, b, c); a1 = Vector512.FusedMultiplyAdd(a1, b, c); a2 = Vector512.FusedMultiplyAdd(a2, b, c);
            a3 = Vector512.FusedMultiplyAdd(a3, b, c); a4 = Vector512.FusedMultiplyAdd(a4, b, c); a5 = Vector512.FusedMultiplyAdd(a5, b, c);
            a6 = Vector512.FusedMultiplyAdd(a6, b, c); a7 = Vector512.FusedMultiplyAdd(a7, b, c); a8 = Vector512.FusedMultiplyAdd(a8, b, c);
            a9 = Vector512.FusedMultiplyAdd(a9, b, c); a10 = Vector512.FusedMultiplyAdd(a10, b, c); a11 = Vector512.FusedMultiplyAdd(a11, b, c);
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).GetElement(0);
    }
}
