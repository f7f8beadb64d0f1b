using System.Diagnostics;
using System.Globalization;
using ConvKit.Imaging;
using ConvKit.Tensors;

namespace ConvKit.Bench;

/// <summary>Image filtering speed on a 1920x1080 3-channel float image, the same cases as the OpenCV
/// comparison in docs/filtering.md: megapixels per second, median of repeated runs.</summary>
public static class FilterBench
{
    /// <summary>One timed case.</summary>
    /// <param name="Name">Case name (as in the OpenCV script).</param>
    /// <param name="Ms">Median wall-clock milliseconds per call.</param>
    /// <param name="MegapixelsPerSecond">1920·1080 / median time.</param>
    /// <param name="CpuMs">Mean process CPU milliseconds per call (all threads; less sensitive to a busy machine).</param>
    public sealed record Result(string Name, double Ms, double MegapixelsPerSecond, double CpuMs);

    /// <summary>Runs the suite with <paramref name="threads"/> workers and prints one JSON line per case.</summary>
    /// <param name="threads">Worker threads.</param>
    /// <param name="reps">Timed repetitions per case (the median is reported).</param>
    /// <param name="preallocated">Filter into a reused output tensor instead of allocating one per call.</param>
    public static IReadOnlyList<Result> Run(int threads = 2, int reps = 30, bool preallocated = false)
    {
        const int H = 1080, W = 1920;
        var img = Tensor.Rand<float>(0, [3, H, W], 0, 255);
        var rng = new SeededRandom(7);
        var k7 = new float[49];
        for (int i = 0; i < k7.Length; i++) k7[i] = (float)rng.NextNormal();
        var cases = new (string Name, Kernel2D Kernel)[]
        {
            ("filter2D.3x3.f32", Filters.Parse("edge").Kernel),
            ("filter2D.5x5.f32", Filters.Parse("box:5").Kernel),
            ("filter2D.7x7.f32", new Kernel2D(7, 7, k7)),
            ("Sobel.dx.f32", Filters.Parse("sobel-x").Kernel),
            ("GaussianBlur.5x5.f32", Filters.Parse("gaussian:5:1.0").Kernel),
        };
        var results = new List<Result>();
        var dst = preallocated ? new Tensor<float>(3, H, W) : null;
        foreach (var (name, k) in cases)
        {
            for (int w = 0; w < 3; w++) Filter2D.Apply(img, k, threads: threads, output: dst);
            var ts = new double[reps];
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (int r = 0; r < reps; r++)
            {
                var sw = Stopwatch.StartNew();
                Filter2D.Apply(img, k, threads: threads, output: dst);
                ts[r] = sw.Elapsed.TotalMilliseconds;
            }
            double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / reps;
            Array.Sort(ts);
            double ms = ts[reps / 2];
            var res = new Result(name, ms, W * H / (ms * 1e3), cpuMs);
            results.Add(res);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{{\"name\": \"{name}\", \"ms\": {ms:F3}, \"mpix_per_s\": {res.MegapixelsPerSecond:F1}, \"cpu_ms\": {cpuMs:F2}, \"threads\": {threads}, \"preallocated\": {(preallocated ? "true" : "false")}}}"));
        }
        return results;
    }
}
