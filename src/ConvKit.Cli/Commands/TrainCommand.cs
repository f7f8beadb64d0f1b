using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ConvKit.Data;
using ConvKit.Kernels;
using ConvKit.Nn;
using Spectre.Console;

namespace ConvKit.Cli.Commands;

/// <summary>convkit train: trains a CNN (default: the embedded 8x8 digits) and reports test accuracy.</summary>
internal static class TrainCommand
{
    private const string Usage = """
        Usage: convkit train [options]

        Trains a small CNN and prints its test accuracy. With no options: the embedded UCI 8x8 digits
        (stratified 80/20 split), a few seconds.

          --dataset NAME      digits (default), fashion-mnist, mnist
          --data DIR          directory with MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)
          --model NAME        digits-cnn, lenet, fashionnet, resnet-mini (default: digits-cnn for digits, fashionnet otherwise)
          --epochs N          passes over the training set
          --batch-size N      samples per step
          --lr X              learning rate
          --optimizer NAME    adam (default), adamw, sgd (Nesterov momentum 0.9)
          --schedule NAME     none (default), cosine, step
          --weight-decay X    weight decay
          --label-smoothing X cross-entropy label smoothing
          --augment           random crop (pad 2) and, for fashion-mnist, horizontal flips
          --limit N           use only the first N training samples (quick runs)
          --threads N         cores used by the kernels
          --seed N            seed of initialization, shuffling and augmentation (default 0)
          --save FILE         write the trained model (.safetensors, loads in PyTorch with load_state_dict)
          --plot FILE         SVG of loss/accuracy curves (default: next to --save, else ./convkit-train.svg)
          --json              end with one JSON line of the results
        """;

