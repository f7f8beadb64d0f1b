using System.Numerics;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>N-d convolution layer (torch.nn.Conv1d/2d/3d): parameters <c>weight</c> [C_out, C_in/groups, k...] and <c>bias</c> [C_out].</summary>
public class ConvNd<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private ConvDescriptor? _cached;

    /// <summary>Spatial rank (1, 2 or 3).</summary>
    public int Rank { get; }
    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Kernel sizes per axis.</summary>
    public int[] KernelSize { get; }
    /// <summary>Stride.</summary>
    public Dims Stride { get; }
    /// <summary>Padding.</summary>
    public Padding Padding { get; }
    /// <summary>Dilation.</summary>
    public Dims Dilation { get; }
    /// <summary>Groups.</summary>
    public int Groups { get; }
    /// <summary>Padding mode.</summary>
    public PaddingMode PaddingMode { get; }
    /// <summary>The filters.</summary>
    public Variable<T> Weight { get; }
    /// <summary>The bias, or null.</summary>
    public Variable<T>? Bias { get; }

    /// <summary>Creates the layer with PyTorch's default initialization drawn from <paramref name="rng"/> (or <see cref="Init.Generator"/>).</summary>
    public ConvNd(int rank, int inChannels, int outChannels, Dims kernelSize, Dims stride = default, Padding? padding = null, Dims dilation = default,
        int groups = 1, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros, SeededRandom? rng = null)
    {
        if (inChannels <= 0) throw new ArgumentException($"inChannels: must be positive, got {inChannels}.", nameof(inChannels));
        if (outChannels <= 0) throw new ArgumentException($"outChannels: must be positive, got {outChannels}.", nameof(outChannels));
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups: {groups} must divide inChannels {inChannels} and outChannels {outChannels}.", nameof(groups));
        Rank = rank; InChannels = inChannels; OutChannels = outChannels;
        KernelSize = kernelSize.Expand(rank, nameof(kernelSize), 1, 1);
        Stride = stride; Padding = padding ?? 0; Dilation = dilation; Groups = groups; PaddingMode = paddingMode;
        var w = new Tensor<T>([outChannels, inChannels / groups, .. KernelSize]);
        var b = bias ? new Tensor<T>(outChannels) : null;
        Init.DefaultLayer(w, b, rng);
        Weight = RegisterParameter("weight", w);
        if (b is not null) Bias = RegisterParameter("bias", b);
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        // The descriptor is validated once per input shape and reused while the shape stays the same.
        var d = _cached;
        if (d is null || !d.InputShape.AsSpan().SequenceEqual(input.Shape))
            _cached = d = ConvDescriptor.Create(Rank, input.Shape, Weight.Shape, Bias is not null, Stride, Padding, Dilation, Groups, PaddingMode,
                false, Bias is null ? default : Bias.Shape);
        return Autograd.Conv(d, input, Weight, Bias);
    }

    /// <inheritdoc/>
    public override string Describe() =>
        $"Conv{Rank}d({InChannels}, {OutChannels}, kernel_size={ShapeMath.Format(KernelSize)}, stride={Stride}, groups={Groups}, bias={Bias is not null})";
}

/// <summary>torch.nn.Conv1d.</summary>
public sealed class Conv1d<T>(int inChannels, int outChannels, Dims kernelSize, Dims stride = default, Padding? padding = null, Dims dilation = default,
    int groups = 1, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros, SeededRandom? rng = null)
    : ConvNd<T>(1, inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias, paddingMode, rng)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>torch.nn.Conv2d.</summary>
public sealed class Conv2d<T>(int inChannels, int outChannels, Dims kernelSize, Dims stride = default, Padding? padding = null, Dims dilation = default,
    int groups = 1, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros, SeededRandom? rng = null)
    : ConvNd<T>(2, inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias, paddingMode, rng)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>torch.nn.Conv3d.</summary>
public sealed class Conv3d<T>(int inChannels, int outChannels, Dims kernelSize, Dims stride = default, Padding? padding = null, Dims dilation = default,
    int groups = 1, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros, SeededRandom? rng = null)
    : ConvNd<T>(3, inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias, paddingMode, rng)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>torch.nn.ConvTranspose2d: <c>weight</c> [C_in, C_out/groups, kH, kW], <c>bias</c> [C_out].</summary>
public sealed class ConvTranspose2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private ConvTransposeDescriptor? _cached;
    private readonly Dims _stride, _outputPadding, _dilation;
    private readonly Padding _padding;
    private readonly int _groups;

    /// <summary>The filters.</summary>
    public Variable<T> Weight { get; }
    /// <summary>The bias, or null.</summary>
    public Variable<T>? Bias { get; }

    /// <summary>Creates the layer with PyTorch's default initialization.</summary>
    public ConvTranspose2d(int inChannels, int outChannels, Dims kernelSize, Dims stride = default, Padding? padding = null, Dims outputPadding = default,
        int groups = 1, bool bias = true, Dims dilation = default, SeededRandom? rng = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups: {groups} must divide inChannels {inChannels} and outChannels {outChannels} (all positive).", nameof(groups));
        var k = kernelSize.Expand(2, nameof(kernelSize), 1, 1);
        _stride = stride; _padding = padding ?? 0; _outputPadding = outputPadding; _groups = groups; _dilation = dilation;
        var w = new Tensor<T>(inChannels, outChannels / groups, k[0], k[1]);
        var b = bias ? new Tensor<T>(outChannels) : null;
        Init.DefaultLayer(w, b, rng);
        Weight = RegisterParameter("weight", w);
        if (b is not null) Bias = RegisterParameter("bias", b);
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        var d = _cached;
        if (d is null || !d.InputShape.AsSpan().SequenceEqual(input.Shape))
            _cached = d = ConvTransposeDescriptor.Create(2, input.Shape, Weight.Shape, Bias is not null, _stride, _padding, _outputPadding, _groups, _dilation,
                null, false, Bias is null ? default : Bias.Shape);
        return Autograd.ConvTranspose(d, input, Weight, Bias);
    }

    /// <inheritdoc/>
    public override string Describe() => $"ConvTranspose2d({Weight.Data.Size(0)}, {Weight.Data.Size(1) * _groups}, stride={_stride})";
}

