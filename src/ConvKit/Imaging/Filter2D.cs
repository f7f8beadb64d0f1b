using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Imaging;

/// <summary>How pixels outside the image are made up (OpenCV's border types; <c>|</c> marks the image edge,
/// the image is <c>abcdefgh</c>).</summary>
public enum BorderMode
{
    /// <summary><c>gfedcb|abcdefgh|gfedcba</c> (OpenCV's default, BORDER_REFLECT_101).</summary>
    Reflect101,
    /// <summary><c>aaaaaa|abcdefgh|hhhhhhh</c>.</summary>
    Replicate,
    /// <summary><c>fedcba|abcdefgh|hgfedcb</c>.</summary>
    Reflect,
    /// <summary><c>vvvvvv|abcdefgh|vvvvvvv</c> for a given value v (0 by default).</summary>
    Constant,
    /// <summary><c>cdefgh|abcdefgh|abcdefg</c>.</summary>
    Wrap,
}

/// <summary>
/// Direct 2-d image filtering (correlation, like OpenCV's <c>filter2D</c>) of float planes: the output has the
/// input's size, the kernel's anchor sits on each output pixel and the border is extended by a
/// <see cref="BorderMode"/>. Rows run in AVX2/FMA vectors over a cache of border-extended source rows; rank-1
/// kernels run as two 1-d passes; large non-separable kernels go to the convolution engine
/// (<see cref="Functional.Conv2d{T}"/>). <see cref="Reference"/> is the plain-loop twin.
/// </summary>
public static class Filter2D
{
    /// <summary>Non-separable kernels with at least this many weights run on the convolution engine.</summary>
    public const int EngineThreshold = 121;

    /// <summary>Filters every plane of <paramref name="image"/> ([H, W], [C, H, W] or [N, C, H, W]).</summary>
    /// <param name="image">Input planes.</param>
    /// <param name="kernel">Kernel (correlated; see <paramref name="convolution"/>).</param>
    /// <param name="border">Border extension (default reflect-101, as OpenCV).</param>
    /// <param name="borderValue">Value outside the image for <see cref="BorderMode.Constant"/>.</param>
    /// <param name="convolution">True convolution: the kernel is rotated by 180° (and its anchor mirrored).</param>
    /// <param name="stride">Output subsampling: output pixel (y, x) is centered on input (y·stride, x·stride).</param>
    /// <param name="dilation">Spacing between kernel taps.</param>
    /// <param name="threads">Worker threads (0: up to the processor count).</param>
    /// <param name="output">Optional destination of the input's shape (stride 1 only); allocated when null.</param>
    public static Tensor<float> Apply(Tensor<float> image, Kernel2D kernel, BorderMode border = BorderMode.Reflect101, float borderValue = 0f,
        bool convolution = false, int stride = 1, int dilation = 1, int threads = 0, Tensor<float>? output = null)
    {
        var (planes, h, w) = Planes(image, nameof(image));
        ArgumentNullException.ThrowIfNull(kernel);
        CheckArgs(border, stride, dilation);
        if (convolution) kernel = kernel.Flip();
        if (output is not null && (!output.SameShape(image) || stride != 1 || dilation != 1))
            throw new ArgumentException($"output: expected shape {ShapeMath.Format(image.Shape)} with stride and dilation 1, got {ShapeMath.Format(output.Shape)}.", nameof(output));
        if (stride != 1 || dilation != 1)
            return Strided(image, planes, h, w, kernel, border, borderValue, stride, dilation);

        // Every element is written below, so the destination need not be zeroed first.
        output ??= new Tensor<float>(HugePages.NewArray(image.Length), image.ShapeArray());
        if (kernel.Rows * kernel.Cols == 1)
        {
            float k = kernel.Values[0];
            var s = image.AsSpan(); var d = output.AsSpan();
            for (int i = 0; i < s.Length; i++) d[i] = s[i] * k;
            return output;
        }
        if (kernel.TrySeparate(out var col, out var row) && kernel.Rows + kernel.Cols < kernel.Rows * kernel.Cols)
        {
            var plan = new Plan(h, w, kernel.Rows, kernel.Cols, kernel.AnchorY, kernel.AnchorX, border, borderValue, null, col, row);
            Run(image, output, planes, plan, threads);
        }
        else if (kernel.Rows * kernel.Cols >= EngineThreshold)
        {
            var e = Engine(image, planes, h, w, kernel, border, borderValue);
            e.AsSpan().CopyTo(output.AsSpan());
        }
        else
        {
            var plan = new Plan(h, w, kernel.Rows, kernel.Cols, kernel.AnchorY, kernel.AnchorX, border, borderValue, kernel.Values, null, null);
            Run(image, output, planes, plan, threads);
        }
        return output;
    }

    /// <summary>Filters with a separable kernel <c>column ⊗ row</c> as two 1-d passes (like OpenCV's sepFilter2D).</summary>
    /// <param name="image">Input planes ([H, W], [C, H, W] or [N, C, H, W]).</param>
    /// <param name="column">Vertical kernel (applied down the rows).</param>
    /// <param name="row">Horizontal kernel (applied along each row).</param>
    /// <param name="border">Border extension.</param>
    /// <param name="borderValue">Value outside the image for <see cref="BorderMode.Constant"/>.</param>
    /// <param name="threads">Worker threads (0: up to the processor count).</param>
    public static Tensor<float> Separable(Tensor<float> image, float[] column, float[] row, BorderMode border = BorderMode.Reflect101,
        float borderValue = 0f, int threads = 0)
    {
        var (planes, h, w) = Planes(image, nameof(image));
        ArgumentNullException.ThrowIfNull(column);
        ArgumentNullException.ThrowIfNull(row);
        if (column.Length is < 1 or > Kernel2D.MaxSize || row.Length is < 1 or > Kernel2D.MaxSize)
            throw new ArgumentException($"column/row: kernel lengths {column.Length} and {row.Length} must be in [1, {Kernel2D.MaxSize}].", nameof(column));
        CheckArgs(border, 1, 1);
        var output = new Tensor<float>(GC.AllocateUninitializedArray<float>(image.Length), image.ShapeArray());
        var plan = new Plan(h, w, column.Length, row.Length, column.Length / 2, row.Length / 2, border, borderValue, null, column, row);
        Run(image, output, planes, plan, threads);
        return output;
    }

