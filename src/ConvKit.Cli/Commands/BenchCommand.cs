using ConvKit.Bench;

namespace ConvKit.Cli.Commands;

/// <summary>convkit bench: times the conv layer suite forward / backward-data / backward-weights (see docs/benchmarks.md).</summary>
internal static class BenchCommand
{
    public static int Run(CliArgs args)
    {
        if (args.Help)
        {
            Console.WriteLine("""
                usage: convkit bench [--threads N] [--layers a,b,...] [--quick] [--json] [--algo NAME]
                  Times every layer of the suite (bench/ConvKit.Bench/layers.json) plus dcgan.convT4x4s2 and video.conv3d.3x3x3:
                  median ms, GFLOP/s and % of the FP32 FMA peak (measured at the start of the run) for forward, backward-data and backward-weights.
                  --threads N   threads to use (default 2)
                  --layers a,b  only these layers
                  --quick       fewer repetitions
                  --algo NAME   force this forward algorithm where it applies (e.g. im2col_gemm, winograd_f4x4_3x3); 'find' times
                                every algorithm for each pass first and runs the fastest (ConvPlanner.Find)
                  --json        one JSON object per line with the field names of the PyTorch peer script (peers.py)
                """);
            return 0;
        }
        int threads = args.Int("threads", 2);
        string? layers = args.Get("layers");
        bool quick = args.Flag("quick");
        bool json = args.Flag("json");
        string? algo = args.Get("algo");
        args.EnsureAllUsed();
        if (threads < 1) throw new ArgumentException($"--threads: must be at least 1, got {threads}.");
        return BenchHarness.RunCli(threads, layers, quick, json, Console.Out, algo);
    }
}
