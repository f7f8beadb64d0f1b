using ConvKit.Calculators;

namespace ConvKit.Cli.Commands;

/// <summary>convkit info: per-layer output shape, parameters, MACs, receptive field and jump of a network spec.</summary>
internal static class InfoCommand
{
    public static int Run(CliArgs args)
    {
        var model = args.Get("model", "m");
        var spec = args.Get("spec");
        var input = args.Get("input");
        bool list = args.Flag("list");
        int sources = (model is null ? 0 : 1) + (spec is null ? 0 : 1) + args.Positional.Count;
        if (args.Help || (sources != 1 && !list))
        {
            Console.WriteLine("Usage: convkit info SPEC_FILE | --model NAME | --spec \"input 3x224x224; conv 64 k7 s2 p3; ...\" [--input CxHxW]\n" +
                "  Prints each layer's output shape, parameters, MACs, receptive field (RF) and jump, and the totals.\n" +
                "  SPEC_FILE  compact text (statements separated by ';' or new lines, '#' comments) or JSON\n" +
                "             ({\"input\": [3, 224, 224], \"layers\": [{\"type\": \"conv\", \"out\": 64, \"kernel\": 7, ...}, \"bn\", ...]})\n" +
                "  --model    built-in spec: " + string.Join(", ", NetworkSpec.Models.Keys) + "\n" +
                "  --input    replace the spec's input shape, e.g. 3x32x32\n" +
                "  --list     print the built-in model names\n" +
                "Layers: conv N kK [sS] [pP|same|valid|same_lower] [dD] [gG] [nobias]; convt N kK [sS] [pP] [opO]; deformconv N kK ... [ogG];\n" +
                "  maxpool|avgpool kK [sS] [pP] [ceil]; adaptiveavgpool|adaptivemaxpool S; gap; gmp; flatten; fc N [nobias]; bn; relu;\n" +
                "  block ... [shortcut LAYER ...] add   (residual block; sizes may be per axis: k3x5)");
            return args.Help ? 0 : 2;
        }
        args.EnsureAllUsed();
        if (list)
        {
            foreach (var n in NetworkSpec.Models.Keys) Console.WriteLine(n);
            return 0;
        }
        var net = model is not null ? NetworkSpec.Model(model)
            : spec is not null ? NetworkSpec.ParseAny(spec)
            : NetworkSpec.ParseAny(File.ReadAllText(args.Positional[0]));
        if (input is not null)
            net = new NetworkSpec(NetworkSpec.Parse($"input {input}").Input, net.Layers);
        Console.Write(net.Analyze().ToTable());
        return 0;
    }
}
