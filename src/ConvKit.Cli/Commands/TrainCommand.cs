namespace ConvKit.Cli.Commands;

/// <summary>convkit train (not yet implemented).</summary>
internal static class TrainCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit train: not implemented yet.");
        return 2;
    }
}
