namespace ConvKit.Cli.Commands;

/// <summary>convkit eval (not yet implemented).</summary>
internal static class EvalCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit eval: not implemented yet.");
        return 2;
    }
}
