using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Data;

/// <summary>
/// Iterates a data set in mini-batches: seeded shuffling (a new permutation each epoch), normalization
/// (x - mean) / std, and optional augmentation (random crop with zero padding, horizontal flip).
/// The batch tensor is reused between batches (valid until the next one is produced).
/// </summary>
public sealed class DataLoader<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ImageDataset _ds;
    private readonly SeededRandom _rng;
    private readonly int[] _order;

    /// <summary>Samples per batch (the last batch may be smaller).</summary>
    public int BatchSize { get; }
    /// <summary>Whether each epoch uses a new random order.</summary>
    public bool Shuffle { get; }
    /// <summary>Normalization mean.</summary>
    public float Mean { get; }
    /// <summary>Normalization standard deviation.</summary>
    public float Std { get; }
    /// <summary>Random-crop padding in pixels (0 = no crop).</summary>
    public int CropPadding { get; init; }
    /// <summary>Random horizontal flip with probability 1/2.</summary>
    public bool RandomFlip { get; init; }

    /// <summary>Creates the loader.</summary>
    public DataLoader(ImageDataset dataset, int batchSize, bool shuffle = false, ulong seed = 0, float mean = 0, float std = 1)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch size must be positive, got {batchSize}.");
        if (!(std > 0)) throw new ArgumentOutOfRangeException(nameof(std), $"std must be positive, got {std}.");
        _ds = dataset; BatchSize = batchSize; Shuffle = shuffle; Mean = mean; Std = std;
        _rng = new SeededRandom(seed);
        _order = Enumerable.Range(0, dataset.Count).ToArray();
    }

    /// <summary>Number of batches per epoch.</summary>
    public int BatchCount => (_ds.Count + BatchSize - 1) / BatchSize;

    /// <summary>One epoch of (images [B, C, H, W], labels) batches.</summary>
    public IEnumerable<(Tensor<T> Images, int[] Labels)> Epoch()
    {
        if (Shuffle) _rng.Shuffle(_order.AsSpan());
        int s = _ds.SampleSize, c = _ds.Channels, h = _ds.Height, w = _ds.Width;
        T[]? full = null; int[]? fullLabels = null;
        T mean = T.CreateTruncating(Mean), inv = T.CreateTruncating(1.0 / Std);
        for (int start = 0; start < _ds.Count; start += BatchSize)
        {
            int b = Math.Min(BatchSize, _ds.Count - start);
            T[] buf; int[] labels;
            if (b == BatchSize) { buf = full ??= new T[BatchSize * s]; labels = fullLabels ??= new int[BatchSize]; }
            else { buf = new T[b * s]; labels = new int[b]; }
            for (int i = 0; i < b; i++)
            {
                int idx = _order[start + i];
                labels[i] = _ds.Labels[idx];
                var src = _ds.Images.AsSpan(idx * s, s);
                var dst = buf.AsSpan(i * s, s);
                if (CropPadding == 0 && !RandomFlip)
                {
                    for (int j = 0; j < s; j++) dst[j] = (T.CreateTruncating(src[j]) - mean) * inv;
                    continue;
                }
                int dy = CropPadding > 0 ? _rng.NextInt(-CropPadding, CropPadding + 1) : 0;
                int dx = CropPadding > 0 ? _rng.NextInt(-CropPadding, CropPadding + 1) : 0;
                bool flip = RandomFlip && _rng.NextInt(2) == 1;
                // Pixels shifted in from outside are zero in raw pixel space (like padding then cropping), then normalized.
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                        {
                            int sy = y + dy, sx0 = x + dx;
                            int sx = flip ? w - 1 - sx0 : sx0;
                            float v = (uint)sy < (uint)h && (uint)sx0 < (uint)w ? src[(ch * h + sy) * w + sx] : 0f;
                            dst[(ch * h + y) * w + x] = (T.CreateTruncating(v) - mean) * inv;
                        }
            }
            yield return (new Tensor<T>(buf, 0, [b, c, h, w]), labels);
        }
    }
}
