namespace ConvKit.Cli.Commands;

/// <summary>convkit features (not yet implemented).</summary>
internal static class FeaturesCommand
{
    public static int Run(CliArgs args)
    {
        Console.Error.WriteLine("convkit features: not implemented yet.");
        return 2;
    }
}
