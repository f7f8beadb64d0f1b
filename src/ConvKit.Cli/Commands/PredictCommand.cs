namespace ConvKit.Cli.Commands;

/// <summary>convkit predict (not yet implemented).</summary>
internal static class PredictCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit predict: not implemented yet.");
        return 2;
    }
}
