using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>
/// ResNet's BasicBlock (torchvision names: conv1, bn1, conv2, bn2, downsample.0/1):
/// y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is a strided 1x1 conv + BN when the shape changes.
/// </summary>
public sealed class BasicBlock<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Conv2d<T> _conv1, _conv2;
    private readonly BatchNorm2d<T> _bn1, _bn2;
    private readonly Sequential<T>? _downsample;

    /// <summary>Creates the block from <paramref name="inPlanes"/> to <paramref name="planes"/> channels.</summary>
    public BasicBlock(int inPlanes, int planes, int stride = 1, SeededRandom? rng = null)
    {
        _conv1 = RegisterModule("conv1", new Conv2d<T>(inPlanes, planes, 3, stride, 1, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d<T>(planes));
        _conv2 = RegisterModule("conv2", new Conv2d<T>(planes, planes, 3, 1, 1, bias: false, rng: rng));
        _bn2 = RegisterModule("bn2", new BatchNorm2d<T>(planes));
        if (stride != 1 || inPlanes != planes)
            _downsample = RegisterModule("downsample", new Sequential<T>(new Conv2d<T>(inPlanes, planes, 1, stride, bias: false, rng: rng), new BatchNorm2d<T>(planes)));
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        var h = Autograd.Relu(_bn1.Forward(_conv1.Forward(input)));
        h = _bn2.Forward(_conv2.Forward(h));
        return Autograd.Relu(Autograd.Add(h, _downsample is null ? input : _downsample.Forward(input)));
    }
}

/// <summary>
/// ResNet's Bottleneck (expansion 4; torchvision names conv1..3, bn1..3, downsample): 1x1 reduce, 3x3 (strided), 1x1 expand,
/// plus the shortcut, then ReLU.
/// </summary>
public sealed class Bottleneck<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Output channels = planes · Expansion.</summary>
    public const int Expansion = 4;
    private readonly Conv2d<T> _conv1, _conv2, _conv3;
    private readonly BatchNorm2d<T> _bn1, _bn2, _bn3;
    private readonly Sequential<T>? _downsample;

    /// <summary>Creates the block from <paramref name="inPlanes"/> to <paramref name="planes"/>·4 channels.</summary>
    public Bottleneck(int inPlanes, int planes, int stride = 1, SeededRandom? rng = null)
    {
        _conv1 = RegisterModule("conv1", new Conv2d<T>(inPlanes, planes, 1, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d<T>(planes));
        _conv2 = RegisterModule("conv2", new Conv2d<T>(planes, planes, 3, stride, 1, bias: false, rng: rng));
        _bn2 = RegisterModule("bn2", new BatchNorm2d<T>(planes));
        _conv3 = RegisterModule("conv3", new Conv2d<T>(planes, planes * Expansion, 1, bias: false, rng: rng));
        _bn3 = RegisterModule("bn3", new BatchNorm2d<T>(planes * Expansion));
        if (stride != 1 || inPlanes != planes * Expansion)
            _downsample = RegisterModule("downsample", new Sequential<T>(
                new Conv2d<T>(inPlanes, planes * Expansion, 1, stride, bias: false, rng: rng), new BatchNorm2d<T>(planes * Expansion)));
    }

    /// <inheritdoc/>
    public override Variable<T> Forward(Variable<T> input)
    {
        var h = Autograd.Relu(_bn1.Forward(_conv1.Forward(input)));
        h = Autograd.Relu(_bn2.Forward(_conv2.Forward(h)));
        h = _bn3.Forward(_conv3.Forward(h));
        return Autograd.Relu(Autograd.Add(h, _downsample is null ? input : _downsample.Forward(input)));
    }
}
