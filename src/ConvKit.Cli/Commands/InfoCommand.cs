namespace ConvKit.Cli.Commands;

/// <summary>convkit info (not yet implemented).</summary>
internal static class InfoCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit info: not implemented yet.");
        return 2;
    }
}
