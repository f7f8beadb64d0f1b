using System.Text.Json;
using ConvKit.Ops;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Ops;

/// <summary>The ops-b operators without a PyTorch counterpart are reachable by name and agree with Functional.</summary>
public class SeparableOpRegistryTests
{
    private static Tensor<double>[] Run(string op, Dictionary<string, Tensor<double>> inputs, string attrsJson)
    {
        using var doc = JsonDocument.Parse(attrsJson);
        var attrs = doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());
        return OpRegistry.Run(new OpCall<double>(op, inputs, attrs));
    }

    [Fact]
    public void AllOperatorsAreRegistered()
    {
        foreach (var name in new[] { "ops.deform_conv2d", "grad.ops.deform_conv2d", "stochastic_pool2d", "spatial_pyramid_pool2d",
                     "grad.spatial_pyramid_pool2d", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "separable_conv2d",
                     "depthwise_separable_conv2d", "flattened_conv2d", "shuffled_grouped_conv2d" })
            Assert.Contains(name, OpRegistry.Names);
    }

    [Fact]
    public void OperatorsMatchFunctional()
    {
        var x = Tensor.Rand<double>(1, [2, 4, 6, 6]);
        var sp = Run("stochastic_pool2d", new() { ["input"] = x }, """{"kernel_size": 2, "seed": 7}""");
        var (y, idx) = Functional.StochasticPool2dWithIndices(x, 2, generator: new SeededRandom(7));
        Assert.Equal(y.AsSpan().ToArray(), sp[0].AsSpan().ToArray());
        Assert.Equal(idx.AsSpan().ToArray(), sp[1].AsSpan().ToArray());
        var inf = Run("stochastic_pool2d", new() { ["input"] = x }, """{"kernel_size": [3, 2], "stride": 1, "training": false}""");
        Assert.Equal(Functional.StochasticPool2d(x, (3, 2), 1, training: false).AsSpan().ToArray(), inf[0].AsSpan().ToArray());

        var gy = Tensor.Randn<double>(2, 2, 4 * 5);
        var g = Run("grad.spatial_pyramid_pool2d", new() { ["input"] = x, ["grad_output"] = gy }, """{"levels": [1, 2], "mode": "avg"}""");
        Assert.Equal(Functional.SpatialPyramidPool2dBackward(gy, x, [1, 2], PyramidPoolMode.Avg).AsSpan().ToArray(), g[0].AsSpan().ToArray());

        var sobel = Tensor.FromArray([-1.0, 0, 1, -2, 0, 2, -1, 0, 1], 3, 3);
        var s = Run("separable_conv2d", new() { ["input"] = x, ["weight"] = sobel }, """{"padding": 1}""");
        Assert.Equal(Functional.SeparableConv2d(x, sobel, padding: 1).AsSpan().ToArray(), s[0].AsSpan().ToArray());

        var dw = Tensor.Randn<double>(3, 4, 1, 3, 3);
        var pw = Tensor.Randn<double>(4, 5, 4, 1, 1);
        var d = Run("depthwise_separable_conv2d", new() { ["input"] = x, ["depthwise_weight"] = dw, ["pointwise_weight"] = pw }, """{"stride": 2, "relu": true}""");
        Assert.Equal(Functional.DepthwiseSeparableConv2d(x, dw, pw, stride: 2, relu: true).AsSpan().ToArray(), d[0].AsSpan().ToArray());

        var mean = Tensor.Randn<double>(11, 4);
        var var_ = Tensor.Rand<double>(12, [4], 0.5, 1.5);
        var dbn = Run("depthwise_separable_conv2d", new() { ["input"] = x, ["depthwise_weight"] = dw, ["pointwise_weight"] = pw,
            ["bn_running_mean"] = mean, ["bn_running_var"] = var_ }, """{"relu": true, "bn_eps": 0.001}""");
        Assert.Equal(Functional.DepthwiseSeparableConv2d(x, dw, pw, relu: true, batchNorm: new BatchNormArgs<double>(mean, var_, Eps: 1e-3)).AsSpan().ToArray(),
            dbn[0].AsSpan().ToArray());

        var p = Tensor.Randn<double>(5, 3, 4, 1, 1);
        var v = Tensor.Randn<double>(6, 3, 1, 3, 1);
        var h = Tensor.Randn<double>(7, 3, 1, 1, 2);
        var f = Run("flattened_conv2d", new() { ["input"] = x, ["pointwise_weight"] = p, ["vertical_weight"] = v, ["horizontal_weight"] = h }, """{"padding": [1, 0]}""");
        Assert.Equal(Functional.FlattenedConv2d(x, p, v, h, padding: (1, 0)).AsSpan().ToArray(), f[0].AsSpan().ToArray());

        var w = Tensor.Randn<double>(8, 6, 2, 3, 3);
        var sg = Run("shuffled_grouped_conv2d", new() { ["input"] = x, ["weight"] = w }, """{"groups": 2, "padding": 1}""");
        Assert.Equal(Functional.ShuffledGroupedConv2d(x, w, padding: 1, groups: 2).AsSpan().ToArray(), sg[0].AsSpan().ToArray());
    }
}
