using System.Diagnostics;
using System.Globalization;
using ConvKit.Imaging;
using ConvKit.Tensors;

namespace ConvKit.Bench;

/// <summary>Image filtering speed on a 1920x1080 3-channel float image, the same cases as the OpenCV timing
/// script (peers_cv.py; docs/filtering.md): megapixels per second = 1920·1080 / median time of 30 calls after a
/// warm-up. Each case runs twice: into a reused output tensor (the library's allocation-free path) and with a
/// fresh output per call (what <c>cv2.filter2D</c> does).</summary>
public static class FilterBench
{
    /// <summary>One timed case.</summary>
    /// <param name="Name">Case name (as in the OpenCV script).</param>
    /// <param name="Ms">Median wall-clock milliseconds per call.</param>
    /// <param name="MegapixelsPerSecond">1920·1080 / median time.</param>
    /// <param name="CpuMs">Mean process CPU milliseconds per call (all threads; less sensitive to a busy machine).</param>
    /// <param name="Fresh">True when every call allocated its output.</param>
    public sealed record Result(string Name, double Ms, double MegapixelsPerSecond, double CpuMs, bool Fresh);

    private const int H = 1080, W = 1920;

    /// <summary>The cases of the OpenCV script, in its order (its uint8 case has no ConvKit counterpart).</summary>
    public static (string Name, Kernel2D Kernel)[] Cases()
    {
        var rng = new SeededRandom(7);
        var k7 = new float[49];
        for (int i = 0; i < k7.Length; i++) k7[i] = (float)rng.NextNormal();
        return
        [
            ("filter2D.3x3.f32", Filters.Parse("edge").Kernel),           // [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] / 3
            ("filter2D.5x5.f32", Filters.Parse("box:5").Kernel),          // ones / 25 (separable)
            ("filter2D.7x7.f32", new Kernel2D(7, 7, k7)),                 // random normal, not separable
            ("Sobel.dx.f32", Filters.Parse("sobel-x").Kernel),
            ("GaussianBlur.5x5.f32", Filters.Parse("gaussian:5:1.0").Kernel),
        ];
    }

    /// <summary>Runs the suite with <paramref name="threads"/> workers and prints one JSON line per case
    /// (<c>name</c>, <c>ms</c>, <c>mpix_per_s</c> as the OpenCV script, plus <c>output</c>, <c>cpu_ms</c>, <c>threads</c>).</summary>
    /// <param name="threads">Worker threads.</param>
    /// <param name="reps">Timed repetitions per case (the median is reported).</param>
    /// <param name="preallocated">Filter into a reused output tensor instead of allocating one per call.</param>
    /// <param name="log">Where the JSON lines go (null: nowhere).</param>
    public static IReadOnlyList<Result> Run(int threads = 2, int reps = 30, bool preallocated = false, TextWriter? log = null)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), $"threads must be positive, got {threads}.");
        var img = Tensor.Rand<float>(0, [3, H, W], 0, 255);
        var results = new List<Result>();
        var dst = preallocated ? new Tensor<float>(3, H, W) : null;
        foreach (var (name, k) in Cases())
        {
            for (int w = 0; w < 3; w++) Filter2D.Apply(img, k, threads: threads, output: dst);
            var ts = new double[reps];
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (int r = 0; r < reps; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Filter2D.Apply(img, k, threads: threads, output: dst);
                ts[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / reps;
            Array.Sort(ts);
            double ms = ts[reps / 2];
            var res = new Result(name, ms, W * H / (ms * 1e3), cpuMs, !preallocated);
            results.Add(res);
            log?.WriteLine(Json(res, threads));
        }
        return results;
    }

    /// <summary>One result as a JSON line.</summary>
    public static string Json(Result r, int threads) => string.Create(CultureInfo.InvariantCulture,
        $"{{\"name\": \"{r.Name}\", \"ms\": {r.Ms:F3}, \"mpix_per_s\": {r.MegapixelsPerSecond:F1}, \"output\": \"{(r.Fresh ? "fresh" : "reused")}\", \"cpu_ms\": {r.CpuMs:F2}, \"threads\": {threads}}}");

    /// <summary>Runs both variants (reused output first, then a fresh output per call) and writes JSON lines
    /// (<paramref name="json"/>) or a table.</summary>
    /// <param name="threads">Worker threads.</param>
    /// <param name="json">One JSON line per case and variant instead of the table.</param>
    /// <param name="output">Destination.</param>
    /// <param name="reps">Timed repetitions per case.</param>
    public static int RunCli(int threads, bool json, TextWriter output, int reps = 30)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!json)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Filtering a 1920x1080x3 float32 image ([3, 1080, 1920] planes), {threads} thread(s), median of {reps} calls; MP/s = 1920*1080 / time"));
        var reused = Run(threads, reps, preallocated: true, json ? output : null);
        var fresh = Run(threads, reps, preallocated: false, json ? output : null);
        if (json) return 0;
        output.WriteLine();
        output.WriteLine($"{"case",-22} {"reused output",24} {"fresh output per call",24}");
        output.WriteLine($"{"",-22} {"ms",8} {"MP/s",7} {"cpu ms",7} {"ms",8} {"MP/s",7} {"cpu ms",7}");
        for (int i = 0; i < reused.Count; i++)
        {
            var a = reused[i]; var b = fresh[i];
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{a.Name,-22} {a.Ms,8:F2} {a.MegapixelsPerSecond,7:F0} {a.CpuMs,7:F1} {b.Ms,8:F2} {b.MegapixelsPerSecond,7:F0} {b.CpuMs,7:F1}"));
        }
        output.WriteLine();
        output.WriteLine("cpu ms: process CPU time per call, all threads. OpenCV: python3 peers_cv.py THREADS (cv2.setNumThreads).");
        return 0;
    }
}
