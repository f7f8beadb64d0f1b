// ConvKit.Bench [--threads N] [--layers a,b] [--layers-file F] [--quick] [--json] | --filters [--threads N] [--json]
//   | --compare A,B [--pass fwd|bwd-data|bwd-w] [--seconds S] [--layers a,b] [--threads N]   (paired, one process)
using ConvKit.Bench;

int threads = 2; string? layers = null, layersFile = null; bool quick = false, json = false, filters = false; (int M, int N, int K)? gemm = null; string? algo = null;
string? compare = null, pass = "fwd"; double seconds = 4;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--threads": threads = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--layers": layers = args[++i]; break;
        case "--layers-file": layersFile = args[++i]; break; // another suite in the format of layers.json
        case "--quick": quick = true; break;
        case "--cpu": BenchHarness.ThreadCpuTime = true; threads = 1; break;
        case "--algo": algo = args[++i]; break;
        case "--json": json = true; break;
        case "--filters": filters = true; break; // image filtering, the cases of peers_cv.py
        case "--compare": compare = args[++i]; break;
        case "--pass": pass = args[++i]; break;
        case "--seconds": seconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--gemm":
            {
                // GEMM alone: --gemm M,N,K [--threads N]
                var v = args[++i].Split(',').Select(t => int.Parse(t, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                gemm = (v[0], v[1], v[2]);
                break;
            }
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'; usage: ConvKit.Bench [--threads N] [--layers a,b] [--layers-file F] [--quick] [--json] | --filters [--threads N] [--json] | --compare A,B [--pass fwd|bwd-data|bwd-w] [--seconds S] [--layers a,b]"); return 2;
    }
}
if (filters) return FilterBench.RunCli(threads, json, Console.Out);
if (compare is not null)
{
    var names = compare.Split(',');
    var dir = pass switch { "fwd" => ConvKit.Algorithms.ConvDirection.Forward, "bwd-data" => ConvKit.Algorithms.ConvDirection.BackwardData,
        "bwd-w" => ConvKit.Algorithms.ConvDirection.BackwardWeight, _ => throw new ArgumentException($"pass: fwd, bwd-data or bwd-w, got '{pass}'.", "pass") };
    if (names.Length != 2) throw new ArgumentException($"compare: two algorithm names separated by a comma, got '{compare}'.", "compare");
    var wanted = layers?.Split(',').ToHashSet();
    foreach (var l in BenchHarness.LoadLayers(layersFile).Where(l => wanted is null || wanted.Contains(l.Name)))
    {
        try { Console.WriteLine(BenchHarness.Compare(l, dir, names[0], names[1], threads, seconds)); }
        catch (ArgumentException e) when (e.ParamName == "compare") { Console.WriteLine($"{l.Name}: skipped ({e.Message})"); }
    }
    return 0;
}
if (gemm is { } g) { Console.WriteLine(BenchHarness.GemmReport(g.M, g.N, g.K, threads)); return 0; }
return BenchHarness.RunCli(threads, layers, quick, json, Console.Out, algo, layersFile);
