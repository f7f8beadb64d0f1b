using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ConvKit.Algorithms;
using ConvKit.Descriptors;

namespace ConvKit.Bench;

/// <summary>One benchmark case: a conv2d layer of the suite, or an extra (transposed conv, conv3d) timed forward only.</summary>
public sealed record BenchLayer(string Name, int N, int C, int H, int W, int K, int R, int S, int Stride, int Pad, int Dil, int Groups);

/// <summary>Timings of one case; backward fields are NaN for the forward-only extras.</summary>
public sealed record BenchResult(string Name, int Threads, double Gflop, double FwdMs, double BwdDataMs, double BwdWMs,
    string FwdAlgo, string BwdDataAlgo, string BwdWAlgo, bool Extra)
{
    /// <summary>GFLOP/s of a pass that took <paramref name="ms"/> milliseconds.</summary>
    public double Rate(double ms) => Gflop / (ms / 1e3);
}

/// <summary>Options of a benchmark run.</summary>
public sealed class BenchOptions
{
    /// <summary>Threads (ConvEngine.MaxThreads).</summary>
    public int Threads { get; set; } = 2;
    /// <summary>Only these case names (null: all).</summary>
    public HashSet<string>? Layers { get; set; }
    /// <summary>Fewer repetitions.</summary>
    public bool Quick { get; set; }
    /// <summary>Force this forward algorithm (by name) where it accepts the layer; null: the planner's choice.</summary>
    public string? Algorithm { get; set; }
    /// <summary>Path of layers.json (default: next to the assembly).</summary>
    public string? LayersPath { get; set; }

    /// <summary>The <see cref="Algorithm"/> value that has every pass of every layer planned by a measured choice
    /// (<see cref="ConvPlanner.Find"/>) instead of the planner's rules.</summary>
    public const string FindAll = "find";
}

/// <summary>
/// The lean benchmark harness behind <c>convkit bench</c> and ConvKit.Bench: times the layer suite of
/// layers.json forward, backward-data and backward-weights through <see cref="ConvEngine"/>, plus the DCGAN
/// transposed conv and a video conv3d, with the same repetition rule as the PyTorch peer script (median of
/// max(3, min(50, 1 s / one run)) runs after a warm-up).
/// </summary>
public static class BenchHarness
{
    /// <summary>Which FMA width the "% of peak" column refers to: the widest the GEMM uses here.</summary>
    public static string PeakIsa => Kernels.GemmCore.UseAvx512 ? "AVX-512 FMA" : "AVX2 FMA";

    /// <summary>The FP32 FMA peak of <paramref name="threads"/> threads, measured once per run by <see cref="PeakProbe"/>.</summary>
    public static double PeakGflops(int threads) => PeakProbe.Measure(threads, Kernels.GemmCore.UseAvx512);

    /// <summary>The extras appended to the suite (names as in the peer script).</summary>
    public static readonly string[] ExtraNames = ["dcgan.convT4x4s2", "video.conv3d.3x3x3"];

    /// <summary>Reads the layer suite.</summary>
    public static List<BenchLayer> LoadLayers(string? path = null)
    {
        path ??= Path.Combine(AppContext.BaseDirectory, "layers.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"layers file not found: {path}", path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var list = new List<BenchLayer>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            int I(string n) => e.GetProperty(n).GetInt32();
            list.Add(new BenchLayer(e.GetProperty("name").GetString() ?? "?", I("n"), I("c"), I("h"), I("w"), I("k"), I("r"), I("s"),
                I("stride"), I("pad"), I("dil"), I("groups")));
        }
        return list;
    }

    /// <summary>Loads the suite and checks that every requested layer name exists (ArgumentException "layers" otherwise).</summary>
    public static List<BenchLayer> Validate(BenchOptions o)
    {
        var layers = LoadLayers(o.LayersPath);
        if (o.Layers is not null)
        {
            var known = layers.Select(l => l.Name).Concat(ExtraNames).ToHashSet();
            var unknown = o.Layers.Where(n => !known.Contains(n)).ToList();
            if (unknown.Count > 0) throw new ArgumentException($"layers: unknown layer(s) {string.Join(", ", unknown)}; known: {string.Join(", ", known)}.", "layers");
        }
        return layers;
    }

