using System.Globalization;
using System.IO.Compression;
using ConvKit.IO;
using ConvKit.Tensors;

namespace ConvKit.Data;

/// <summary>An in-memory labelled image set: pixels [N, C, H, W] as floats (scaled to [0, 1]) and class labels.</summary>
public sealed class ImageDataset
{
    /// <summary>Pixels, N·C·H·W values in [0, 1].</summary>
    public float[] Images { get; }
    /// <summary>Labels in [0, <see cref="Classes"/>).</summary>
    public int[] Labels { get; }
    /// <summary>Channels.</summary>
    public int Channels { get; }
    /// <summary>Height.</summary>
    public int Height { get; }
    /// <summary>Width.</summary>
    public int Width { get; }
    /// <summary>Number of classes.</summary>
    public int Classes { get; }
    /// <summary>A short name ("digits", "fashion-mnist", ...).</summary>
    public string Name { get; }

    /// <summary>Number of samples.</summary>
    public int Count => Labels.Length;
    /// <summary>Values per sample (C·H·W).</summary>
    public int SampleSize => Channels * Height * Width;

    /// <summary>Wraps arrays (no copy) after validating their sizes and labels.</summary>
    public ImageDataset(string name, float[] images, int[] labels, int channels, int height, int width, int classes)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (channels <= 0 || height <= 0 || width <= 0) throw new ArgumentException($"channels: invalid sample shape [{channels}, {height}, {width}].", nameof(channels));
        if ((long)labels.Length * channels * height * width != images.Length)
            throw new ArgumentException($"images: {images.Length} values for {labels.Length} samples of [{channels}, {height}, {width}].", nameof(images));
        foreach (var l in labels)
            if ((uint)l >= (uint)classes) throw new ArgumentException($"labels: label {l} outside [0, {classes}).", nameof(labels));
        Name = name; Images = images; Labels = labels; Channels = channels; Height = height; Width = width; Classes = classes;
    }

    /// <summary>The samples at <paramref name="indices"/>, copied into a new data set.</summary>
    public ImageDataset Subset(IReadOnlyList<int> indices)
    {
        int s = SampleSize;
        var img = new float[indices.Count * s];
        var lab = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Images.AsSpan(indices[i] * s, s).CopyTo(img.AsSpan(i * s, s));
            lab[i] = Labels[indices[i]];
        }
        return new ImageDataset(Name, img, lab, Channels, Height, Width, Classes);
    }

    /// <summary>The first <paramref name="n"/> samples (or all when n ≤ 0 or n ≥ Count).</summary>
    public ImageDataset Take(int n) => n <= 0 || n >= Count ? this : Subset(Enumerable.Range(0, n).ToArray());

    /// <summary>Mean and standard deviation of all pixel values (for normalization).</summary>
    public (float Mean, float Std) MeanStd()
    {
        double s = 0, s2 = 0;
        foreach (var v in Images) { s += v; s2 += (double)v * v; }
        double n = Math.Max(1, Images.Length), mean = s / n;
        double var = Math.Max(0, (s2 - n * mean * mean) / Math.Max(1, n - 1));
        return ((float)mean, (float)Math.Max(Math.Sqrt(var), 1e-6));
    }

    /// <summary>Sample <paramref name="index"/> as a tensor [C, H, W] (raw [0, 1] pixels).</summary>
    public Tensor<float> Sample(int index) => new(Images.AsSpan(index * SampleSize, SampleSize).ToArray(), 0, [Channels, Height, Width]);
}

/// <summary>The data sets ConvKit knows: the embedded UCI digits and IDX (MNIST-format) directories.</summary>
public static class Datasets
{
    /// <summary>
    /// The embedded UCI 8x8 digits (1797 images, 10 classes, pixels 0..16 scaled to [0, 1]), split into train and
    /// test sets: a seeded, stratified 80/20 split (the same for the same seed).
    /// </summary>
    public static (ImageDataset Train, ImageDataset Test) Digits(ulong seed = 0, double testFraction = 0.2)
    {
        var all = LoadDigits();
        return StratifiedSplit(all, testFraction, seed);
    }

