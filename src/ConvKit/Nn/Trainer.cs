using System.Diagnostics;
using System.Numerics;
using ConvKit.Data;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>Settings of a classification training run.</summary>
public sealed record TrainOptions
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Samples per step.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>"adam", "adamw" or "sgd".</summary>
    public string Optimizer { get; init; } = "adam";
    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>Weight decay (L2 for Adam/SGD, decoupled for AdamW).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Cross-entropy label smoothing.</summary>
    public double LabelSmoothing { get; init; }
    /// <summary>"none", "cosine" or "step" (÷10 at 1/2 and 3/4 of the run), stepped per epoch.</summary>
    public string Schedule { get; init; } = "none";
    /// <summary>Seed of shuffling and augmentation.</summary>
    public ulong Seed { get; init; }
    /// <summary>Random-crop padding (0 = off).</summary>
    public int CropPadding { get; init; }
    /// <summary>Random horizontal flips.</summary>
    public bool RandomFlip { get; init; }
    /// <summary>Normalization mean (pixels in [0, 1]).</summary>
    public float Mean { get; init; }
    /// <summary>Normalization standard deviation.</summary>
    public float Std { get; init; } = 1;
}

/// <summary>Figures of one epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="TrainAccuracy">Training accuracy (fraction, on the fly in training mode).</param>
/// <param name="TestLoss">Test loss.</param>
/// <param name="TestAccuracy">Test accuracy (fraction).</param>
/// <param name="TrainSeconds">Seconds spent in the training pass.</param>
/// <param name="EvalSeconds">Seconds spent evaluating.</param>
/// <param name="LearningRate">Learning rate used in this epoch.</param>
/// <param name="TrainCpuSeconds">Processor time of the whole process during the training pass (all threads); on a busy
/// machine it shows the work done independent of how long the process waited for a core.</param>
public sealed record EpochStats(int Epoch, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy, double TrainSeconds, double EvalSeconds,
    double LearningRate, double TrainCpuSeconds = double.NaN);

/// <summary>Progress of a training step (for progress bars).</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">1-based batch within the epoch.</param>
/// <param name="Batches">Batches per epoch.</param>
/// <param name="Loss">Running mean loss of the epoch.</param>
/// <param name="Accuracy">Running training accuracy of the epoch.</param>
/// <param name="SamplesPerSecond">Throughput so far in the epoch.</param>
public readonly record struct BatchProgress(int Epoch, int Batch, int Batches, double Loss, double Accuracy, double SamplesPerSecond);

/// <summary>Result of evaluating a classifier.</summary>
/// <param name="Accuracy">Fraction correct.</param>
/// <param name="Loss">Mean cross-entropy.</param>
/// <param name="Confusion">Counts [true class, predicted class].</param>
public sealed record EvalResult(double Accuracy, double Loss, int[,] Confusion);

/// <summary>The training loop of <c>convkit train</c>: mini-batch cross-entropy with an optimizer and schedule.</summary>
public static class Trainer
{
    /// <summary>Builds the optimizer named in <paramref name="o"/>.</summary>
    public static Optimizer<T> CreateOptimizer<T>(Module<T> model, TrainOptions o) where T : unmanaged, IFloatingPointIeee754<T>
        => o.Optimizer.ToLowerInvariant() switch
        {
            "adam" => new Adam<T>(model.Parameters(), o.LearningRate, weightDecay: o.WeightDecay),
            "adamw" => new AdamW<T>(model.Parameters(), o.LearningRate, weightDecay: o.WeightDecay),
            "sgd" => new Sgd<T>(model.Parameters(), o.LearningRate, o.Momentum, weightDecay: o.WeightDecay, nesterov: o.Momentum > 0),
            _ => throw new ArgumentException($"optimizer: unknown optimizer '{o.Optimizer}' (adam, adamw, sgd).", "optimizer"),
        };

    private static LrSchedule? CreateSchedule(TrainOptions o) => o.Schedule.ToLowerInvariant() switch
    {
        "none" or "" => null,
        "cosine" => new CosineLr(o.LearningRate, Math.Max(1, o.Epochs)),
        "step" => new StepLr(o.LearningRate, Math.Max(1, o.Epochs / 2), 0.1),
        _ => throw new ArgumentException($"schedule: unknown schedule '{o.Schedule}' (none, cosine, step).", "schedule"),
    };

