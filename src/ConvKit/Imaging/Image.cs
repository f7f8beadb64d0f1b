using ConvKit.IO;
using ConvKit.Tensors;

namespace ConvKit.Imaging;

/// <summary>How <see cref="Image.FromTensor"/> maps float values to integer samples.</summary>
public enum ImageScaling
{
    /// <summary>Values in [0, 1] map to [0, max]; values outside are clamped.</summary>
    Clamp,
    /// <summary>Each channel's minimum maps to 0 and its maximum to max (a constant channel becomes 0).</summary>
    MinMax,
}

/// <summary>
/// A decoded raster image: <see cref="Width"/>·<see cref="Height"/> pixels of 1 (gray), 2 (gray + alpha),
/// 3 (RGB) or 4 (RGBA) interleaved integer samples in [0, <see cref="MaxValue"/>]. PNG and PNM files load into it
/// and save from it; <see cref="ToTensor"/> and <see cref="FromTensor"/> convert to and from CHW float tensors.
/// </summary>
public sealed class Image
{
    /// <summary>Largest accepted width or height (a sanity bound applied before any allocation).</summary>
    public const int MaxDimension = 1 << 16;
    /// <summary>Largest accepted number of samples (width · height · channels).</summary>
    public const long MaxSamples = 1L << 28;

    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>Samples per pixel: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.</summary>
    public int Channels { get; }
    /// <summary>The value of a full-intensity sample (255 for 8-bit, 65535 for 16-bit; PNM may use others).</summary>
    public int MaxValue { get; }
    /// <summary>Samples, row-major, channels interleaved: index (y·Width + x)·Channels + c.</summary>
    public ushort[] Data { get; }

    /// <summary>True when the last channel is alpha (2 or 4 channels).</summary>
    public bool HasAlpha => Channels is 2 or 4;

    /// <summary>Creates an image (zero-filled unless <paramref name="data"/> is given, which is used without copying).</summary>
    public Image(int width, int height, int channels, int maxValue = 255, ushort[]? data = null)
    {
        CheckSize(width, height, channels);
        if (maxValue is < 1 or > 65535) throw new ArgumentOutOfRangeException(nameof(maxValue), $"maxValue must be in [1, 65535], got {maxValue}.");
        long n = (long)width * height * channels;
        if (data is not null && data.Length != n)
            throw new ArgumentException($"data: {data.Length} samples for a {width}x{height}x{channels} image (needs {n}).", nameof(data));
        Width = width; Height = height; Channels = channels; MaxValue = maxValue;
        Data = data ?? new ushort[n];
    }