    /// <summary>All 1797 embedded digits in file order.</summary>
    public static ImageDataset LoadDigits()
    {
        using var s = typeof(Datasets).Assembly.GetManifestResourceStream("ConvKit.Data.uci-digits-8x8.csv.gz")
            ?? throw new InvalidOperationException("The embedded digits resource is missing from the assembly.");
        using var gz = new GZipStream(s, CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        var images = new List<float>(1797 * 64);
        var labels = new List<int>(1797);
        string? line;
        int lineNo = 0;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            var parts = line.Split(',');
            if (parts.Length != 65) throw new InvalidDataException($"digits line {lineNo}: {parts.Length} fields, expected 65.");
            for (int i = 0; i < 64; i++) images.Add(int.Parse(parts[i], CultureInfo.InvariantCulture) / 16f);
            labels.Add(int.Parse(parts[64], CultureInfo.InvariantCulture));
        }
        return new ImageDataset("digits", images.ToArray(), labels.ToArray(), 1, 8, 8, 10);
    }

    /// <summary>Splits each class separately (seeded shuffle) so both parts keep the class proportions.</summary>
    public static (ImageDataset Train, ImageDataset Test) StratifiedSplit(ImageDataset all, double testFraction, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(all);
        if (testFraction is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(testFraction), $"test fraction must be in (0, 1), got {testFraction}.");
        var rng = new SeededRandom(seed);
        var train = new List<int>(); var test = new List<int>();
        for (int c = 0; c < all.Classes; c++)
        {
            var idx = Enumerable.Range(0, all.Count).Where(i => all.Labels[i] == c).ToArray();
            rng.Shuffle(idx.AsSpan());
            int nTest = (int)Math.Round(idx.Length * testFraction);
            test.AddRange(idx.Take(nTest));
            train.AddRange(idx.Skip(nTest));
        }
        train.Sort(); test.Sort();
        return (all.Subset(train), all.Subset(test));
    }

    /// <summary>Default location of the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist package).</summary>
    public const string FashionMnistDir = "/usr/share/datasets/fashion-mnist";

    /// <summary>
    /// Loads an MNIST-format directory: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]. Pixels are scaled to [0, 1].
    /// </summary>
    public static (ImageDataset Train, ImageDataset Test) FromIdxDirectory(string dir, string name = "mnist")
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"data directory '{dir}' does not exist.");
        return (LoadIdxPair(dir, "train", name), LoadIdxPair(dir, "t10k", name));
    }

    /// <summary>Fashion-MNIST from <paramref name="dir"/> (default <see cref="FashionMnistDir"/>).</summary>
    public static (ImageDataset Train, ImageDataset Test) FashionMnist(string? dir = null) => FromIdxDirectory(dir ?? FashionMnistDir, "fashion-mnist");

    private static ImageDataset LoadIdxPair(string dir, string prefix, string name)
    {
        var imgs = Idx.Read(Find(dir, $"{prefix}-images-idx3-ubyte"));
        var labs = Idx.Read(Find(dir, $"{prefix}-labels-idx1-ubyte"));
        return FromIdx(imgs, labs, name);
    }

    /// <summary>Builds a data set from an images array [N, H, W] (or [N, C, H, W]) and a labels array [N].</summary>
    public static ImageDataset FromIdx(IdxArray images, IdxArray labels, string name = "idx")
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.Dims.Length is not (3 or 4)) throw new InvalidDataException($"IDX images: expected 3 or 4 dimensions, got {images.Dims.Length}.");
        if (labels.Dims.Length != 1) throw new InvalidDataException($"IDX labels: expected 1 dimension, got {labels.Dims.Length}.");
        if (labels.Dims[0] != images.Dims[0]) throw new InvalidDataException($"IDX: {images.Dims[0]} images but {labels.Dims[0]} labels.");
        int c = images.Dims.Length == 4 ? images.Dims[1] : 1, h = images.Dims[^2], w = images.Dims[^1];
        var px = new float[images.Data.Length];
        for (int i = 0; i < px.Length; i++) px[i] = images.Data[i] / 255f;
        var lab = new int[labels.Data.Length];
        int classes = 0;
        for (int i = 0; i < lab.Length; i++) { lab[i] = labels.Data[i]; classes = Math.Max(classes, lab[i] + 1); }
        return new ImageDataset(name, px, lab, c, h, w, Math.Max(classes, 10));
    }

    private static string Find(string dir, string stem)
    {
        foreach (var cand in new[] { stem + ".gz", stem, stem.Replace("-idx", ".idx", StringComparison.Ordinal) + ".gz", stem.Replace("-idx", ".idx", StringComparison.Ordinal) })
        {
            var p = Path.Combine(dir, cand);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"data directory '{dir}' has no {stem}[.gz].");
    }
}