    /// <summary>The plain-loop reference: per output pixel, border lookup per tap, double accumulation.</summary>
    /// <inheritdoc cref="Apply"/>
    public static Tensor<float> Reference(Tensor<float> image, Kernel2D kernel, BorderMode border = BorderMode.Reflect101, float borderValue = 0f,
        bool convolution = false, int stride = 1, int dilation = 1)
    {
        var (planes, h, w) = Planes(image, nameof(image));
        ArgumentNullException.ThrowIfNull(kernel);
        CheckArgs(border, stride, dilation);
        if (convolution) kernel = kernel.Flip();
        int ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
        var output = new Tensor<float>(OutShape(image, ho, wo));
        var src = image.AsSpan(); var dst = output.AsSpan();
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < ho; y++)
                for (int x = 0; x < wo; x++)
                {
                    double acc = 0;
                    for (int i = 0; i < kernel.Rows; i++)
                    {
                        int sy = BorderIndex(y * stride + (i - kernel.AnchorY) * dilation, h, border);
                        for (int j = 0; j < kernel.Cols; j++)
                        {
                            int sx = BorderIndex(x * stride + (j - kernel.AnchorX) * dilation, w, border);
                            double v = sy < 0 || sx < 0 ? borderValue : src[(p * h + sy) * w + sx];
                            acc += kernel[i, j] * v;
                        }
                    }
                    dst[(p * ho + y) * wo + x] = (float)acc;
                }
        return output;
    }

    /// <summary>Maps a coordinate outside [0, <paramref name="length"/>) into it as the border mode does
    /// (OpenCV's borderInterpolate); −1 for <see cref="BorderMode.Constant"/> outside the image.</summary>
    public static int BorderIndex(int p, int length, BorderMode border)
    {
        if ((uint)p < (uint)length) return p;
        switch (border)
        {
            case BorderMode.Constant: return -1;
            case BorderMode.Replicate: return p < 0 ? 0 : length - 1;
            case BorderMode.Wrap:
                p %= length;
                return p < 0 ? p + length : p;
            default:
                if (length == 1) return 0;
                int delta = border == BorderMode.Reflect101 ? 1 : 0;
                // Reflection is periodic with period 2·length − 2·delta; fold once, then mirror.
                int period = 2 * length - 2 * delta;
                p %= period;
                if (p < 0) p += period;
                return p < length ? p : period - p - (1 - delta);
        }
    }

    /// <summary>Parses a border mode name: reflect101 (or default), replicate, reflect, constant, wrap
    /// (case, '-' and '_' ignored).</summary>
    public static BorderMode ParseBorder(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToLowerInvariant().Replace("_", "").Replace("-", "") switch
        {
            "reflect101" or "default" => BorderMode.Reflect101,
            "replicate" => BorderMode.Replicate,
            "reflect" => BorderMode.Reflect,
            "constant" => BorderMode.Constant,
            "wrap" => BorderMode.Wrap,
            _ => throw new ArgumentException($"border: unknown mode '{name}' (use reflect101, replicate, reflect, constant or wrap).", nameof(name)),
        };
    }

    private static void CheckArgs(BorderMode border, int stride, int dilation)
    {
        if (!Enum.IsDefined(border)) throw new ArgumentOutOfRangeException(nameof(border), $"border: unknown mode {border}.");
        if (stride is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(stride), $"stride must be in [1, 64], got {stride}.");
        if (dilation is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(dilation), $"dilation must be in [1, 64], got {dilation}.");
    }

    private static (int Planes, int H, int W) Planes(Tensor<float> image, string name)
    {
        ArgumentNullException.ThrowIfNull(image, name);
        if (image.Rank is < 2 or > 4)
            throw new ArgumentException($"{name}: expected [H, W], [C, H, W] or [N, C, H, W], got {ShapeMath.Format(image.Shape)}.", name);
        int h = image.Size(-2), w = image.Size(-1);
        if (h == 0 || w == 0) throw new ArgumentException($"{name}: empty image {ShapeMath.Format(image.Shape)}.", name);
        return (image.Length / (h * w), h, w);
    }

    private static int[] OutShape(Tensor<float> image, int ho, int wo)
    {
        var s = image.ShapeArray();
        s[^2] = ho; s[^1] = wo;
        return s;
    }

    // ------------------------------------------------------------------ strided / dilated (demonstration path)

    private static Tensor<float> Strided(Tensor<float> image, int planes, int h, int w, Kernel2D k, BorderMode border, float borderValue, int stride, int dilation)
    {
        int ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
        var output = new Tensor<float>(OutShape(image, ho, wo));
        var src = image.Data; int so = image.Offset;
        var dst = output.Data;
        var rowIdx = new int[k.Rows];
        var colIdx = new int[wo * k.Cols];
        for (int x = 0; x < wo; x++)
            for (int j = 0; j < k.Cols; j++) colIdx[x * k.Cols + j] = BorderIndex(x * stride + (j - k.AnchorX) * dilation, w, border);
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < ho; y++)
            {
                for (int i = 0; i < k.Rows; i++) rowIdx[i] = BorderIndex(y * stride + (i - k.AnchorY) * dilation, h, border);
                for (int x = 0; x < wo; x++)
                {
                    float acc = 0;
                    for (int i = 0; i < k.Rows; i++)
                    {
                        int sy = rowIdx[i];
                        for (int j = 0; j < k.Cols; j++)
                        {
                            int sx = colIdx[x * k.Cols + j];
                            float v = sy < 0 || sx < 0 ? borderValue : src[so + (p * h + sy) * w + sx];
                            acc += k.Values[i * k.Cols + j] * v;
                        }
                    }
                    dst[(p * ho + y) * wo + x] = acc;
                }
            }
        return output;
    }

    // ------------------------------------------------------------------ large kernels: the convolution engine

    private static Tensor<float> Engine(Tensor<float> image, int planes, int h, int w, Kernel2D k, BorderMode border, float borderValue)
    {
        // Border-extend each plane explicitly, then run a valid (unpadded) single-channel convolution with N = planes.
        int hp = h + k.Rows - 1, wp = w + k.Cols - 1;
        var padded = new Tensor<float>(planes, 1, hp, wp);
        var src = image.AsSpan(); var pd = padded.Data;
        var cols = new int[wp];
        for (int x = 0; x < wp; x++) cols[x] = BorderIndex(x - k.AnchorX, w, border);
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < hp; y++)
            {
                int sy = BorderIndex(y - k.AnchorY, h, border);
                int o = (p * hp + y) * wp;
                for (int x = 0; x < wp; x++)
                    pd[o + x] = sy < 0 || cols[x] < 0 ? borderValue : src[(p * h + sy) * w + cols[x]];
            }
        var weight = Tensor.FromArray(k.Values, 1, 1, k.Rows, k.Cols);
        var y2 = Functional.Conv2d(padded, weight, null, 1, Padding.Valid);
        return new Tensor<float>(y2.Data, y2.Offset, image.ShapeArray());
    }

    // ------------------------------------------------------------------ fast direct and separable paths

    private sealed class Plan(int h, int w, int kh, int kw, int ay, int ax, BorderMode border, float borderValue,
        float[]? kernel, float[]? column, float[]? row)
    {
        public readonly int H = h, W = w, KH = kh, KW = kw, AY = ay, AX = ax;
        public readonly BorderMode Border = border;
        public readonly float BorderValue = borderValue;
        public readonly float[]? Kernel = kernel, Column = column, Row = row;
        /// <summary>Length of a border-extended row, rounded up so vector loads past the end (up to 16 floats,
        /// for the aligned loads of the shifted-view kernels) stay inside.</summary>
        public readonly int PaddedWidth = (w + kw - 1 + 16 + 15) & ~15;
        /// <summary>Source column for each extended-row position (−1: constant).</summary>
        public readonly int[] ColumnMap = MakeColumnMap(w, kw, ax, border);
        /// <summary>Write the output with non-temporal stores (set when it is too large to stay in cache).</summary>
        public bool Streaming;
        /// <summary>Write the output of the AVX-512 separable passes with non-temporal stores.</summary>
        public bool SeparableStreaming;

        private static int[] MakeColumnMap(int w, int kw, int ax, BorderMode border)
        {
            var m = new int[w + kw - 1];
            for (int x = 0; x < m.Length; x++) m[x] = BorderIndex(x - ax, w, border);
            return m;
        }
    }

    /// <summary>Outputs larger than this many floats are written with non-temporal stores. Off by default: on the
    /// Zen 3 test machine they made 3x3 filtering of a 1920x1080x3 image about 1.5x slower.</summary>
    internal static long StreamingThreshold = long.MaxValue;

    /// <summary>Run the 16-wide AVX-512 kernels (four output rows per pass). Tests switch it off to cover the
    /// AVX2 path on machines that have AVX-512.</summary>
    internal static bool UseVector512 = Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Fma.IsSupported;

    /// <summary>The AVX-512 separable passes write outputs larger than this many floats with non-temporal stores
    /// (16 MB: well past the caches, where reading the destination lines before writing them is wasted traffic).</summary>
    internal static long SeparableStreamingThreshold = 1 << 22;

    /// <summary>Prefetch the next pass's source rows during the AVX-512 passes.</summary>
    internal static bool PrefetchNext = true;

    /// <summary>Run vector kernels at all; tests switch it off to cover the scalar loops.</summary>
    internal static bool UseVectors = Vector256.IsHardwareAccelerated;

    private static void Run(Tensor<float> image, Tensor<float> output, int planes, Plan plan, int threads)
    {
        long rows = (long)planes * plan.H;
        plan.Streaming = rows * plan.W > StreamingThreshold;
        plan.SeparableStreaming = plan.Kernel is null && rows * plan.W > SeparableStreamingThreshold;
        int t = threads > 0 ? threads : Environment.ProcessorCount;
        // Small images are not worth a thread hand-off.
        if ((long)plan.W * rows * plan.KH * plan.KW < 1 << 18) t = 1;
        t = (int)Math.Max(1, Math.Min(t, rows));
        if (t == 1) { RunAll(image, output, plan, rows); return; }
        // Workers take chunks of rows from a shared counter. Chunks are small, so a worker whose core is taken
        // by another process holds up the call by one chunk at most; a worker that gets the chunk right after
        // its previous one keeps its row cache, so a lone worker extends every source row once. The caller
        // works too and waits only for chunks a helper has taken: a helper that has not started by the time
        // the chunks run out finds none and touches nothing (waiting for it to start cost milliseconds on a
        // busy machine, more than the second thread gained).
        int chunk = (int)Math.Max(4, Math.Min(ChunkRows, rows / t) & ~3);
        var work = new Work(image, output, plan, rows, chunk);
        for (int i = 1; i < t; i++) ThreadPool.UnsafeQueueUserWorkItem(static w => w.Help(), work, preferLocal: false);
        work.Help();
        work.WaitForHelpers();
    }

    /// <summary>Rows per chunk a worker takes at a time (a multiple of 4).</summary>
    internal static int ChunkRows = 16;

    private static void RunAll(Tensor<float> image, Tensor<float> output, Plan plan, long rows)
    {
        using var cache = new RowCache(plan);
        using var scratch = new Scratch(plan);
        RunRange(image, output, plan, 0, rows, cache, scratch, new nint[plan.KH + 7], false);
        if ((plan.Streaming || plan.SeparableStreaming) && Sse.IsSupported) Sse.StoreFence(); // make the non-temporal stores visible before returning
    }

    /// <summary>One threaded call: the chunk counter and the count of chunks being worked on.</summary>
    private sealed class Work(Tensor<float> image, Tensor<float> output, Plan plan, long rows, int chunk)
    {
        private readonly int _chunks = (int)((rows + chunk - 1) / chunk);
        private int _next, _inFlight;
        private readonly ManualResetEventSlim _idle = new(false);

        public void Help()
        {
            RowCache? cache = null;
            Scratch? scratch = null;
            nint[]? rowPtrs = null;
            long last = -1;
            try
            {
                while (true)
                {
                    // Announce before claiming: once every chunk is claimed, _inFlight counts all unfinished ones.
                    Interlocked.Increment(ref _inFlight);
                    try
                    {
                        int b = Interlocked.Increment(ref _next) - 1;
                        if (b >= _chunks) return;
                        cache ??= new RowCache(plan);
                        scratch ??= new Scratch(plan);
                        rowPtrs ??= new nint[plan.KH + 7];
                        long start = (long)b * chunk, end = Math.Min(rows, start + chunk);
                        RunRange(image, output, plan, start, end, cache, scratch, rowPtrs, start == last && start % plan.H != 0);
                        last = end;
                    }
                    finally
                    {
                        // make the non-temporal stores visible before the chunk counts as done
                        if ((plan.Streaming || plan.SeparableStreaming) && Sse.IsSupported) Sse.StoreFence();
                        if (Interlocked.Decrement(ref _inFlight) == 0) _idle.Set();
                    }
                }
            }
            finally
            {
                cache?.Dispose();
                scratch?.Dispose();
            }
        }

        /// <summary>Called by the caller after its own <see cref="Help"/>: every chunk is claimed by then.</summary>
        public void WaitForHelpers()
        {
            while (Volatile.Read(ref _inFlight) != 0)
            {
                _idle.Wait();
                _idle.Reset();
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void RunRange(Tensor<float> image, Tensor<float> output, Plan plan, long start, long end, RowCache cache, Scratch scratch, nint[] rowPtrs,
        bool continues)
    {
        int h = plan.H, w = plan.W, kh = plan.KH;
        // Four output rows per pass with 16-wide vectors where AVX-512 runs and a row holds at least one vector.
        bool wide = UseVector512 && UseVectors && w >= 16;
        fixed (float* srcBase = &image.Data[image.Offset])
        fixed (float* dstBase = &output.Data[output.Offset])
        {
            // Non-temporal stores need every row of a four-row pass at the same 64-byte alignment. They pay off
            // for the separable passes (a few percent) and lose for the direct ones, measured here.
            bool nt = wide && (w & 15) == 0 && ((nint)dstBase & 3) == 0
                && (plan.Streaming || plan.SeparableStreaming);
            long r = start;
            while (r < end)
            {
                int p = (int)(r / h), y = (int)(r % h);
                int yEnd = (int)Math.Min(h, y + (end - r));
                float* src = srcBase + (long)p * h * w;
                // The cache holds rows of one plane; it stays valid when this range continues the previous one.
                if (!continues) cache.Reset();
                continues = false;
                fixed (nint* rp = rowPtrs)
                    while (y < yEnd)
                    {
                        float* dst = dstBase + ((long)p * h + y) * w;
                        if (wide && y + 3 < yEnd)
                        {
                            nint* pf = null;
                            if (PrefetchNext)
                            {
                                pf = rp + kh + 3;
                                for (int i = 0; i < 4; i++)
                                {
                                    int sy = BorderIndex(y + kh + 3 + i - plan.AY, h, plan.Border);
                                    pf[i] = sy < 0 ? (nint)scratch.ConstantRow : (nint)(src + (long)sy * w);
                                }
                            }
                            if (plan.Kernel is not null)
                            {
                                for (int i = 0; i < kh + 3; i++)
                                    rp[i] = cache.Get(src, BorderIndex(y + i - plan.AY, h, plan.Border), y);
                                fixed (float* kp = plan.Kernel)
                                    Direct4x512(rp, kp, kh, plan.KW, dst, w, nt, pf);
                            }
                            else
                            {
                                // The vertical pass reads the source rows in place (rows outside map to the
                                // border rows or to a constant row); only its 1-d result is extended sideways.
                                for (int i = 0; i < kh + 3; i++)
                                {
                                    int sy = BorderIndex(y + i - plan.AY, h, plan.Border);
                                    rp[i] = sy < 0 ? (nint)scratch.ConstantRow : (nint)(src + (long)sy * w);
                                }
                                Separable4x512(rp, plan, scratch.Tmp, dst, nt, pf);
                            }
                            y += 4; r += 4;
                            continue;
                        }
                        if (plan.Kernel is null && y + 1 < yEnd)
                        {
                            for (int i = 0; i <= kh; i++)
                                rp[i] = cache.Get(src, BorderIndex(y + i - plan.AY, h, plan.Border), y);
                            float* tp = scratch.Tmp, tp1 = tp + plan.PaddedWidth;
                            ColumnPass2(rp, plan.Column!, tp, tp1, w + plan.KW - 1);
                            RowPass(tp, plan.Row!, dst, w, plan.Streaming);
                            RowPass(tp1, plan.Row!, dst + w, w, plan.Streaming);
                            y += 2; r += 2;
                            continue;
                        }
                        if (plan.Kernel is not null && y + 1 < yEnd)
                        {
                            // Two output rows per pass share the loads of their kH − 1 common source rows.
                            for (int i = 0; i <= kh; i++)
                                rp[i] = cache.Get(src, BorderIndex(y + i - plan.AY, h, plan.Border), y);
                            DirectRows2(rp, plan.Kernel, plan.KH, plan.KW, dst, dst + w, w);
                            y += 2; r += 2;
                            continue;
                        }
                        for (int i = 0; i < kh; i++)
                            rp[i] = cache.Get(src, BorderIndex(y + i - plan.AY, h, plan.Border), y);
                        if (plan.Kernel is not null) DirectRow(rp, plan.Kernel, plan.KH, plan.KW, dst, w, plan.Streaming);
                        else
                        {
                            ColumnPass(rp, plan.Column!, scratch.Tmp, w + plan.KW - 1);
                            RowPass(scratch.Tmp, plan.Row!, dst, w, plan.Streaming);
                        }
                        y++; r++;
                    }
            }
        }
    }

    /// <summary>Per-worker buffers: four 1-d rows for the separable passes and a constant border row.</summary>
    private sealed unsafe class Scratch : IDisposable
    {
        public readonly float* Tmp;
        public readonly float* ConstantRow;

        public Scratch(Plan plan)
        {
            Tmp = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(4 * plan.PaddedWidth) * sizeof(float), 64);
            ConstantRow = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)plan.PaddedWidth * sizeof(float), 64);
            new Span<float>(ConstantRow, plan.PaddedWidth).Fill(plan.BorderValue);
        }

        public void Dispose()
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(Tmp);
            System.Runtime.InteropServices.NativeMemory.AlignedFree(ConstantRow);
        }
    }

    /// <summary>Border-extended copies of recently used source rows (each row is extended once per plane and worker).</summary>
    private sealed unsafe class RowCache : IDisposable
    {
        private readonly Plan _plan;
        private readonly float*[] _slots;
        private readonly int[] _row;   // source row in the slot (int.MinValue: empty)
        private readonly int[] _stamp; // output row that last used the slot

        public RowCache(Plan plan)
        {
            _plan = plan;
            int n = plan.KH + 4; // four output rows at a time need kH + 3 rows, plus one to evict
            _slots = new float*[n];
            _row = new int[n];
            _stamp = new int[n];
            for (int i = 0; i < n; i++)
                _slots[i] = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)plan.PaddedWidth * sizeof(float), 64);
            Reset();
        }

        public void Reset()
        {
            Array.Fill(_row, int.MinValue);
            Array.Fill(_stamp, int.MinValue);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
        public nint Get(float* src, int sourceRow, int outputRow)
        {
            int victim = -1, oldest = int.MaxValue;
            for (int i = 0; i < _row.Length; i++)
            {
                if (_row[i] == sourceRow) { _stamp[i] = outputRow; return (nint)_slots[i]; }
                if (_stamp[i] != outputRow && _stamp[i] < oldest) { oldest = _stamp[i]; victim = i; }
            }
            float* d = _slots[victim];
            int wp = _plan.W + _plan.KW - 1;
            if (sourceRow < 0) new Span<float>(d, _plan.PaddedWidth).Fill(_plan.BorderValue);
            else
            {
                float* s = src + (long)sourceRow * _plan.W;
                var map = _plan.ColumnMap;
                int ax = _plan.AX;
                for (int x = 0; x < ax; x++) d[x] = map[x] < 0 ? _plan.BorderValue : s[map[x]];
                Buffer.MemoryCopy(s, d + ax, (long)_plan.W * sizeof(float), (long)_plan.W * sizeof(float));
                for (int x = ax + _plan.W; x < wp; x++) d[x] = map[x] < 0 ? _plan.BorderValue : s[map[x]];
                for (int x = wp; x < _plan.PaddedWidth; x++) d[x] = 0;
            }
            _row[victim] = sourceRow;
            _stamp[victim] = outputRow;
            return (nint)d;
        }

        public void Dispose()
        {
            foreach (var p in _slots) System.Runtime.InteropServices.NativeMemory.AlignedFree(p);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store(Vector256<float> v, float* p, bool nonTemporal)
    {
        if (nonTemporal) Avx.StoreAlignedNonTemporal(p, v);
        else v.Store(p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fmadd(Vector256<float> a, Vector256<float> b, Vector256<float> c)
        => Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>dst[x] = Σ_i Σ_j k[i, j] · rows[i][x + j] for x in [0, w).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void DirectRow(nint* rows, float[] k, int kh, int kw, float* dst, int w, bool streaming)
    {
        int x = 0;
        fixed (float* kp = k)
        {
            if (UseVectors && w >= 8)
            {
                bool nt = streaming && Avx.IsSupported && ((nint)dst & 3) == 0 && w >= 72;
                if (nt)
                {
                    // Non-temporal stores need 32-byte alignment: one unaligned vector covers the head.
                    x = (int)(((32 - ((nint)dst & 31)) & 31) >> 2);
                    if (x > 0) DirectVec(rows, kp, kh, kw, dst, 0, false);
                }
                for (; x + 64 <= w; x += 64)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                    for (int i = 0; i < kh; i++)
                    {
                        float* r = (float*)rows[i] + x;
                        float* ki = kp + i * kw;
                        for (int j = 0; j < kw; j++)
                        {
                            var kv = Vector256.Create(ki[j]);
                            float* q = r + j;
                            a0 = Fmadd(Vector256.Load(q), kv, a0);
                            a1 = Fmadd(Vector256.Load(q + 8), kv, a1);
                            a2 = Fmadd(Vector256.Load(q + 16), kv, a2);
                            a3 = Fmadd(Vector256.Load(q + 24), kv, a3);
                            a4 = Fmadd(Vector256.Load(q + 32), kv, a4);
                            a5 = Fmadd(Vector256.Load(q + 40), kv, a5);
                            a6 = Fmadd(Vector256.Load(q + 48), kv, a6);
                            a7 = Fmadd(Vector256.Load(q + 56), kv, a7);
                        }
                    }
                    Store(a0, dst + x, nt); Store(a1, dst + x + 8, nt); Store(a2, dst + x + 16, nt); Store(a3, dst + x + 24, nt);
                    Store(a4, dst + x + 32, nt); Store(a5, dst + x + 40, nt); Store(a6, dst + x + 48, nt); Store(a7, dst + x + 56, nt);
                }
                for (; x + 16 <= w; x += 16) DirectVec(rows, kp, kh, kw, dst, x, true);
                while (x < w)
                {
                    int xs = Math.Min(x, w - 8); // overlapping last vector: cheaper than a scalar tail
                    DirectVec(rows, kp, kh, kw, dst, xs, false);
                    x = xs + 8;
                }
                return;
            }
            for (; x < w; x++)
            {
                float acc = 0;
                for (int i = 0; i < kh; i++)
                {
                    float* r = (float*)rows[i] + x;
                    for (int j = 0; j < kw; j++) acc += kp[i * kw + j] * r[j];
                }
                dst[x] = acc;
            }
        }
    }

    /// <summary>Two output rows: dst0 from rows[0 .. kh), dst1 from rows[1 .. kh].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void DirectRows2(nint* rows, float[] k, int kh, int kw, float* dst0, float* dst1, int w)
    {
        if (!UseVectors || w < 8)
        {
            DirectRow(rows, k, kh, kw, dst0, w, false);
            DirectRow(rows + 1, k, kh, kw, dst1, w, false);
            return;
        }
        int x = 0;
        fixed (float* kp = k)
        {
            for (; x + 32 <= w; x += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
                float* r = (float*)rows[0] + x;
                for (int j = 0; j < kw; j++)
                {
                    var kv = Vector256.Create(kp[j]);
                    a0 = Fmadd(Vector256.Load(r + j), kv, a0);
                    a1 = Fmadd(Vector256.Load(r + j + 8), kv, a1);
                    a2 = Fmadd(Vector256.Load(r + j + 16), kv, a2);
                    a3 = Fmadd(Vector256.Load(r + j + 24), kv, a3);
                }
                for (int i = 1; i < kh; i++)
                {
                    r = (float*)rows[i] + x;
                    float* k0 = kp + i * kw, k1 = k0 - kw;
                    for (int j = 0; j < kw; j++)
                    {
                        var kv0 = Vector256.Create(k0[j]);
                        var kv1 = Vector256.Create(k1[j]);
                        var v0 = Vector256.Load(r + j); var v1 = Vector256.Load(r + j + 8);
                        var v2 = Vector256.Load(r + j + 16); var v3 = Vector256.Load(r + j + 24);
                        a0 = Fmadd(v0, kv0, a0); b0 = Fmadd(v0, kv1, b0);
                        a1 = Fmadd(v1, kv0, a1); b1 = Fmadd(v1, kv1, b1);
                        a2 = Fmadd(v2, kv0, a2); b2 = Fmadd(v2, kv1, b2);
                        a3 = Fmadd(v3, kv0, a3); b3 = Fmadd(v3, kv1, b3);
                    }
                }
                r = (float*)rows[kh] + x;
                float* kl = kp + (kh - 1) * kw;
                for (int j = 0; j < kw; j++)
                {
                    var kv = Vector256.Create(kl[j]);
                    b0 = Fmadd(Vector256.Load(r + j), kv, b0);
                    b1 = Fmadd(Vector256.Load(r + j + 8), kv, b1);
                    b2 = Fmadd(Vector256.Load(r + j + 16), kv, b2);
                    b3 = Fmadd(Vector256.Load(r + j + 24), kv, b3);
                }
                a0.Store(dst0 + x); a1.Store(dst0 + x + 8); a2.Store(dst0 + x + 16); a3.Store(dst0 + x + 24);
                b0.Store(dst1 + x); b1.Store(dst1 + x + 8); b2.Store(dst1 + x + 16); b3.Store(dst1 + x + 24);
            }
            DirectTail(rows, kp, kh, kw, dst0, w, x);
            DirectTail(rows + 1, kp, kh, kw, dst1, w, x);
        }
    }

    private static unsafe void DirectTail(nint* rows, float* kp, int kh, int kw, float* dst, int w, int x)
    {
        for (; x + 16 <= w; x += 16) DirectVec(rows, kp, kh, kw, dst, x, true);
        while (x < w)
        {
            int xs = Math.Min(x, w - 8); // overlapping last vector: cheaper than a scalar tail
            DirectVec(rows, kp, kh, kw, dst, xs, false);
            x = xs + 8;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void DirectVec(nint* rows, float* kp, int kh, int kw, float* dst, int x, bool two)
    {
        Vector256<float> a0 = default, a1 = default;
        for (int i = 0; i < kh; i++)
        {
            float* r = (float*)rows[i] + x;
            float* ki = kp + i * kw;
            for (int j = 0; j < kw; j++)
            {
                var kv = Vector256.Create(ki[j]);
                a0 = Fmadd(Vector256.Load(r + j), kv, a0);
                if (two) a1 = Fmadd(Vector256.Load(r + j + 8), kv, a1);
            }
        }
        a0.Store(dst + x);
        if (two) a1.Store(dst + x + 8);
    }

    /// <summary>tmp[x] = Σ_i col[i] · rows[i][x] for x in [0, n) (n rounded up to whole vectors inside the padded rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void ColumnPass(nint* rows, float[] col, float* tmp, int n)
    {
        int kh = col.Length;
        int x = 0;
        fixed (float* cp = col)
        {
            if (UseVectors)
            {
                for (; x + 64 <= n; x += 64)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                    for (int i = 0; i < kh; i++)
                    {
                        float* r = (float*)rows[i] + x;
                        var kv = Vector256.Create(cp[i]);
                        a0 = Fmadd(Vector256.Load(r), kv, a0);
                        a1 = Fmadd(Vector256.Load(r + 8), kv, a1);
                        a2 = Fmadd(Vector256.Load(r + 16), kv, a2);
                        a3 = Fmadd(Vector256.Load(r + 24), kv, a3);
                        a4 = Fmadd(Vector256.Load(r + 32), kv, a4);
                        a5 = Fmadd(Vector256.Load(r + 40), kv, a5);
                        a6 = Fmadd(Vector256.Load(r + 48), kv, a6);
                        a7 = Fmadd(Vector256.Load(r + 56), kv, a7);
                    }
                    a0.Store(tmp + x); a1.Store(tmp + x + 8); a2.Store(tmp + x + 16); a3.Store(tmp + x + 24);
                    a4.Store(tmp + x + 32); a5.Store(tmp + x + 40); a6.Store(tmp + x + 48); a7.Store(tmp + x + 56);
                }
                // The padded rows are whole vectors long, so the tail may run past n.
                for (; x < n; x += 8)
                {
                    Vector256<float> a0 = default;
                    for (int i = 0; i < kh; i++) a0 = Fmadd(Vector256.Load((float*)rows[i] + x), Vector256.Create(cp[i]), a0);
                    a0.Store(tmp + x);
                }
                return;
            }
            for (; x < n; x++)
            {
                float acc = 0;
                for (int i = 0; i < kh; i++) acc += cp[i] * ((float*)rows[i])[x];
                tmp[x] = acc;
            }
        }
    }

    /// <summary>Two column passes: tmp0 from rows[0 .. kh), tmp1 from rows[1 .. kh], sharing the loads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void ColumnPass2(nint* rows, float[] col, float* tmp0, float* tmp1, int n)
    {
        if (!UseVectors)
        {
            ColumnPass(rows, col, tmp0, n);
            ColumnPass(rows + 1, col, tmp1, n);
            return;
        }
        int kh = col.Length;
        int x = 0;
        fixed (float* cp = col)
        {
            for (; x + 32 <= n; x += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
                float* r = (float*)rows[0] + x;
                var k0 = Vector256.Create(cp[0]);
                a0 = Fmadd(Vector256.Load(r), k0, a0); a1 = Fmadd(Vector256.Load(r + 8), k0, a1);
                a2 = Fmadd(Vector256.Load(r + 16), k0, a2); a3 = Fmadd(Vector256.Load(r + 24), k0, a3);
                for (int i = 1; i < kh; i++)
                {
                    r = (float*)rows[i] + x;
                    var kv0 = Vector256.Create(cp[i]);
                    var kv1 = Vector256.Create(cp[i - 1]);
                    var v0 = Vector256.Load(r); var v1 = Vector256.Load(r + 8);
                    var v2 = Vector256.Load(r + 16); var v3 = Vector256.Load(r + 24);
                    a0 = Fmadd(v0, kv0, a0); b0 = Fmadd(v0, kv1, b0);
                    a1 = Fmadd(v1, kv0, a1); b1 = Fmadd(v1, kv1, b1);
                    a2 = Fmadd(v2, kv0, a2); b2 = Fmadd(v2, kv1, b2);
                    a3 = Fmadd(v3, kv0, a3); b3 = Fmadd(v3, kv1, b3);
                }
                r = (float*)rows[kh] + x;
                var kl = Vector256.Create(cp[kh - 1]);
                b0 = Fmadd(Vector256.Load(r), kl, b0); b1 = Fmadd(Vector256.Load(r + 8), kl, b1);
                b2 = Fmadd(Vector256.Load(r + 16), kl, b2); b3 = Fmadd(Vector256.Load(r + 24), kl, b3);
                a0.Store(tmp0 + x); a1.Store(tmp0 + x + 8); a2.Store(tmp0 + x + 16); a3.Store(tmp0 + x + 24);
                b0.Store(tmp1 + x); b1.Store(tmp1 + x + 8); b2.Store(tmp1 + x + 16); b3.Store(tmp1 + x + 24);
            }
            // The padded rows are whole vectors long, so the tail may run past n.
            for (; x < n; x += 8)
            {
                Vector256<float> a = default, b = default;
                for (int i = 0; i < kh; i++)
                {
                    a = Fmadd(Vector256.Load((float*)rows[i] + x), Vector256.Create(cp[i]), a);
                    b = Fmadd(Vector256.Load((float*)rows[i + 1] + x), Vector256.Create(cp[i]), b);
                }
                a.Store(tmp0 + x);
                b.Store(tmp1 + x);
            }
        }
    }

    /// <summary>dst[x] = Σ_j row[j] · tmp[x + j] for x in [0, w).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void RowPass(float* tmp, float[] row, float* dst, int w, bool streaming)
    {
        int kw = row.Length;
        int x = 0;
        fixed (float* rp = row)
        {
            if (UseVectors && w >= 8)
            {
                bool nt = streaming && Avx.IsSupported && ((nint)dst & 3) == 0 && w >= 72;
                if (nt)
                {
                    x = (int)(((32 - ((nint)dst & 31)) & 31) >> 2);
                    if (x > 0)
                    {
                        Vector256<float> h0 = default;
                        for (int j = 0; j < kw; j++) h0 = Fmadd(Vector256.Load(tmp + j), Vector256.Create(rp[j]), h0);
                        h0.Store(dst);
                    }
                }
                for (; x + 64 <= w; x += 64)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                    for (int j = 0; j < kw; j++)
                    {
                        float* q = tmp + x + j;
                        var kv = Vector256.Create(rp[j]);
                        a0 = Fmadd(Vector256.Load(q), kv, a0);
                        a1 = Fmadd(Vector256.Load(q + 8), kv, a1);
                        a2 = Fmadd(Vector256.Load(q + 16), kv, a2);
                        a3 = Fmadd(Vector256.Load(q + 24), kv, a3);
                        a4 = Fmadd(Vector256.Load(q + 32), kv, a4);
                        a5 = Fmadd(Vector256.Load(q + 40), kv, a5);
                        a6 = Fmadd(Vector256.Load(q + 48), kv, a6);
                        a7 = Fmadd(Vector256.Load(q + 56), kv, a7);
                    }
                    Store(a0, dst + x, nt); Store(a1, dst + x + 8, nt); Store(a2, dst + x + 16, nt); Store(a3, dst + x + 24, nt);
                    Store(a4, dst + x + 32, nt); Store(a5, dst + x + 40, nt); Store(a6, dst + x + 48, nt); Store(a7, dst + x + 56, nt);
                }
                while (x < w)
                {
                    int xs = Math.Min(x, w - 8); // overlapping last vector
                    Vector256<float> a0 = default;
                    for (int j = 0; j < kw; j++) a0 = Fmadd(Vector256.Load(tmp + xs + j), Vector256.Create(rp[j]), a0);
                    a0.Store(dst + xs);
                    x = xs + 8;
                }
                return;
            }
            for (; x < w; x++)
            {
                float acc = 0;
                for (int j = 0; j < kw; j++) acc += rp[j] * tmp[x + j];
                dst[x] = acc;
            }
        }
    }
    // ------------------------------------------------------------------ AVX-512: four output rows per pass

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store512(Vector512<float> v, float* p, bool nonTemporal)
    {
        if (nonTemporal) Avx512F.StoreAlignedNonTemporal(p, v);
        else v.Store(p);
    }

    /// <summary>Asks for the 256 bytes at column <paramref name="x"/> of the four source rows the next pass adds
    /// (into L2), so their loads overlap this pass's arithmetic instead of following it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchBlock(nint* pf, int x)
    {
        for (int i = 0; i < 4; i++)
        {
            byte* p = (byte*)((float*)pf[i] + x);
            Sse.Prefetch1(p); Sse.Prefetch1(p + 64); Sse.Prefetch1(p + 128); Sse.Prefetch1(p + 192);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fmadd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);

    /// <summary>First column from which 16-wide stores to <paramref name="dst"/> are 64-byte aligned (0 without
    /// non-temporal stores); the columns before it are covered by one ordinary unaligned vector.</summary>
    private static unsafe int AlignedStart(float* dst, bool nt) => nt ? (int)(((64 - ((nint)dst & 63)) & 63) >> 2) : 0;

    /// <summary>Output rows y .. y+3 (at dst, dst + w, ...) of a direct filter: dst_r[x] = Σ_i Σ_j k[i, j] · rows[r + i][x + j].
    /// Every loaded source vector feeds each of the (up to) four output rows it belongs to; taps are added in the
    /// same order as <see cref="DirectRow"/>, so both give the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void Direct4x512(nint* rows, float* kp, int kh, int kw, float* dst, int w, bool nt, nint* pf)
    {
        int x = AlignedStart(dst, nt);
        if (x > 0) Direct4x512One(rows, kp, kh, kw, dst, w, 0, false);
        x = kw switch
        {
            3 => Direct4x512W3(rows, kp, kh, dst, w, x, nt, pf),
            5 => Direct4x512W5(rows, kp, kh, dst, w, x, nt, pf),
            7 => Direct4x512W7(rows, kp, kh, dst, w, x, nt, pf),
            _ => x,
        };
        int sn = kh + 3;
        for (; x + 64 <= w; x += 64)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
            for (int s = 0; s < sn; s++)
            {
                float* r = (float*)rows[s] + x;
                // Source row s meets kernel row s of output row 0, row s − 1 of output row 1, and so on.
                float* k0 = kp + s * kw;
                bool u0 = s < kh, u1 = s >= 1 && s <= kh, u2 = s >= 2 && s <= kh + 1, u3 = s >= 3;
                for (int j = 0; j < kw; j++)
                {
                    float* q = r + j;
                    var v0 = Vector512.Load(q); var v1 = Vector512.Load(q + 16); var v2 = Vector512.Load(q + 32); var v3 = Vector512.Load(q + 48);
                    if (u0) { var kv = Vector512.Create(k0[j]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                    if (u1) { var kv = Vector512.Create(k0[j - kw]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                    if (u2) { var kv = Vector512.Create(k0[j - 2 * kw]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                    if (u3) { var kv = Vector512.Create(k0[j - 3 * kw]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                }
            }
            float* o = dst + x;
            Store512(a0, o, nt); Store512(a1, o + 16, nt); Store512(a2, o + 32, nt); Store512(a3, o + 48, nt); o += w;
            Store512(b0, o, nt); Store512(b1, o + 16, nt); Store512(b2, o + 32, nt); Store512(b3, o + 48, nt); o += w;
            Store512(c0, o, nt); Store512(c1, o + 16, nt); Store512(c2, o + 32, nt); Store512(c3, o + 48, nt); o += w;
            Store512(d0, o, nt); Store512(d1, o + 16, nt); Store512(d2, o + 32, nt); Store512(d3, o + 48, nt);
        }
        for (; x + 16 <= w; x += 16) Direct4x512One(rows, kp, kh, kw, dst, w, x, nt);
        if (x < w) Direct4x512One(rows, kp, kh, kw, dst, w, w - 16, false); // overlapping last vector: cheaper than a scalar tail
    }

    /// <summary><see cref="Direct4x512"/> for kernels 3 wide: each source row is read as aligned-stride vectors and the
    /// 3 shifted views are built in registers (valignd), which avoids 2 cache-line-splitting loads per vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe int Direct4x512W3(nint* rows, float* kp, int kh, float* dst, int w, int x, bool nt, nint* pf)
    {
        int sn = kh + 3;
        for (; x + 64 <= w; x += 64)
        {
            if (pf != null) PrefetchBlock(pf, x);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
            for (int s = 0; s < sn; s++)
            {
                float* r = (float*)rows[s] + x;
                float* k0 = kp + s * 3;
                bool u0 = s < kh, u1 = s >= 1 && s <= kh, u2 = s >= 2 && s <= kh + 1, u3 = s >= 3;
                var l0 = Vector512.Load(r); var l1 = Vector512.Load(r + 16); var l2 = Vector512.Load(r + 32); var l3 = Vector512.Load(r + 48); var l4 = Vector512.Load(r + 64);
                var v0 = l0; var v1 = l1; var v2 = l2; var v3 = l3;
                if (u0) { var kv = Vector512.Create(k0[0]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[0 - 3]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[0 - 6]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[0 - 9]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 1).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 1).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 1).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 1).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[1]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[1 - 3]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[1 - 6]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[1 - 9]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 2).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 2).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 2).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 2).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[2]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[2 - 3]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[2 - 6]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[2 - 9]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
            }
            float* o = dst + x;
            Store512(a0, o, nt); Store512(a1, o + 16, nt); Store512(a2, o + 32, nt); Store512(a3, o + 48, nt); o += w;
            Store512(b0, o, nt); Store512(b1, o + 16, nt); Store512(b2, o + 32, nt); Store512(b3, o + 48, nt); o += w;
            Store512(c0, o, nt); Store512(c1, o + 16, nt); Store512(c2, o + 32, nt); Store512(c3, o + 48, nt); o += w;
            Store512(d0, o, nt); Store512(d1, o + 16, nt); Store512(d2, o + 32, nt); Store512(d3, o + 48, nt);
        }
        return x;
    }

    /// <summary><see cref="Direct4x512"/> for kernels 5 wide: each source row is read as aligned-stride vectors and the
    /// 5 shifted views are built in registers (valignd), which avoids 4 cache-line-splitting loads per vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe int Direct4x512W5(nint* rows, float* kp, int kh, float* dst, int w, int x, bool nt, nint* pf)
    {
        int sn = kh + 3;
        for (; x + 64 <= w; x += 64)
        {
            if (pf != null) PrefetchBlock(pf, x);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
            for (int s = 0; s < sn; s++)
            {
                float* r = (float*)rows[s] + x;
                float* k0 = kp + s * 5;
                bool u0 = s < kh, u1 = s >= 1 && s <= kh, u2 = s >= 2 && s <= kh + 1, u3 = s >= 3;
                var l0 = Vector512.Load(r); var l1 = Vector512.Load(r + 16); var l2 = Vector512.Load(r + 32); var l3 = Vector512.Load(r + 48); var l4 = Vector512.Load(r + 64);
                var v0 = l0; var v1 = l1; var v2 = l2; var v3 = l3;
                if (u0) { var kv = Vector512.Create(k0[0]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[0 - 5]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[0 - 10]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[0 - 15]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 1).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 1).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 1).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 1).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[1]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[1 - 5]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[1 - 10]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[1 - 15]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 2).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 2).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 2).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 2).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[2]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[2 - 5]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[2 - 10]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[2 - 15]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 3).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 3).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 3).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 3).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[3]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[3 - 5]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[3 - 10]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[3 - 15]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 4).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 4).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 4).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 4).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[4]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[4 - 5]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[4 - 10]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[4 - 15]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
            }
            float* o = dst + x;
            Store512(a0, o, nt); Store512(a1, o + 16, nt); Store512(a2, o + 32, nt); Store512(a3, o + 48, nt); o += w;
            Store512(b0, o, nt); Store512(b1, o + 16, nt); Store512(b2, o + 32, nt); Store512(b3, o + 48, nt); o += w;
            Store512(c0, o, nt); Store512(c1, o + 16, nt); Store512(c2, o + 32, nt); Store512(c3, o + 48, nt); o += w;
            Store512(d0, o, nt); Store512(d1, o + 16, nt); Store512(d2, o + 32, nt); Store512(d3, o + 48, nt);
        }
        return x;
    }

    /// <summary><see cref="Direct4x512"/> for kernels 7 wide: each source row is read as aligned-stride vectors and the
    /// 7 shifted views are built in registers (valignd), which avoids 6 cache-line-splitting loads per vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe int Direct4x512W7(nint* rows, float* kp, int kh, float* dst, int w, int x, bool nt, nint* pf)
    {
        int sn = kh + 3;
        for (; x + 64 <= w; x += 64)
        {
            if (pf != null) PrefetchBlock(pf, x);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
            for (int s = 0; s < sn; s++)
            {
                float* r = (float*)rows[s] + x;
                float* k0 = kp + s * 7;
                bool u0 = s < kh, u1 = s >= 1 && s <= kh, u2 = s >= 2 && s <= kh + 1, u3 = s >= 3;
                var l0 = Vector512.Load(r); var l1 = Vector512.Load(r + 16); var l2 = Vector512.Load(r + 32); var l3 = Vector512.Load(r + 48); var l4 = Vector512.Load(r + 64);
                var v0 = l0; var v1 = l1; var v2 = l2; var v3 = l3;
                if (u0) { var kv = Vector512.Create(k0[0]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[0 - 7]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[0 - 14]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[0 - 21]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 1).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 1).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 1).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 1).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[1]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[1 - 7]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[1 - 14]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[1 - 21]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 2).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 2).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 2).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 2).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[2]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[2 - 7]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[2 - 14]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[2 - 21]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 3).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 3).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 3).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 3).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[3]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[3 - 7]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[3 - 14]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[3 - 21]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 4).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 4).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 4).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 4).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[4]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[4 - 7]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[4 - 14]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[4 - 21]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 5).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 5).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 5).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 5).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[5]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[5 - 7]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[5 - 14]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[5 - 21]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                v0 = Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 6).AsSingle(); v1 = Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 6).AsSingle(); v2 = Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 6).AsSingle(); v3 = Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 6).AsSingle();
                if (u0) { var kv = Vector512.Create(k0[6]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                if (u1) { var kv = Vector512.Create(k0[6 - 7]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                if (u2) { var kv = Vector512.Create(k0[6 - 14]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                if (u3) { var kv = Vector512.Create(k0[6 - 21]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
            }
            float* o = dst + x;
            Store512(a0, o, nt); Store512(a1, o + 16, nt); Store512(a2, o + 32, nt); Store512(a3, o + 48, nt); o += w;
            Store512(b0, o, nt); Store512(b1, o + 16, nt); Store512(b2, o + 32, nt); Store512(b3, o + 48, nt); o += w;
            Store512(c0, o, nt); Store512(c1, o + 16, nt); Store512(c2, o + 32, nt); Store512(c3, o + 48, nt); o += w;
            Store512(d0, o, nt); Store512(d1, o + 16, nt); Store512(d2, o + 32, nt); Store512(d3, o + 48, nt);
        }
        return x;
    }

    /// <summary>One 16-wide column of <see cref="Direct4x512"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void Direct4x512One(nint* rows, float* kp, int kh, int kw, float* dst, int w, int x, bool nt)
    {
        Vector512<float> a = default, b = default, c = default, d = default;
        for (int s = 0; s < kh + 3; s++)
        {
            float* r = (float*)rows[s] + x;
            float* k0 = kp + s * kw;
            bool u0 = s < kh, u1 = s >= 1 && s <= kh, u2 = s >= 2 && s <= kh + 1, u3 = s >= 3;
            for (int j = 0; j < kw; j++)
            {
                var v = Vector512.Load(r + j);
                if (u0) a = Fmadd(v, Vector512.Create(k0[j]), a);
                if (u1) b = Fmadd(v, Vector512.Create(k0[j - kw]), b);
                if (u2) c = Fmadd(v, Vector512.Create(k0[j - 2 * kw]), c);
                if (u3) d = Fmadd(v, Vector512.Create(k0[j - 3 * kw]), d);
            }
        }
        float* o = dst + x;
        Store512(a, o, nt); Store512(b, o + w, nt); Store512(c, o + 2 * w, nt); Store512(d, o + 3 * w, nt);
    }

    /// <summary>Output rows y .. y+3 of a separable filter. The vertical pass reads the source rows in place
    /// (<paramref name="rows"/>: kH + 3 row pointers, unextended) into four 1-d rows, which are then extended
    /// sideways (a column outside the image sums to the column's mapped twin, or to value·Σcol for a constant
    /// border) and run through the horizontal pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void Separable4x512(nint* rows, Plan plan, float* tmp, float* dst, bool nt, nint* pf)
    {
        int w = plan.W, kh = plan.KH, kw = plan.KW, ax = plan.AX, pw = plan.PaddedWidth, sn = kh + 3;
        float* t0 = tmp + ax, t1 = t0 + pw, t2 = t1 + pw, t3 = t2 + pw;
        fixed (float* cp = plan.Column)
        {
            int x = 0;
            for (; x + 64 <= w; x += 64)
            {
                if (pf != null) PrefetchBlock(pf, x);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
                Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
                for (int s = 0; s < sn; s++)
                {
                    float* q = (float*)rows[s] + x;
                    var v0 = Vector512.Load(q); var v1 = Vector512.Load(q + 16); var v2 = Vector512.Load(q + 32); var v3 = Vector512.Load(q + 48);
                    if (s < kh) { var kv = Vector512.Create(cp[s]); a0 = Fmadd(v0, kv, a0); a1 = Fmadd(v1, kv, a1); a2 = Fmadd(v2, kv, a2); a3 = Fmadd(v3, kv, a3); }
                    if (s >= 1 && s <= kh) { var kv = Vector512.Create(cp[s - 1]); b0 = Fmadd(v0, kv, b0); b1 = Fmadd(v1, kv, b1); b2 = Fmadd(v2, kv, b2); b3 = Fmadd(v3, kv, b3); }
                    if (s >= 2 && s <= kh + 1) { var kv = Vector512.Create(cp[s - 2]); c0 = Fmadd(v0, kv, c0); c1 = Fmadd(v1, kv, c1); c2 = Fmadd(v2, kv, c2); c3 = Fmadd(v3, kv, c3); }
                    if (s >= 3) { var kv = Vector512.Create(cp[s - 3]); d0 = Fmadd(v0, kv, d0); d1 = Fmadd(v1, kv, d1); d2 = Fmadd(v2, kv, d2); d3 = Fmadd(v3, kv, d3); }
                }
                a0.Store(t0 + x); a1.Store(t0 + x + 16); a2.Store(t0 + x + 32); a3.Store(t0 + x + 48);
                b0.Store(t1 + x); b1.Store(t1 + x + 16); b2.Store(t1 + x + 32); b3.Store(t1 + x + 48);
                c0.Store(t2 + x); c1.Store(t2 + x + 16); c2.Store(t2 + x + 32); c3.Store(t2 + x + 48);
                d0.Store(t3 + x); d1.Store(t3 + x + 16); d2.Store(t3 + x + 32); d3.Store(t3 + x + 48);
            }
            while (x < w)
            {
                int xs = Math.Min(x, w - 16); // overlapping last vector
                Vector512<float> a = default, b = default, c = default, d = default;
                for (int s = 0; s < sn; s++)
                {
                    var v = Vector512.Load((float*)rows[s] + xs);
                    if (s < kh) a = Fmadd(v, Vector512.Create(cp[s]), a);
                    if (s >= 1 && s <= kh) b = Fmadd(v, Vector512.Create(cp[s - 1]), b);
                    if (s >= 2 && s <= kh + 1) c = Fmadd(v, Vector512.Create(cp[s - 2]), c);
                    if (s >= 3) d = Fmadd(v, Vector512.Create(cp[s - 3]), d);
                }
                a.Store(t0 + xs); b.Store(t1 + xs); c.Store(t2 + xs); d.Store(t3 + xs);
                x = xs + 16;
            }
        }
        // Sideways extension of the 1-d rows: only the kW − 1 edge columns.
        float edge = 0; // the vertical pass over a constant row, in the same order of fused steps
        for (int i = 0; i < kh; i++) edge = MathF.FusedMultiplyAdd(plan.BorderValue, plan.Column![i], edge);
        var map = plan.ColumnMap;
        for (int k = 0; k < 4; k++)
        {
            float* t = tmp + k * pw;
            for (int e = 0; e < ax; e++) t[e] = map[e] < 0 ? edge : t[ax + map[e]];
            for (int e = ax + w; e < w + kw - 1; e++) t[e] = map[e] < 0 ? edge : t[ax + map[e]];
        }
        fixed (float* rp = plan.Row)
            for (int k = 0; k < 4; k++) RowPass512(tmp + k * pw, rp, kw, dst + k * w, w, nt);
    }

    /// <summary>dst[x] = Σ_j row[j] · tmp[x + j] for x in [0, w), w ≥ 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe void RowPass512(float* tmp, float* rp, int kw, float* dst, int w, bool nt)
    {
        int x = AlignedStart(dst, nt);
        if (x > 0) RowPass512One(tmp, rp, kw, dst, 0, false);
        x = kw switch
        {
            3 => RowPass512W3(tmp, rp, dst, w, x, nt),
            5 => RowPass512W5(tmp, rp, dst, w, x, nt),
            7 => RowPass512W7(tmp, rp, dst, w, x, nt),
            _ => x,
        };
        for (; x + 64 <= w; x += 64)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int j = 0; j < kw; j++)
            {
                float* q = tmp + x + j;
                var kv = Vector512.Create(rp[j]);
                a0 = Fmadd(Vector512.Load(q), kv, a0);
                a1 = Fmadd(Vector512.Load(q + 16), kv, a1);
                a2 = Fmadd(Vector512.Load(q + 32), kv, a2);
                a3 = Fmadd(Vector512.Load(q + 48), kv, a3);
            }
            Store512(a0, dst + x, nt); Store512(a1, dst + x + 16, nt); Store512(a2, dst + x + 32, nt); Store512(a3, dst + x + 48, nt);
        }
        for (; x + 16 <= w; x += 16) RowPass512One(tmp, rp, kw, dst, x, nt);
        if (x < w) RowPass512One(tmp, rp, kw, dst, w - 16, false);
    }

    /// <summary><see cref="RowPass512"/> for kernels 3 wide: taps held in registers, shifted views built with valignd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe int RowPass512W3(float* tmp, float* rp, float* dst, int w, int x, bool nt)
    {
        var k0 = Vector512.Create(rp[0]); var k1 = Vector512.Create(rp[1]); var k2 = Vector512.Create(rp[2]);
        for (; x + 64 <= w; x += 64)
        {
            float* q = tmp + x;
            var l0 = Vector512.Load(q); var l1 = Vector512.Load(q + 16); var l2 = Vector512.Load(q + 32); var l3 = Vector512.Load(q + 48); var l4 = Vector512.Load(q + 64);
            var a0 = l0 * k0; var a1 = l1 * k0; var a2 = l2 * k0; var a3 = l3 * k0;
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 1).AsSingle(), k1, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 1).AsSingle(), k1, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 1).AsSingle(), k1, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 1).AsSingle(), k1, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 2).AsSingle(), k2, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 2).AsSingle(), k2, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 2).AsSingle(), k2, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 2).AsSingle(), k2, a3);
            Store512(a0, dst + x, nt); Store512(a1, dst + x + 16, nt); Store512(a2, dst + x + 32, nt); Store512(a3, dst + x + 48, nt);
        }
        return x;
    }

    /// <summary><see cref="RowPass512"/> for kernels 5 wide: taps held in registers, shifted views built with valignd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe int RowPass512W5(float* tmp, float* rp, float* dst, int w, int x, bool nt)
    {
        var k0 = Vector512.Create(rp[0]); var k1 = Vector512.Create(rp[1]); var k2 = Vector512.Create(rp[2]); var k3 = Vector512.Create(rp[3]); var k4 = Vector512.Create(rp[4]);
        for (; x + 64 <= w; x += 64)
        {
            float* q = tmp + x;
            var l0 = Vector512.Load(q); var l1 = Vector512.Load(q + 16); var l2 = Vector512.Load(q + 32); var l3 = Vector512.Load(q + 48); var l4 = Vector512.Load(q + 64);
            var a0 = l0 * k0; var a1 = l1 * k0; var a2 = l2 * k0; var a3 = l3 * k0;
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 1).AsSingle(), k1, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 1).AsSingle(), k1, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 1).AsSingle(), k1, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 1).AsSingle(), k1, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 2).AsSingle(), k2, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 2).AsSingle(), k2, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 2).AsSingle(), k2, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 2).AsSingle(), k2, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 3).AsSingle(), k3, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 3).AsSingle(), k3, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 3).AsSingle(), k3, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 3).AsSingle(), k3, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 4).AsSingle(), k4, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 4).AsSingle(), k4, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 4).AsSingle(), k4, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 4).AsSingle(), k4, a3);
            Store512(a0, dst + x, nt); Store512(a1, dst + x + 16, nt); Store512(a2, dst + x + 32, nt); Store512(a3, dst + x + 48, nt);
        }
        return x;
    }

    /// <summary><see cref="RowPass512"/> for kernels 7 wide: taps held in registers, shifted views built with valignd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loops: skip the unoptimized first tier
    private static unsafe int RowPass512W7(float* tmp, float* rp, float* dst, int w, int x, bool nt)
    {
        var k0 = Vector512.Create(rp[0]); var k1 = Vector512.Create(rp[1]); var k2 = Vector512.Create(rp[2]); var k3 = Vector512.Create(rp[3]); var k4 = Vector512.Create(rp[4]); var k5 = Vector512.Create(rp[5]); var k6 = Vector512.Create(rp[6]);
        for (; x + 64 <= w; x += 64)
        {
            float* q = tmp + x;
            var l0 = Vector512.Load(q); var l1 = Vector512.Load(q + 16); var l2 = Vector512.Load(q + 32); var l3 = Vector512.Load(q + 48); var l4 = Vector512.Load(q + 64);
            var a0 = l0 * k0; var a1 = l1 * k0; var a2 = l2 * k0; var a3 = l3 * k0;
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 1).AsSingle(), k1, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 1).AsSingle(), k1, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 1).AsSingle(), k1, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 1).AsSingle(), k1, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 2).AsSingle(), k2, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 2).AsSingle(), k2, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 2).AsSingle(), k2, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 2).AsSingle(), k2, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 3).AsSingle(), k3, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 3).AsSingle(), k3, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 3).AsSingle(), k3, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 3).AsSingle(), k3, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 4).AsSingle(), k4, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 4).AsSingle(), k4, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 4).AsSingle(), k4, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 4).AsSingle(), k4, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 5).AsSingle(), k5, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 5).AsSingle(), k5, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 5).AsSingle(), k5, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 5).AsSingle(), k5, a3);
            a0 = Fmadd(Avx512F.AlignRight32(l1.AsInt32(), l0.AsInt32(), 6).AsSingle(), k6, a0); a1 = Fmadd(Avx512F.AlignRight32(l2.AsInt32(), l1.AsInt32(), 6).AsSingle(), k6, a1);
            a2 = Fmadd(Avx512F.AlignRight32(l3.AsInt32(), l2.AsInt32(), 6).AsSingle(), k6, a2); a3 = Fmadd(Avx512F.AlignRight32(l4.AsInt32(), l3.AsInt32(), 6).AsSingle(), k6, a3);
            Store512(a0, dst + x, nt); Store512(a1, dst + x + 16, nt); Store512(a2, dst + x + 32, nt); Store512(a3, dst + x + 48, nt);
        }
        return x;
    }

    private static unsafe void RowPass512One(float* tmp, float* rp, int kw, float* dst, int x, bool nt)
    {
        Vector512<float> a = default;
        for (int j = 0; j < kw; j++) a = Fmadd(Vector512.Load(tmp + x + j), Vector512.Create(rp[j]), a);
        Store512(a, dst + x, nt);
    }
}