/// <summary>torch.nn.Linear: <c>weight</c> [out, in], <c>bias</c> [out]; float runs on Sgemm.</summary>
public sealed class Linear<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The weight [out, in].</summary>
    public Variable<T> Weight { get; }
    /// <summary>The bias [out], or null.</summary>
    public Variable<T>? Bias { get; }

    /// <summary>Creates the layer with PyTorch's default initialization.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, SeededRandom? rng = null)
    {
        if (inFeatures <= 0) throw new ArgumentException($"inFeatures: must be positive, got {inFeatures}.", nameof(inFeatures));
        if (outFeatures <= 0) throw new ArgumentException($"outFeatures: must be positive, got {outFeatures}.", nameof(outFeatures));
        var w = new Tensor<T>(outFeatures, inFeatures);
        var b = bias ? new Tensor<T>(outFeatures) : null;
        Init.DefaultLayer(w, b, rng);
        Weight = RegisterParameter("weight", w);
        if (b is not null) Bias = RegisterParameter("bias", b);
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Linear(input, Weight, Bias);

    /// <inheritdoc/>
    public override string Describe() => $"Linear(in_features={Weight.Data.Size(1)}, out_features={Weight.Data.Size(0)}, bias={Bias is not null})";
}

/// <summary>torch.nn.Flatten (start_dim 1).</summary>
public sealed class Flatten<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Flatten(input, 1);
}

/// <summary>torch.nn.Identity.</summary>
public sealed class Identity<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => input;
}

/// <summary>torch.nn.Dropout (inverted dropout, active only in training mode, seeded).</summary>
public sealed class Dropout<T>(double p = 0.5, ulong seed = 0) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly SeededRandom _rng = new(seed);

    /// <summary>Drop probability.</summary>
    public double P { get; } = p is >= 0 and <= 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), $"dropout probability has to be between 0 and 1, got {p}.");

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input) => Autograd.Dropout(input, P, Training, _rng);

    /// <inheritdoc/>
    public override string Describe() => $"Dropout(p={P})";
}

/// <summary>torch.nn.Sequential: children named "0", "1", ... so state dicts match PyTorch's.</summary>
public sealed class Sequential<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Module<T>> _layers = [];

    /// <summary>Creates the container from layers in order.</summary>
    public Sequential(params Module<T>[] layers)
    {
        foreach (var l in layers) Add(l);
    }

    /// <summary>Appends a layer named by its index.</summary>
    public Sequential<T> Add(Module<T> layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        _layers.Add(RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer));
        return this;
    }

    /// <summary>The layers.</summary>
    public IReadOnlyList<Module<T>> Layers => _layers;

    /// <summary>Layer <paramref name="i"/>.</summary>
    public Module<T> this[int i] => _layers[i];

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        var x = input;
        for (int i = 0; i < _layers.Count; i++)
        {
            // BatchNorm followed by ReLU runs as one fused node (same values and gradients, one tensor less);
            // only the library's own sealed layers, whose Forward cannot have been overridden
            if (_layers[i] is BatchNormNd<T> bn and (BatchNorm1d<T> or BatchNorm2d<T>) && i + 1 < _layers.Count && _layers[i + 1] is ReLU<T>)
            {
                x = bn.ForwardRelu(x);
                i++;
            }
            else x = _layers[i].Forward(x);
        }
        return x;
    }
}

/// <summary>
/// Depthwise-separable convolution (MobileNet): children <c>depthwise</c> (k×k, groups = C_in, multiplier m) and
/// <c>pointwise</c> (1×1), optionally with a ReLU between them. The forward equals
/// <see cref="Functional.DepthwiseSeparableConv2d{T}"/>; each half runs on the tape as a convolution, so its gradients
/// are the convolution backward operators.
/// </summary>
public sealed class DepthwiseSeparableConv2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly bool _relu;

    /// <summary>The depthwise half [C_in·m, 1, k, k].</summary>
    public Conv2d<T> Depthwise { get; }
    /// <summary>The pointwise half [C_out, C_in·m, 1, 1].</summary>
    public Conv2d<T> Pointwise { get; }

    /// <summary>Creates both halves with PyTorch's default initialization.</summary>
    public DepthwiseSeparableConv2d(int inChannels, int outChannels, Dims kernelSize, Dims stride = default, Padding? padding = null, Dims dilation = default,
        int depthMultiplier = 1, bool bias = true, bool relu = false, SeededRandom? rng = null)
    {
        if (depthMultiplier <= 0) throw new ArgumentException($"depthMultiplier: must be positive, got {depthMultiplier}.", nameof(depthMultiplier));
        _relu = relu;
        Depthwise = RegisterModule("depthwise", new Conv2d<T>(inChannels, inChannels * depthMultiplier, kernelSize, stride, padding, dilation, groups: inChannels, bias: bias, rng: rng));
        Pointwise = RegisterModule("pointwise", new Conv2d<T>(inChannels * depthMultiplier, outChannels, 1, bias: bias, rng: rng));
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        var h = Depthwise.Forward(input);
        if (_relu) h = Autograd.Relu(h);
        return Pointwise.Forward(h);
    }
}
