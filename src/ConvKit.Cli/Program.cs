using ConvKit.Cli;
using ConvKit.Cli.Commands;

// One file per command under Commands/; this table is the whole dispatcher.
var commands = new (string Name, string Help, Func<CliArgs, int> Run)[]
{
    ("train", "train a CNN (default: the embedded 8x8 digits) and report test accuracy", TrainCommand.Run),
    ("eval", "evaluate a saved model (.safetensors) on a test set", EvalCommand.Run),
    ("predict", "classify an image with a saved model", PredictCommand.Run),
    ("op", "run operator cases from a JSON file (benchdnn-like), compare with NumPy/PyTorch", OpCommand.Run),
    ("bench", "benchmark the convolution engine on the layer suite (GFLOP/s, % of peak)", BenchCommand.Run),
    ("info", "per-layer output shape, parameters, MACs and receptive field of a network spec", InfoCommand.Run),
    ("filter", "filter an image with a named or custom kernel (Sobel, Laplacian, blur, ...)", FilterCommand.Run),
    ("features", "render a model's learned kernels and feature maps as an image grid", FeaturesCommand.Run),
    ("explain", "show a small convolution step by step and as a sparse matrix product", ExplainCommand.Run),
};

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine("convkit — the complete convolution engine for .NET\n\nUsage: convkit <command> [options]\n\nCommands:");
    foreach (var c in commands) Console.WriteLine($"  {c.Name,-10} {c.Help}");
    Console.WriteLine("\nRun 'convkit <command> --help' for the options of a command.");
    return args.Length == 0 ? 1 : 0;
}

var cmd = commands.FirstOrDefault(c => c.Name == args[0]);
if (cmd.Run is null)
{
    Console.Error.WriteLine($"convkit: unknown command '{args[0]}'. Run 'convkit --help'.");
    return 2;
}
try
{
    return cmd.Run(new CliArgs(args[1..]));
}
catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or FormatException or NotSupportedException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"convkit {cmd.Name}: {e.Message}");
    return 2;
}