    /// <summary>Trains <paramref name="model"/> on <paramref name="train"/>, evaluating on <paramref name="test"/> after every epoch.</summary>
    public static List<EpochStats> Fit<T>(Module<T> model, ImageDataset train, ImageDataset? test, TrainOptions o,
        Action<BatchProgress>? onBatch = null, Action<EpochStats>? onEpoch = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(o);
        if (o.Epochs < 0) throw new ArgumentOutOfRangeException(nameof(o), $"epochs must be non-negative, got {o.Epochs}.");
        var opt = CreateOptimizer(model, o);
        var sched = CreateSchedule(o);
        var loader = new DataLoader<T>(train, o.BatchSize, shuffle: true, seed: o.Seed, mean: o.Mean, std: o.Std)
        { CropPadding = o.CropPadding, RandomFlip = o.RandomFlip };
        var history = new List<EpochStats>();
        // Steps of a model built only from the library's layers recycle their large activation and gradient
        // buffers (no layer keeps a tensor of a step beyond it); a user-defined layer might, so it turns this off.
        var buffers = OnlyLibraryModules(model) ? new StepBuffers() : null;
        for (int epoch = 1; epoch <= o.Epochs; epoch++)
        {
            model.Train();
            double lossSum = 0; int correct = 0, seen = 0, batch = 0;
            double lr = opt.LearningRate;
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            foreach (var (x, y) in loader.Epoch())
            {
                opt.ZeroGrad();
                buffers?.Activate();
                Variable<T> logits, loss;
                try
                {
                    logits = model.Forward(new Variable<T>(x));
                    loss = Autograd.CrossEntropy(logits, y, o.LabelSmoothing);
                    loss.Backward();
                    opt.Step();
                }
                finally { buffers?.Deactivate(); }
                int b = y.Length;
                lossSum += double.CreateTruncating(loss.Data.AsSpan()[0]) * b;
                correct += CountCorrect(logits.Data, y);
                buffers?.Recycle(); // the step's graph is unreachable from here on
                seen += b; batch++;
                onBatch?.Invoke(new BatchProgress(epoch, batch, loader.BatchCount, lossSum / seen, (double)correct / seen, seen / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            }
            double trainSeconds = sw.Elapsed.TotalSeconds;
            double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            if (sched is not null) sched.Step(opt);
            sw.Restart();
            var ev = test is null ? null : Evaluate(model, test, o.Mean, o.Std, 500);
            var stats = new EpochStats(epoch, lossSum / Math.Max(1, seen), (double)correct / Math.Max(1, seen), ev?.Loss ?? double.NaN, ev?.Accuracy ?? double.NaN,
                trainSeconds, sw.Elapsed.TotalSeconds, lr, cpuSeconds);
            history.Add(stats);
            onEpoch?.Invoke(stats);
        }
        model.Eval();
        return history;
    }

    private static bool OnlyLibraryModules<T>(Module<T> m) where T : unmanaged, IFloatingPointIeee754<T>
        => m.GetType().Assembly == typeof(Module<T>).Assembly && m.NamedChildren().All(c => OnlyLibraryModules(c.Module));

    /// <summary>Accuracy, loss and confusion matrix of <paramref name="model"/> in evaluation mode (no gradients recorded).</summary>
    public static EvalResult Evaluate<T>(Module<T> model, ImageDataset data, float mean, float std, int batchSize = 500) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = model.Training;
        model.Eval();
        var confusion = new int[data.Classes, data.Classes];
        double lossSum = 0; int correct = 0;
        // As in Fit: batches of a model of library layers reuse their large activation buffers (a fresh 50 MB of
        // activations per batch of 500 spent a third of the evaluation in page faults).
        var buffers = OnlyLibraryModules(model) ? new StepBuffers() : null;
        using (Autograd.NoGrad())
        {
            var loader = new DataLoader<T>(data, batchSize, shuffle: false, mean: mean, std: std);
            foreach (var (x, y) in loader.Epoch())
            {
                buffers?.Activate();
                int[] pred;
                try
                {
                    var logits = model.Forward(new Variable<T>(x));
                    lossSum += double.CreateTruncating(Autograd.CrossEntropy(logits, y).Data.AsSpan()[0]) * y.Length;
                    pred = Argmax(logits.Data);
                }
                finally { buffers?.Deactivate(); }
                buffers?.Recycle();
                for (int i = 0; i < y.Length; i++)
                {
                    if (pred[i] < data.Classes) confusion[y[i], pred[i]]++;
                    if (pred[i] == y[i]) correct++;
                }
            }
        }
        model.Train(wasTraining);
        return new EvalResult((double)correct / Math.Max(1, data.Count), lossSum / Math.Max(1, data.Count), confusion);
    }

    /// <summary>Index of the largest value of each row of [N, C] logits.</summary>
    public static int[] Argmax<T>(Tensor<T> logits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = logits.Size(0), c = logits.Size(1);
        var s = logits.AsSpan();
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int j = 1; j < c; j++) if (s[i * c + j] > s[i * c + best]) best = j;
            r[i] = best;
        }
        return r;
    }

    private static int CountCorrect<T>(Tensor<T> logits, int[] y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = Argmax(logits);
        int c = 0;
        for (int i = 0; i < y.Length; i++) if (p[i] == y[i]) c++;
        return c;
    }

    /// <summary>Softmax probabilities of one row of logits.</summary>
    public static double[] Softmax<T>(ReadOnlySpan<T> logits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new double[logits.Length];
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, double.CreateTruncating(v));
        double sum = 0;
        for (int i = 0; i < r.Length; i++) { r[i] = Math.Exp(double.CreateTruncating(logits[i]) - max); sum += r[i]; }
        for (int i = 0; i < r.Length; i++) r[i] /= sum;
        return r;
    }
}