    /// <summary>Runs the suite, reporting each result as soon as it is measured.</summary>
    public static List<BenchResult> Run(BenchOptions o, Action<BenchResult>? onResult = null)
    {
        int saved = ConvEngine.MaxThreads;
        ConvEngine.MaxThreads = o.Threads;
        var results = new List<BenchResult>();
        try
        {
            var layers = Validate(o);
            foreach (var l in layers)
            {
                if (o.Layers is not null && !o.Layers.Contains(l.Name)) continue;
                var r = RunLayer(l, o);
                results.Add(r);
                onResult?.Invoke(r);
            }
            foreach (var name in ExtraNames)
            {
                if (o.Layers is not null && !o.Layers.Contains(name)) continue;
                var r = RunExtra(name, o);
                results.Add(r);
                onResult?.Invoke(r);
            }
        }
        finally { ConvEngine.MaxThreads = saved; }
        return results;
    }

    private static float[] Randn(int seed, int[] shape)
    {
        long len = 1; foreach (var s in shape) len *= s;
        var a = new float[len];
        var r = new Random(seed);
        for (int i = 0; i < a.Length; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>The passes of one case, operands allocated: a layer's three passes, or an extra's forward (the
    /// backward actions null).</summary>
    private sealed record CaseRun(double Gflop, Action Fwd, Action? BwdData, Action? BwdW, string FwdAlgo, string BwdDataAlgo, string BwdWAlgo);

    private static CaseRun Prepare(BenchLayer l, BenchOptions o)
    {
        var d = ConvDescriptor.Create(2, [l.N, l.C, l.H, l.W], [l.K, l.C / l.Groups, l.R, l.S], true, l.Stride, l.Pad, l.Dil, l.Groups);
        var x = Randn(1, d.InputShape); var w = Randn(2, d.WeightShape); var b = Randn(3, [l.K]);
        var y = new float[ShapeLen(d.OutputShape)]; var gy = Randn(4, d.OutputShape);
        var gx = new float[x.Length]; var gw = new float[w.Length];
        var fplan = ConvPlanner.Plan(d, ConvDirection.Forward);
        if (o.Algorithm == BenchOptions.FindAll)
        {
            // measured choices for all three passes; the backward passes below then plan the cached ones
            fplan = ConvPlanner.Find(d, ConvDirection.Forward).Plan;
            ConvPlanner.Find(d, ConvDirection.BackwardData);
            ConvPlanner.Find(d, ConvDirection.BackwardWeight);
        }
        else if (o.Algorithm is not null)
        {
            try { fplan = ConvPlanner.Plan(d, ConvDirection.Forward, o.Algorithm); }
            catch (ArgumentException) { /* declined: keep the planner's choice */ }
        }
        return new CaseRun(d.Flops / 1e9, () => fplan.Forward(x, w, b, y), () => ConvEngine.BackwardData(d, gy, w, gx),
            () => ConvEngine.BackwardWeight(d, x, gy, gw),
            fplan.AlgorithmName, ConvPlanner.Choose(d, ConvDirection.BackwardData), ConvPlanner.Choose(d, ConvDirection.BackwardWeight));
    }

    private static CaseRun PrepareExtra(string name)
    {
        if (name == "dcgan.convT4x4s2")
        {
            var t = ConvTransposeDescriptor.Create(2, [1, 256, 16, 16], [256, 128, 4, 4], false, 2, 1);
            var x = Randn(1, t.InputShape); var w = Randn(2, t.WeightShape); var y = new float[ShapeLen(t.OutputShape)];
            return new CaseRun(t.Flops / 1e9, () => ConvEngine.BackwardData(t.Conv, x, w, y), null, null,
                ConvPlanner.Choose(t.Conv, ConvDirection.BackwardData), "", "");
        }
        var d = ConvDescriptor.Create(3, [1, 64, 8, 28, 28], [64, 64, 3, 3, 3], false, 1, 1);
        var x3 = Randn(1, d.InputShape); var w3 = Randn(2, d.WeightShape); var y3 = new float[ShapeLen(d.OutputShape)];
        return new CaseRun(d.Flops / 1e9, () => ConvEngine.Forward(d, x3, w3, default, y3), null, null, ConvPlanner.Choose(d, ConvDirection.Forward), "", "");
    }

    private static BenchResult RunLayer(BenchLayer l, BenchOptions o)
    {
        var c = Prepare(l, o);
        double fwd = Time(c.Fwd, o.Quick), bd = Time(c.BwdData!, o.Quick), bw = Time(c.BwdW!, o.Quick);
        return new BenchResult(l.Name, o.Threads, c.Gflop, fwd, bd, bw, c.FwdAlgo, c.BwdDataAlgo, c.BwdWAlgo, false);
    }

    private static BenchResult RunExtra(string name, BenchOptions o)
    {
        var c = PrepareExtra(name);
        return new BenchResult(name, o.Threads, c.Gflop, Time(c.Fwd, o.Quick), double.NaN, double.NaN, c.FwdAlgo, "", "", true);
    }

    /// <summary>
    /// Times single passes on request, for a driver that alternates them with another library's in lockstep (see
    /// tools/bench/paired_peers.py): reads lines "NAME PASS" (PASS: fwd, bwd-data or bwd-w; the extras fwd only) and
    /// answers each with one line, the median milliseconds by <see cref="Time"/>, or "error: ..." for an unknown case.
    /// Operands are allocated once per case and kept; an empty line or end of input ends the session.
    /// </summary>
    public static int Serve(int threads, string? layersFile, TextReader input, TextWriter output)
    {
        if (threads < 1) throw new ArgumentException($"threads: must be at least 1, got {threads}.", nameof(threads));
        var o = new BenchOptions { Threads = threads, LayersPath = layersFile };
        var layers = Validate(o).ToDictionary(l => l.Name);
        var cases = new Dictionary<string, CaseRun>();
        int saved = ConvEngine.MaxThreads;
        ConvEngine.MaxThreads = threads;
        try
        {
            output.WriteLine("ready");
            output.Flush();
            for (string? line; !string.IsNullOrWhiteSpace(line = input.ReadLine());)
            {
                output.WriteLine(ServeLine(line, layers, cases, o));
                output.Flush();
            }
        }
        finally { ConvEngine.MaxThreads = saved; }
        return 0;
    }

    private static string ServeLine(string line, Dictionary<string, BenchLayer> layers, Dictionary<string, CaseRun> cases, BenchOptions o)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !(layers.ContainsKey(parts[0]) || ExtraNames.Contains(parts[0])))
            return $"error: expected 'NAME PASS' with a case of the suite, got '{line}'";
        if (!cases.TryGetValue(parts[0], out var c))
            cases[parts[0]] = c = layers.TryGetValue(parts[0], out var l) ? Prepare(l, o) : PrepareExtra(parts[0]);
        Action? run = parts[1] switch { "fwd" => c.Fwd, "bwd-data" => c.BwdData, "bwd-w" => c.BwdW, _ => null };
        return run is null ? $"error: no pass '{parts[1]}' for {parts[0]}" : Time(run).ToString("R", CultureInfo.InvariantCulture);
    }

    private static long ShapeLen(int[] s) { long p = 1; foreach (var v in s) p *= v; return p; }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct Timespec { public long Sec, Nsec; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec ts);

    /// <summary>Measure the calling thread's CPU time instead of wall time (single-thread runs on a busy machine:
    /// removes time-slicing by other processes from the figure). Linux only.</summary>
    public static bool ThreadCpuTime { get; set; }

    private static double ThreadCpuMs()
    {
        ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var t);
        return t.Sec * 1e3 + t.Nsec / 1e6;
    }

