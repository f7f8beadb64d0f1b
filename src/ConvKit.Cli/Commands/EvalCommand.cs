using System.Globalization;
using System.Text.Json;
using ConvKit.Nn;

namespace ConvKit.Cli.Commands;

/// <summary>convkit eval: evaluates a saved model on the test split of its data set.</summary>
internal static class EvalCommand
{
    private const string Usage = """
        Usage: convkit eval --model model.safetensors [--dataset digits|fashion-mnist|mnist] [--data DIR] [--json]

        Rebuilds the architecture named in the file's metadata, loads its weights and reports test accuracy and a
        confusion matrix. The data set defaults to the one the model was trained on.
        """;

    public static int Run(CliArgs args)
    {
        if (args.Help) { Console.WriteLine(Usage); return 0; }
        string path = args.Get("model") ?? (args.Positional.Count > 0 ? args.Positional[0] : null)
            ?? throw new ArgumentException("--model: the .safetensors file to evaluate is required.");
        string? dataset = args.Get("dataset")?.ToLowerInvariant();
        string? dir = args.Get("data");
        int seed = args.Int("seed", 0);
        int threads = args.Int("threads", Environment.ProcessorCount);
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        if (threads < 1) throw new ArgumentException($"--threads: must be at least 1, got {threads}.");
        Kernels.Gemm.MaxThreads = threads;

        var m = TrainCommand.LoadModel(path);
        dataset ??= dir is null ? m.Dataset : "mnist";
        var (_, test) = TrainCommand.LoadData(dataset, dir, (ulong)Math.Max(0, seed));
        if (test.Channels != m.Channels || test.Height != m.Height || test.Width != m.Width)
            throw new ArgumentException($"--dataset: {dataset} images are {test.Channels}x{test.Height}x{test.Width}, the model expects {m.Channels}x{m.Height}x{m.Width}.");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = Trainer.Evaluate(m.Net, test, m.Mean, m.Std);
        double seconds = sw.Elapsed.TotalSeconds;
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["dataset"] = dataset, ["model"] = m.Architecture, ["samples"] = test.Count,
                ["test_accuracy"] = Math.Round(r.Accuracy, 6), ["test_loss"] = Math.Round(r.Loss, 6), ["seconds"] = Math.Round(seconds, 3),
            }));
            return 0;
        }
        Console.WriteLine($"convkit eval: {path} ({m.Architecture}, {m.Net.ParameterCount():N0} parameters) on {dataset} test ({test.Count} samples)");
        TrainCommand.PrintSummary(null, r, Math.Min(test.Classes, m.Classes), dataset);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"test accuracy {r.Accuracy:P2} ({r.Accuracy * test.Count:F0}/{test.Count}), loss {r.Loss:F4}, {seconds:F2} s"));
        return 0;
    }
}
