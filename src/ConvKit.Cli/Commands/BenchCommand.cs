namespace ConvKit.Cli.Commands;

/// <summary>convkit bench (not yet implemented).</summary>
internal static class BenchCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit bench: not implemented yet.");
        return 2;
    }
}
