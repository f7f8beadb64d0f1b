using ConvKit.IO;

namespace ConvKit.Cli.Commands;

/// <summary>convkit op CASES.json: runs operator cases like oneDNN's benchdnn, writes outputs, checks expected ones.</summary>
internal static class OpCommand
{
    public static int Run(CliArgs args)
    {
        bool dbl = args.Flag("double");
        bool list = args.Flag("list");
        if (args.Help || (args.Positional.Count != 1 && !list))
        {
            Console.WriteLine("Usage: convkit op CASES.json [--double] [--list]\n" +
                "  Runs every case of CASES.json ({\"cases\": [{\"name\", \"op\", \"inputs\": {param: \"x.npy\"}, \"attrs\": {...}, \"outputs\": [\"y.npy\"]}]}),\n" +
                "  writes the outputs (paths relative to the JSON file), and compares with \"expected\" .npy files when a case lists them.\n" +
                "  --double  run in float64 on the reference operators instead of the float32 engine\n" +
                "  --list    print the known operator names");
            return args.Help ? 0 : 2;
        }
        args.EnsureAllUsed();
        if (list) { foreach (var n in Ops.OpRegistry.Names) Console.WriteLine(n); return 0; }
        var cases = OpCases.Load(args.Positional[0]);
        var failed = new List<OpCaseResult>();
        foreach (var c in cases)
        {
            var r = dbl ? OpCases.RunAndCheck<double>(c, true) : OpCases.RunAndCheck<float>(c, true);
            Console.WriteLine($"{(r.Ok ? "ok  " : "FAIL")} {c.Name} ({c.Op}): {r.Message}");
            if (!r.Ok) failed.Add(r);
        }
        Console.WriteLine($"{cases.Count - failed.Count} passed, {failed.Count} failed");
        foreach (var f in failed) Console.Error.WriteLine($"failed: {f.Case.Name}: {f.Message}");
        return failed.Count == 0 ? 0 : 1;
    }
}