    public static int Run(CliArgs args)
    {
        if (args.Help) { Console.WriteLine(Usage); return 0; }
        string? dataDir = args.Get("data");
        string dataset = (args.Get("dataset") ?? (dataDir is null ? "digits" : "mnist")).ToLowerInvariant();
        bool isDigits = dataset == "digits";
        if (!isDigits && dataset is not ("fashion-mnist" or "mnist"))
            throw new ArgumentException($"--dataset: unknown data set '{dataset}' (digits, fashion-mnist, mnist).");
        string model = args.Get("model") ?? (isDigits ? "digits-cnn" : "fashionnet");
        int epochs = args.Int("epochs", isDigits ? 8 : 2);
        int batch = args.Int("batch-size", isDigits ? 32 : 64);
        double lr = args.Double("lr", isDigits ? 2e-3 : 1e-3);
        string optimizer = args.Get("optimizer") ?? "adam";
        string schedule = args.Get("schedule") ?? "none";
        double wd = args.Double("weight-decay", 0);
        double smoothing = args.Double("label-smoothing", 0);
        bool augment = args.Flag("augment");
        int limit = args.Int("limit", 0);
        int threads = args.Int("threads", Environment.ProcessorCount);
        int seed = args.Int("seed", 0);
        string? save = args.Get("save");
        string plot = args.Get("plot") ?? (save is not null ? Path.ChangeExtension(save, ".svg") : "convkit-train.svg");
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        if (epochs < 1) throw new ArgumentException($"--epochs: must be at least 1, got {epochs}.");
        if (batch < 1) throw new ArgumentException($"--batch-size: must be at least 1, got {batch}.");
        if (threads < 1) throw new ArgumentException($"--threads: must be at least 1, got {threads}.");
        if (seed < 0) throw new ArgumentException($"--seed: must be non-negative, got {seed}.");
        Gemm.MaxThreads = threads;

        var (train, test) = LoadData(dataset, dataDir, (ulong)seed);
        train = train.Take(limit);
        var (mean, std) = train.MeanStd();
        var net = Models.Create<float>(model, train.Channels, train.Height, train.Width, train.Classes, (ulong)seed);
        var opts = new TrainOptions
        {
            Epochs = epochs, BatchSize = batch, LearningRate = lr, Optimizer = optimizer, Schedule = schedule, WeightDecay = wd,
            LabelSmoothing = smoothing, Seed = (ulong)seed, Mean = mean, Std = std,
            CropPadding = augment ? (isDigits ? 1 : 2) : 0, RandomFlip = augment && dataset == "fashion-mnist",
        };

        bool live = !json && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        if (!json)
            Console.WriteLine($"convkit train: {dataset} ({train.Count} train / {test.Count} test, {train.Channels}x{train.Height}x{train.Width}), model {model} " +
                $"({net.ParameterCount():N0} parameters), {optimizer} lr {lr.ToString(CultureInfo.InvariantCulture)}, batch {batch}, {epochs} epochs, {threads} threads");

        var sw = Stopwatch.StartNew();
        List<EpochStats> history;
        if (live)
        {
            history = null!;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    ProgressTask? task = null;
                    history = Trainer.Fit(net, train, test, opts,
                        onBatch: p =>
                        {
                            if (task is null || p.Batch == 1)
                                task = ctx.AddTask($"epoch {p.Epoch}/{epochs}", maxValue: p.Batches);
                            task.Value = p.Batch;
                            task.Description = string.Create(CultureInfo.InvariantCulture,
                                $"epoch {p.Epoch}/{epochs} loss {p.Loss:F4} acc {p.Accuracy:P1} {p.SamplesPerSecond:F0} samples/s");
                        },
                        onEpoch: e => { if (task is not null) task.Description += string.Create(CultureInfo.InvariantCulture, $" | test {e.TestAccuracy:P2}"); });
                });
        }
        else
        {
            history = Trainer.Fit(net, train, test, opts, onEpoch: e =>
            {
                if (!json)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"epoch {e.Epoch}/{epochs}: loss {e.TrainLoss:F4}, train acc {e.TrainAccuracy:P2}, test acc {e.TestAccuracy:P2}, {e.TrainSeconds:F2} s ({train.Count / Math.Max(1e-9, e.TrainSeconds):F0} samples/s, cpu {e.TrainCpuSeconds:F2} s)"));
            });
        }
        double total = sw.Elapsed.TotalSeconds;
        double trainSeconds = history.Sum(h => h.TrainSeconds);
        var final = Trainer.Evaluate(net, test, mean, std);

        if (save is not null)
        {
            Checkpoint.Save(save, net, Metadata(model, dataset, train, mean, std));
        }
        WritePlot(plot, history, $"{model} on {dataset}");

        if (!json)
        {
            PrintSummary(history, final, train.Classes, dataset, train.Count);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"test accuracy {final.Accuracy:P2} ({final.Accuracy * test.Count:F0}/{test.Count}); training {trainSeconds:F1} s ({trainSeconds / epochs:F2} s/epoch), total {total:F1} s"));
            if (save is not null) Console.WriteLine($"saved {save}");
            Console.WriteLine($"plot {plot}");
        }
        else
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["dataset"] = dataset, ["model"] = model, ["epochs"] = epochs,
                ["train_seconds"] = Math.Round(trainSeconds, 3), ["seconds_per_epoch"] = Math.Round(trainSeconds / epochs, 3),
                ["test_accuracy"] = Math.Round(final.Accuracy, 6),
                ["train_cpu_seconds"] = Math.Round(history.Sum(h => h.TrainCpuSeconds), 3), ["threads"] = threads,
            }));
        }
        return 0;
    }

    /// <summary>Loads a data set by name (digits from the library, IDX data from a directory).</summary>
    internal static (ImageDataset Train, ImageDataset Test) LoadData(string dataset, string? dir, ulong seed) => dataset switch
    {
        "digits" => Datasets.Digits(seed),
        "fashion-mnist" => Datasets.FashionMnist(dir),
        _ => Datasets.FromIdxDirectory(dir ?? throw new ArgumentException("--data: the IDX directory is required for mnist."), dataset),
    };

    /// <summary>Class names for predictions.</summary>
    internal static string[] ClassNames(string dataset, int classes) => dataset == "fashion-mnist"
        ? ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        : Enumerable.Range(0, classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>The safetensors __metadata__ that lets eval/predict rebuild the model and its preprocessing.</summary>
    internal static Dictionary<string, string> Metadata(string model, string dataset, ImageDataset train, float mean, float std) => new()
    {
        [Checkpoint.ArchitectureKey] = model,
        ["convkit.dataset"] = dataset,
        ["convkit.input"] = $"{train.Channels},{train.Height},{train.Width}",
        ["convkit.classes"] = train.Classes.ToString(CultureInfo.InvariantCulture),
        ["convkit.mean"] = mean.ToString("R", CultureInfo.InvariantCulture),
        ["convkit.std"] = std.ToString("R", CultureInfo.InvariantCulture),
        ["format"] = "pt",
    };

    /// <summary>A model rebuilt from a checkpoint, with its preprocessing.</summary>
    internal sealed record LoadedModel(Module<float> Net, string Architecture, string Dataset, int Channels, int Height, int Width, int Classes, float Mean, float Std);

    /// <summary>Loads a checkpoint written by <c>convkit train --save</c>.</summary>
    internal static LoadedModel LoadModel(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--model: file '{path}' does not exist.");
        var state = Checkpoint.Load<float>(path, out var meta);
        if (!meta.TryGetValue(Checkpoint.ArchitectureKey, out var arch))
            throw new InvalidDataException($"{path}: no '{Checkpoint.ArchitectureKey}' in the safetensors __metadata__ (not written by convkit train).");
        string Need(string k) => meta.TryGetValue(k, out var v) ? v : throw new InvalidDataException($"{path}: metadata '{k}' is missing.");
        var dims = Need("convkit.input").Split(',');
        if (dims.Length != 3 || !dims.All(d => int.TryParse(d, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) && x > 0))
            throw new InvalidDataException($"{path}: metadata convkit.input '{Need("convkit.input")}' is not C,H,W.");
        int c = int.Parse(dims[0], CultureInfo.InvariantCulture), h = int.Parse(dims[1], CultureInfo.InvariantCulture), w = int.Parse(dims[2], CultureInfo.InvariantCulture);
        if (!int.TryParse(Need("convkit.classes"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int classes) || classes < 2)
            throw new InvalidDataException($"{path}: metadata convkit.classes is invalid.");
        if (!float.TryParse(Need("convkit.mean"), NumberStyles.Float, CultureInfo.InvariantCulture, out float mean) ||
            !float.TryParse(Need("convkit.std"), NumberStyles.Float, CultureInfo.InvariantCulture, out float std) || !(std > 0))
            throw new InvalidDataException($"{path}: metadata convkit.mean/std are invalid.");
        Module<float> net;
        try { net = Models.Create<float>(arch, c, h, w, classes); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        try { net.LoadStateDict(state); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        net.Eval();
        return new LoadedModel(net, arch, meta.GetValueOrDefault("convkit.dataset", "digits"), c, h, w, classes, mean, std);
    }

    /// <summary>Prints the per-epoch table and the confusion matrix.</summary>
    internal static void PrintSummary(List<EpochStats>? history, EvalResult final, int classes, string dataset, int trainCount = 0)
    {
        // Plain text when redirected (files, pipes, tests); colors on a terminal.
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Out),
            Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (history is { Count: > 0 })
        {
            var t = new Table().Title("training").AddColumns("epoch", "train loss", "train acc", "test loss", "test acc", "seconds", "cpu s", "samples/s");
            foreach (var h in history)
                t.AddRow(h.Epoch.ToString(CultureInfo.InvariantCulture), F(h.TrainLoss, "F4"), F(h.TrainAccuracy, "P2"), F(h.TestLoss, "F4"), F(h.TestAccuracy, "P2"),
                    F(h.TrainSeconds, "F2"), F(h.TrainCpuSeconds, "F2"), F(h.TrainSeconds > 0 ? trainCount / h.TrainSeconds : double.NaN, "F0"));
            console.Write(t);
        }
        var names = ClassNames(dataset, classes);
        var cm = new Table().Title("confusion matrix (rows: true class, columns: predicted)");
        cm.AddColumn("");
        for (int j = 0; j < classes; j++) cm.AddColumn(new TableColumn(Short(names[j])).RightAligned());
        for (int i = 0; i < classes; i++)
        {
            var row = new List<string> { Markup.Escape(Short(names[i])) };
            for (int j = 0; j < classes; j++)
            {
                int v = final.Confusion[i, j];
                row.Add(i == j ? $"[green]{v}[/]" : v == 0 ? "[grey]0[/]" : $"[red]{v}[/]");
            }
            cm.AddRow(row.ToArray());
        }
        console.Write(cm);
    }

    private static string Short(string s) => s.Length > 7 ? s[..7] : s;
    private static string F(double v, string fmt) => double.IsNaN(v) ? "-" : v.ToString(fmt, CultureInfo.InvariantCulture);

    /// <summary>Writes an SVG with the loss curves (left) and accuracy curves (right) per epoch.</summary>
    internal static void WritePlot(string path, List<EpochStats> history, string title)
    {
        const int W = 900, H = 360, M = 50, PW = 360, PH = 250;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{W / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        void Panel(int x0, string name, Func<EpochStats, double> a, Func<EpochStats, double> b, bool percent)
        {
            var va = history.Select(a).Where(double.IsFinite).ToList();
            var vb = history.Select(b).Where(double.IsFinite).ToList();
            double lo = percent ? Math.Min(va.Concat(vb).DefaultIfEmpty(0).Min(), 1) : 0;
            double hi = va.Concat(vb).DefaultIfEmpty(1).Max();
            if (percent) { lo = Math.Floor(lo * 20) / 20; hi = 1; }
            if (hi <= lo) hi = lo + 1;
            int y0 = 40;
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x0}\" y=\"{y0}\" width=\"{PW}\" height=\"{PH}\" fill=\"none\" stroke=\"#888\"/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x0 + PW / 2}\" y=\"{y0 + PH + 35}\" text-anchor=\"middle\">{name} per epoch</text>\n");
            for (int k = 0; k <= 4; k++)
            {
                double v = lo + (hi - lo) * k / 4; double y = y0 + PH - PH * k / 4.0;
                sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x0}\" x2=\"{x0 + PW}\" y1=\"{y:F1}\" y2=\"{y:F1}\" stroke=\"#eee\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x0 - 5}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{(percent ? (v * 100).ToString("F0", CultureInfo.InvariantCulture) + "%" : v.ToString("G3", CultureInfo.InvariantCulture))}</text>\n");
            }
            int n = history.Count;
            double X(int i) => x0 + (n <= 1 ? PW / 2.0 : PW * i / (double)(n - 1));
            double Y(double v) => y0 + PH - PH * (v - lo) / (hi - lo);
            for (int i = 0; i < n; i++)
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(i):F1}\" y=\"{y0 + PH + 15}\" text-anchor=\"middle\">{history[i].Epoch}</text>");
            void Line(Func<EpochStats, double> f, string color, string label, int ly)
            {
                var pts = history.Select((h, i) => (X(i), f(h))).Where(p => double.IsFinite(p.Item2))
                    .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Item1:F1},{Y(p.Item2):F1}"));
                sb.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{string.Join(' ', pts)}\"/>\n");
                foreach (var (px, v) in history.Select((h, i) => (X(i), f(h))).Where(p => double.IsFinite(p.Item2)))
                    sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{px:F1}\" cy=\"{Y(v):F1}\" r=\"3\" fill=\"{color}\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x0 + PW - 80}\" y=\"{y0 + ly}\" fill=\"{color}\">{label}</text>\n");
            }
            Line(a, "#1f77b4", "train", 18);
            Line(b, "#d62728", "test", 34);
        }
        Panel(M + 20, "loss", h => h.TrainLoss, h => h.TestLoss, false);
        Panel(M + 20 + PW + 80, "accuracy", h => h.TrainAccuracy, h => h.TestAccuracy, true);
        sb.Append("</svg>\n");
        File.WriteAllText(path, sb.ToString());
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