    /// <summary>Median wall time in ms, after a warm-up call; the repetition rule of the peer script.</summary>
    public static double Time(Action f, bool quick = false)
    {
        if (ThreadCpuTime)
        {
            f();
            double c0 = ThreadCpuMs(); f(); double oneMs = ThreadCpuMs() - c0;
            int n = Math.Max(3, Math.Min(quick ? 10 : 50, (int)((quick ? 300 : 1000) / Math.Max(oneMs, 1e-3))));
            var cs = new double[n];
            for (int i = 0; i < n; i++) { c0 = ThreadCpuMs(); f(); cs[i] = ThreadCpuMs() - c0; }
            Array.Sort(cs);
            return cs[n / 2];
        }
        f();
        var sw = Stopwatch.StartNew();
        f();
        double one = sw.Elapsed.TotalSeconds;
        int reps = Math.Max(3, Math.Min(quick ? 10 : 50, (int)((quick ? 0.3 : 1.0) / Math.Max(one, 1e-6))));
        var ts = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            sw.Restart();
            f();
            ts[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(ts);
        return ts[reps / 2];
    }

    /// <summary>Times C[M×N] = A[M×K]·B[K×N] alone (both GEMM layouts of the conv lowering).</summary>
    public static string GemmReport(int m, int n, int k, int threads)
    {
        int saved = ConvEngine.MaxThreads;
        ConvEngine.MaxThreads = threads;
        try
        {
            var a = Randn(1, [m, k]); var b = Randn(2, [k, n]); var c = new float[(long)m * n];
            double ms = Time(() => Kernels.Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n));
            double msT = Time(() => Kernels.Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n));
            double gf = 2.0 * m * n * k / 1e9;
            return string.Create(CultureInfo.InvariantCulture, $"sgemm {m}x{n}x{k} threads={threads}: NN {ms:F3} ms {gf / ms * 1e3:F1} GFLOP/s, NT {msT:F3} ms {gf / msT * 1e3:F1} GFLOP/s");
        }
        finally { ConvEngine.MaxThreads = saved; }
    }

    /// <summary>One JSON object with the peer script's field names.</summary>
    public static string ToJson(BenchResult r)
    {
        var sb = new StringBuilder();
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        sb.Append("{\"name\": ").Append(JsonSerializer.Serialize(r.Name)).Append(", \"threads\": ").Append(r.Threads);
        if (!r.Extra) sb.Append(", \"gflop\": ").Append(F(r.Gflop));
        sb.Append(", \"fwd_ms\": ").Append(F(r.FwdMs)).Append(", \"fwd_gflops\": ").Append(F(r.Rate(r.FwdMs)));
        if (!r.Extra)
        {
            sb.Append(", \"bwd_data_ms\": ").Append(F(r.BwdDataMs)).Append(", \"bwd_data_gflops\": ").Append(F(r.Rate(r.BwdDataMs)));
            sb.Append(", \"bwd_w_ms\": ").Append(F(r.BwdWMs)).Append(", \"bwd_w_gflops\": ").Append(F(r.Rate(r.BwdWMs)));
        }
        return sb.Append('}').ToString();
    }

    /// <summary>Header of the readable table.</summary>
    public static string TableHeader() =>
        $"{"layer",-22} {"GFLOP",7} | {"fwd ms",8} {"GF/s",6} {"%pk",4} | {"bwdD ms",8} {"GF/s",6} {"%pk",4} | {"bwdW ms",8} {"GF/s",6} {"%pk",4} | algorithms (fwd / bwd-data / bwd-w)";

    /// <summary>One readable table row; percentages are of <paramref name="peak"/> GFLOP/s.</summary>
    public static string TableRow(BenchResult r, double peak)
    {
        string Cell(double ms) => double.IsNaN(ms) ? $"{"-",8} {"-",6} {"-",4}"
            : string.Create(CultureInfo.InvariantCulture, $"{ms,8:F3} {r.Rate(ms),6:F1} {100 * r.Rate(ms) / peak,3:F0}%");
        string algos = r.Extra ? r.FwdAlgo : $"{r.FwdAlgo} / {r.BwdDataAlgo} / {r.BwdWAlgo}";
        return string.Create(CultureInfo.InvariantCulture, $"{r.Name,-22} {r.Gflop,7:F3} | {Cell(r.FwdMs)} | {Cell(r.BwdDataMs)} | {Cell(r.BwdWMs)} | {algos}");
    }

    /// <summary>
    /// Two algorithms (names, or "auto" for the planner's choice) on one layer and pass, alternated in one process:
    /// batches of five calls each, for <paramref name="seconds"/> after a warm-up. On a host whose speed drifts over
    /// seconds, separate runs differ by more than the change being measured; alternating batches see the same
    /// drift. Returns the report line (medians and their ratio, first / second time); ArgumentException "compare" when
    /// an algorithm declines the layer.
    /// </summary>
    public static string Compare(BenchLayer l, ConvDirection dir, string first, string second, int threads, double seconds)
    {
        int saved = ConvEngine.MaxThreads;
        ConvEngine.MaxThreads = threads;
        try
        {
            var d = ConvDescriptor.Create(2, [l.N, l.C, l.H, l.W], [l.K, l.C / l.Groups, l.R, l.S], true, l.Stride, l.Pad, l.Dil, l.Groups);
            var x = Randn(1, d.InputShape); var w = Randn(2, d.WeightShape); var b = Randn(3, [l.K]);
            var y = new float[ShapeLen(d.OutputShape)]; var gy = Randn(4, d.OutputShape);
            var gx = new float[x.Length]; var gw = new float[w.Length];
            Action Runner(string name)
            {
                ConvPlan plan;
                try { plan = name == "auto" ? ConvPlanner.Plan(d, dir) : ConvPlanner.Plan(d, dir, name); }
                catch (ArgumentException e) { throw new ArgumentException($"compare: {e.Message}", "compare", e); }
                return dir switch
                {
                    ConvDirection.Forward => () => plan.Forward(x, w, b, y),
                    ConvDirection.BackwardData => () => plan.BackwardData(gy, w, gx),
                    _ => () => plan.BackwardWeight(x, gy, gw),
                };
            }
            var runs = new[] { Runner(first), Runner(second) };
            var times = new[] { new List<double>(), new List<double>() };
            foreach (var f in runs) for (int i = 0; i < 3; i++) f();
            var total = Stopwatch.StartNew();
            do
                for (int k = 0; k < 2; k++)
                    for (int i = 0; i < 5; i++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        runs[k]();
                        times[k].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
            while (total.Elapsed.TotalSeconds < seconds);
            double Median(List<double> t) { t.Sort(); return t[t.Count / 2]; }
            double m0 = Median(times[0]), m1 = Median(times[1]), gflop = d.Flops / 1e9;
            string Name(string n) => n == "auto" ? $"auto ({ConvPlanner.Choose(d, dir)})" : n;
            return string.Create(CultureInfo.InvariantCulture,
                $"{l.Name} {dir} {threads}t: {Name(first)} {m0:F3} ms {gflop / m0 * 1e3:F1} GF/s | {Name(second)} {m1:F3} ms {gflop / m1 * 1e3:F1} GF/s | {first} / {second} time {m0 / m1:F2} ({times[0].Count} calls each)");
        }
        finally { ConvEngine.MaxThreads = saved; }
    }

    /// <summary>Command-line entry of <c>ConvKit.Bench --compare A,B</c>: every selected layer through <see cref="Compare"/>,
    /// layers an algorithm declines reported as skipped. ArgumentException (compare, pass, layers) for bad arguments.</summary>
    public static int CompareCli(string compare, string pass, string? layers, string? layersFile, int threads, double seconds, TextWriter output)
    {
        var names = compare.Split(',', StringSplitOptions.TrimEntries);
        if (names.Length != 2 || names.Any(n => n.Length == 0))
            throw new ArgumentException($"compare: two algorithm names separated by a comma, got '{compare}'.", nameof(compare));
        var dir = pass switch
        {
            "fwd" => ConvDirection.Forward,
            "bwd-data" => ConvDirection.BackwardData,
            "bwd-w" => ConvDirection.BackwardWeight,
            _ => throw new ArgumentException($"pass: fwd, bwd-data or bwd-w, got '{pass}'.", nameof(pass)),
        };
        if (threads < 1) throw new ArgumentException($"threads: must be at least 1, got {threads}.", nameof(threads));
        var o = new BenchOptions
        {
            LayersPath = layersFile,
            Layers = layers?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(),
        };
        foreach (var l in Validate(o).Where(l => o.Layers is null || o.Layers.Contains(l.Name)))
        {
            try { output.WriteLine(Compare(l, dir, names[0], names[1], threads, seconds)); }
            catch (ArgumentException e) when (e.ParamName == "compare") { output.WriteLine($"{l.Name}: skipped ({e.Message})"); }
        }
        return 0;
    }

    /// <summary>Command-line entry shared by ConvKit.Bench and <c>convkit bench</c>.</summary>
    public static int RunCli(int threads, string? layers, bool quick, bool json, TextWriter output, string? algorithm = null, string? layersFile = null)
    {
        var o = new BenchOptions
        {
            LayersPath = layersFile,
            Threads = threads,
            Quick = quick,
            Algorithm = algorithm,
            Layers = layers is null ? null : layers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(),
        };
        if (threads < 1) throw new ArgumentException($"threads: must be at least 1, got {threads}.", nameof(threads));
        Validate(o);
        double peak = double.NaN;
        if (!json)
        {
            peak = PeakGflops(o.Threads);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ConvKit bench: {o.Threads} thread(s), peak {peak:F0} GFLOP/s ({PeakIsa}, {o.Threads} thread(s), measured now), median of repetitions"));
            output.WriteLine(TableHeader());
        }
        Run(o, r => { output.WriteLine(json ? ToJson(r) : TableRow(r, peak)); output.Flush(); });
        return 0;
    }
}
