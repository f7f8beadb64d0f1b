namespace ConvKit.Cli.Commands;

/// <summary>convkit filter (not yet implemented).</summary>
internal static class FilterCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit filter: not implemented yet.");
        return 2;
    }
}
