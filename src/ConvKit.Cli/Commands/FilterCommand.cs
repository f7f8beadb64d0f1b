using System.Diagnostics;
using ConvKit.Imaging;
using ConvKit.IO;
using ConvKit.Tensors;
using Spectre.Console;

namespace ConvKit.Cli.Commands;

/// <summary>convkit filter: filters an image (or a directory of images) with a named or custom kernel.</summary>
internal static class FilterCommand
{
    private const string Usage = """
        Usage: convkit filter IN.png -k KERNEL -o OUT.png [options]
               convkit filter DIR -k KERNEL -o OUTDIR [options]     (every .png/.pgm/.ppm in DIR)
               convkit filter --bench [--threads 2] [--json]          (1920x1080x3 float speed test)

        KERNEL: identity, box:N, gaussian:N[:sigma], sharpen, emboss, sobel-x, sobel-y, sobel (magnitude),
                scharr-x, scharr-y, scharr, prewitt-x, prewitt-y, prewitt, laplacian, laplacian8, edge,
                a matrix such as "[[1,0,-1],[2,0,-2],[1,0,-1]]", or a kernel file (.npy or text).

        Options:
          --gray                 convert to one luma channel first (default: filter each channel; alpha is dropped)
          --border MODE          reflect101 (default, as OpenCV), replicate, reflect, constant, wrap
          --border-value V       value outside the image for --border constant (in [0,1] units, default 0)
          --conv                 true convolution (kernel rotated 180°) instead of correlation
          --stride N             subsample the output (demonstration)
          --dilation N           spacing between kernel taps (demonstration)
          --normalize            min-max normalize each channel to the full range (default: clamp to [0,1])
          --abs / --signed       show |response| (default for edge and derivative kernels) / keep the sign
          --depth 8|16           output bit depth for PNG (default 8); OUT.npy writes the float result
          --threads N            worker threads (default: all cores)
        """;

    public static int Run(CliArgs args)
    {
        if (args.Help) { Console.WriteLine(Usage); return 0; }
        if (args.Flag("bench"))
        {
            int bt = args.Int("threads", 2);
            bool json = args.Flag("json");
            args.EnsureAllUsed();
            return ConvKit.Bench.FilterBench.RunCli(bt, json, Console.Out);
        }
        var kernelSpec = args.Get("k", "kernel") ?? throw new ArgumentException("-k/--kernel: a kernel is required (see --help).");
        var output = args.Get("o", "output") ?? throw new ArgumentException("-o/--output: an output path is required.");
        var opts = new Options
        {
            Filter = Filters.Parse(kernelSpec),
            Gray = args.Flag("gray"),
            Border = Filter2D.ParseBorder(args.Get("border") ?? "reflect101"),
            BorderValue = (float)args.Double("border-value", 0),
            Convolution = args.Flag("conv"),
            Stride = args.Int("stride", 1),
            Dilation = args.Int("dilation", 1),
            Normalize = args.Flag("normalize"),
            Depth = args.Int("depth", 8),
            Threads = args.Int("threads", 0),
        };
        bool abs = args.Flag("abs"), signed = args.Flag("signed");
        if (abs && signed) throw new ArgumentException("--abs and --signed exclude each other.");
        opts.Abs = abs || (!signed && opts.Filter.IsEdge);
        if (opts.Depth is not (8 or 16)) throw new ArgumentException($"--depth: must be 8 or 16, got {opts.Depth}.");
        if (opts.Stride < 1 || opts.Dilation < 1) throw new ArgumentException("--stride and --dilation must be positive.");
        if (args.Positional.Count != 1) throw new ArgumentException("expected one input image or directory (see --help).");
        args.EnsureAllUsed();

        var input = args.Positional[0];
        if (Directory.Exists(input)) return RunBatch(input, output, opts);
        if (!File.Exists(input)) throw new FileNotFoundException($"input '{input}' does not exist.", input);
        var sw = Stopwatch.StartNew();
        var (w, h, c) = FilterFile(input, output, opts);
        Console.WriteLine($"{input} ({w}x{h}, {c} channel{(c == 1 ? "" : "s")}) -> {output}  [{opts.Filter.Name} {opts.Filter.Kernel.Rows}x{opts.Filter.Kernel.Cols}, " +
                          $"{(opts.Convolution ? "convolution" : "correlation")}, border {opts.Border.ToString().ToLowerInvariant()}, {sw.Elapsed.TotalMilliseconds:F1} ms]");
        return 0;
    }

    private sealed class Options
    {
        public required FilterSpec Filter;
        public bool Gray, Convolution, Normalize, Abs;
        public BorderMode Border;
        public float BorderValue;
        public int Stride, Dilation, Depth, Threads;
    }

    private static (int W, int H, int C) FilterFile(string input, string output, Options o)
    {
        var img = Image.Load(input);
        img = o.Gray ? img.ToGray() : img.WithoutAlpha();
        var t = o.Filter.Apply(img.ToTensor(), o.Border, o.BorderValue, o.Convolution, o.Stride, o.Dilation, o.Threads);
        if (o.Abs) { var s = t.AsSpan(); for (int i = 0; i < s.Length; i++) s[i] = MathF.Abs(s[i]); }
        var dir = Path.GetDirectoryName(Path.GetFullPath(output));
        if (dir is not null) Directory.CreateDirectory(dir);
        if (output.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) Npy.Write(output, t);
        else Image.FromTensor(t, o.Depth, o.Normalize ? ImageScaling.MinMax : ImageScaling.Clamp).Save(output);
        return (img.Width, img.Height, img.Channels);
    }

    private static int RunBatch(string inDir, string outDir, Options o)
    {
        var files = Directory.EnumerateFiles(inDir)
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".png" or ".pgm" or ".ppm" or ".pnm")
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new ArgumentException($"input directory '{inDir}' holds no .png/.pgm/.ppm files.");
        Directory.CreateDirectory(outDir);
        int failed = 0;
        var sw = Stopwatch.StartNew();
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"{o.Filter.Name} on {files.Count} images", maxValue: files.Count);
                foreach (var f in files)
                {
                    try { FilterFile(f, Path.Combine(outDir, Path.GetFileName(f)), o); }
                    catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException)
                    {
                        failed++;
                        AnsiConsole.MarkupLineInterpolated($"[red]{f}: {e.Message}[/]");
                    }
                    task.Increment(1);
                }
            });
        Console.WriteLine($"{files.Count - failed} of {files.Count} images filtered into {outDir} in {sw.Elapsed.TotalSeconds:F2} s.");
        return failed == 0 ? 0 : 1;
    }
}
