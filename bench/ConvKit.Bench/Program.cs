// ConvKit.Bench [--threads N] [--layers a,b] [--layers-file F] [--quick] [--json] | --filters [--threads N] [--json]
//   | --compare A,B [--pass fwd|bwd-data|bwd-w] [--seconds S] [--layers a,b] [--threads N]   (paired, one process)
//   | --serve [--threads N] [--layers-file F]   (times "NAME PASS" lines from stdin, for tools/bench/paired_peers.py)
using ConvKit.Bench;

int threads = 2; string? layers = null, layersFile = null; bool quick = false, json = false, filters = false; (int M, int N, int K)? gemm = null; string? algo = null;
string? compare = null, pass = "fwd"; double seconds = 4; bool serve = false;
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
        case "--serve": serve = true; break;
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
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'; usage: ConvKit.Bench [--threads N] [--layers a,b] [--layers-file F] [--quick] [--json] | --filters [--threads N] [--json] | --compare A,B [--pass fwd|bwd-data|bwd-w] [--seconds S] [--layers a,b] | --serve [--threads N] [--layers-file F]"); return 2;
    }
}
if (filters) return FilterBench.RunCli(threads, json, Console.Out);
if (serve) return BenchHarness.Serve(threads, layersFile, Console.In, Console.Out);
if (compare is not null) return BenchHarness.CompareCli(compare, pass, layers, layersFile, threads, seconds, Console.Out);
if (gemm is { } g) { Console.WriteLine(BenchHarness.GemmReport(g.M, g.N, g.K, threads)); return 0; }
return BenchHarness.RunCli(threads, layers, quick, json, Console.Out, algo, layersFile);
