namespace ConvKit.Cli.Commands;

/// <summary>convkit explain (not yet implemented).</summary>
internal static class ExplainCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit explain: not implemented yet.");
        return 2;
    }
}