    internal static void CheckSize(int width, int height, int channels)
    {
        if (width is < 1 or > MaxDimension) throw new ArgumentOutOfRangeException(nameof(width), $"width must be in [1, {MaxDimension}], got {width}.");
        if (height is < 1 or > MaxDimension) throw new ArgumentOutOfRangeException(nameof(height), $"height must be in [1, {MaxDimension}], got {height}.");
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), $"channels must be 1-4, got {channels}.");
        if ((long)width * height * channels > MaxSamples)
            throw new ArgumentException($"a {width}x{height}x{channels} image exceeds the limit of {MaxSamples} samples.", nameof(width));
    }

    /// <summary>Sample at column <paramref name="x"/>, row <paramref name="y"/>, channel <paramref name="c"/>.</summary>
    public ushort this[int x, int y, int c]
    {
        get => Data[((long)y * Width + x) * Channels + c];
        set => Data[((long)y * Width + x) * Channels + c] = value;
    }

    /// <summary>Loads a PNG or PNM (P2/P3/P5/P6) file, recognized by its first bytes.</summary>
    public static Image Load(string path) => Decode(File.ReadAllBytes(path));

    /// <summary>Decodes PNG or PNM bytes, recognized by their first bytes.</summary>
    public static Image Decode(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (Png.IsPng(bytes)) return Png.Decode(bytes);
        if (bytes.Length >= 2 && bytes[0] == (byte)'P' && bytes[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6') return Pnm.Decode(bytes);
        throw new InvalidDataException("unrecognized image format: expected a PNG or a PGM/PPM (P2, P3, P5, P6) file.");
    }

    /// <summary>Saves as PNG (.png) or PNM (.pgm, .ppm, .pnm; binary), chosen by the extension. PNM drops alpha.</summary>
    public void Save(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        byte[] bytes = ext switch
        {
            ".png" => Png.Encode(this),
            ".pgm" or ".ppm" or ".pnm" => Pnm.Encode(ext == ".pgm" ? ToGray() : ext == ".ppm" ? ToRgb() : WithoutAlpha()),
            _ => throw new ArgumentException($"path: unsupported image extension '{ext}' (use .png, .pgm, .ppm or .pnm).", nameof(path)),
        };
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Returns the image without its alpha channel (itself when it has none).</summary>
    public Image WithoutAlpha()
    {
        if (!HasAlpha) return this;
        int oc = Channels - 1;
        var img = new Image(Width, Height, oc, MaxValue);
        long n = (long)Width * Height;
        for (long p = 0; p < n; p++)
            for (int c = 0; c < oc; c++) img.Data[p * oc + c] = Data[p * Channels + c];
        return img;
    }

    /// <summary>One-channel luma (0.299 R + 0.587 G + 0.114 B, as OpenCV's RGB2GRAY), alpha dropped.</summary>
    public Image ToGray()
    {
        var src = WithoutAlpha();
        if (src.Channels == 1) return src;
        var img = new Image(Width, Height, 1, MaxValue);
        long n = (long)Width * Height;
        for (long p = 0; p < n; p++)
        {
            double v = 0.299 * src.Data[p * 3] + 0.587 * src.Data[p * 3 + 1] + 0.114 * src.Data[p * 3 + 2];
            img.Data[p] = (ushort)Math.Min(MaxValue, (int)Math.Round(v));
        }
        return img;
    }

    /// <summary>Three-channel RGB (gray replicated), alpha dropped.</summary>
    public Image ToRgb()
    {
        var src = WithoutAlpha();
        if (src.Channels == 3) return src;
        var img = new Image(Width, Height, 3, MaxValue);
        long n = (long)Width * Height;
        for (long p = 0; p < n; p++) img.Data[p * 3] = img.Data[p * 3 + 1] = img.Data[p * 3 + 2] = src.Data[p];
        return img;
    }

    /// <summary>The samples as a float tensor [C, H, W] scaled to [0, 1] (sample / MaxValue).</summary>
    public Tensor<float> ToTensor()
    {
        var t = new Tensor<float>(Channels, Height, Width);
        var dst = t.Data;
        int plane = Width * Height;
        float max = MaxValue; // divided, not multiplied by the reciprocal: exact rounding, as NumPy's img / 255
        for (int p = 0; p < plane; p++)
            for (int c = 0; c < Channels; c++) dst[c * plane + p] = Data[p * Channels + c] / max;
        return t;
    }

    /// <summary>An image from a float tensor [C, H, W] (C = 1-4) or [H, W]: values in [0, 1] are scaled to
    /// [0, 2^bitDepth − 1] and clamped, or each channel is min-max normalized first.</summary>
    /// <param name="t">The tensor.</param>
    /// <param name="bitDepth">8 or 16.</param>
    /// <param name="scaling">Clamp (default) or per-channel min-max normalization.</param>
    public static Image FromTensor(Tensor<float> t, int bitDepth = 8, ImageScaling scaling = ImageScaling.Clamp)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.Rank == 2) t = t.Reshape(1, t.Size(0), t.Size(1));
        if (t.Rank != 3 || t.Size(0) is < 1 or > 4)
            throw new ArgumentException($"t: expected [C, H, W] with C in 1-4 or [H, W], got {ShapeMath.Format(t.Shape)}.", nameof(t));
        if (bitDepth is not (8 or 16)) throw new ArgumentOutOfRangeException(nameof(bitDepth), $"bitDepth must be 8 or 16, got {bitDepth}.");
        int ch = t.Size(0), h = t.Size(1), w = t.Size(2);
        int max = bitDepth == 8 ? 255 : 65535;
        var img = new Image(w, h, ch, max);
        var src = t.AsSpan();
        int plane = w * h;
        for (int c = 0; c < ch; c++)
        {
            var s = src.Slice(c * plane, plane);
            float lo = 0, scale = 1;
            if (scaling == ImageScaling.MinMax)
            {
                float mn = float.PositiveInfinity, mx = float.NegativeInfinity;
                foreach (var v in s) if (float.IsFinite(v)) { if (v < mn) mn = v; if (v > mx) mx = v; }
                lo = float.IsFinite(mn) ? mn : 0;
                scale = mx > mn ? 1f / (mx - mn) : 0;
            }
            for (int p = 0; p < plane; p++)
            {
                float v = (s[p] - lo) * scale;
                if (float.IsNaN(v)) v = 0;
                v = Math.Clamp(v, 0f, 1f);
                img.Data[p * ch + c] = (ushort)(int)MathF.Round(v * max);
            }
        }
        return img;
    }
}
