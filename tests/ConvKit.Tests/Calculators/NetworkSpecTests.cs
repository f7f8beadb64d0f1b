using ConvKit.Calculators;
using Xunit;

namespace ConvKit.Tests.Calculators;

public class NetworkSpecTests
{
    [Fact]
    public void ResNet18TotalsMatchTorchvision()
    {
        var r = NetworkSpec.ResNet18().Analyze();
        // torchvision.models.resnet18: 11,689,512 parameters (fc included), about 1.81 GMACs at 224x224.
        Assert.Equal(11_689_512, r.TotalParameters);
        Assert.InRange(r.TotalParameters / 1e6, 11.6, 11.8);
        Assert.InRange(r.TotalMacs / 1e9, 1.7, 1.9);
        Assert.Equal(1_814_073_344L, r.TotalMacs);
        Assert.Equal(2 * r.TotalMacs, r.TotalFlops);
        Assert.Equal([1000], r.OutputShape);
    }

    [Fact]
    public void ResNet18PerLayerHandComputations()
    {
        var layers = NetworkSpec.ResNet18().Analyze().Layers;
        var conv1 = layers[0];
        Assert.Equal([64, 112, 112], conv1.OutputShape);
        Assert.Equal(3 * 64 * 7 * 7, conv1.Parameters);
        Assert.Equal(112L * 112 * 64 * 3 * 49, conv1.Macs);
        Assert.Equal([7.0, 7.0], conv1.ReceptiveField!);
        Assert.Equal([2.0, 2.0], conv1.Jump!);
        Assert.Equal(128, layers[1].Parameters); // bn: scale and shift for 64 channels
        var pool = layers[3];
        Assert.Equal([64, 56, 56], pool.OutputShape);
        Assert.Equal([11.0, 11.0], pool.ReceptiveField!); // 7 + (3-1)·2
        Assert.Equal([4.0, 4.0], pool.Jump!);
        var down = layers.First(l => l.Layer.Shortcut && l.Layer.Kind == LayerKind.Conv);
        Assert.Equal([64, 56, 56], down.InputShape);
        Assert.Equal([128, 28, 28], down.OutputShape);
        Assert.Equal(64 * 128, down.Parameters);
        Assert.Equal(28L * 28 * 128 * 64, down.Macs);
        var l2 = layers.First(l => l.Layer.Kind == LayerKind.Conv && l.OutputShape[0] == 128);
        Assert.Equal(64 * 128 * 9, l2.Parameters);
        Assert.Equal(28L * 28 * 128 * 64 * 9, l2.Macs);
        Assert.Equal(4, layers.Count(l => l.Layer.Shortcut && l.Layer.Kind == LayerKind.Conv) + 1); // 3 downsamples + stem
        var last = layers.Last(l => l.Layer.Kind == LayerKind.Conv);
        Assert.Equal([435.0, 435.0], last.ReceptiveField!); // the well-known ResNet-18 receptive field
        Assert.Equal([32.0, 32.0], last.Jump!);
        var fc = layers[^1];
        Assert.Equal(512 * 1000 + 1000, fc.Parameters);
        Assert.Equal(512L * 1000, fc.Macs);
        Assert.Null(fc.ReceptiveField!);
        Assert.Equal(20, layers.Count(l => l.Layer.Kind == LayerKind.BatchNorm));
    }

    [Fact]
    public void ReceptiveFieldOfStacks()
    {
        var three = NetworkSpec.Parse("input 1x32x32; conv 4 k3; conv 4 k3; conv 4 k3").Analyze();
        Assert.Equal([7.0, 7.0], three.Layers[^1].ReceptiveField!);
        Assert.Equal([4, 26, 26], three.OutputShape);
        var dilated = NetworkSpec.Parse("input 1x32x32; conv 4 k3 d2").Analyze();
        Assert.Equal([5.0, 5.0], dilated.Layers[0].ReceptiveField!);
        var aniso = NetworkSpec.Parse("input 2x16x20; conv 4 k3x5 s1x2 p1x2; maxpool k2").Analyze();
        Assert.Equal([4, 8, 5], aniso.OutputShape);
        Assert.Equal([4.0, 7.0], aniso.Layers[^1].ReceptiveField!); // (3 + 1) and (5 + 1·2)
        Assert.Equal([2.0, 4.0], aniso.Layers[^1].Jump!);
    }

    [Fact]
    public void EveryLayerKind()
    {
        var r = NetworkSpec.Parse("""
            input 8x16x16   # C x H x W
            deformconv 8 k3 p1
            convt 4 k4 s2 p1
            avgpool k2 ceil
            adaptivemaxpool 5x3; adaptiveavgpool 2
            gmp
            flatten; fc 10 nobias; relu
            """).Analyze();
        var dcn = r.Layers[0];
        Assert.Equal([8, 16, 16], dcn.OutputShape);
        // Main conv 8·8·9 + 8 and its offset conv 8 → 2·9 offsets (with bias).
        Assert.Equal(8 * 8 * 9 + 8 + 8 * 18 * 9 + 18, dcn.Parameters);
        Assert.Equal(256L * (8 * 8 * 9 + 18 * 8 * 9), dcn.Macs);
        var t = r.Layers[1];
        Assert.Equal([4, 32, 32], t.OutputShape);
        Assert.Equal(8 * 4 * 16 + 4, t.Parameters);
        Assert.Equal(16L * 16 * 8 * 4 * 16, t.Macs);
        Assert.Equal([0.5, 0.5], t.Jump!);
        Assert.Equal([4.5, 4.5], t.ReceptiveField!); // 3 + (4 - 1)·0.5
        Assert.Equal([4, 16, 16], r.Layers[2].OutputShape);
        Assert.Equal([4, 5, 3], r.Layers[3].OutputShape);
        Assert.Equal([4, 2, 2], r.Layers[4].OutputShape);
        Assert.Equal([4, 1, 1], r.Layers[5].OutputShape);
        Assert.Equal([4], r.Layers[6].OutputShape);
        Assert.Equal(40, r.Layers[7].Parameters);
        Assert.Equal([10], r.OutputShape);
    }

    [Fact]
    public void OneAndThreeDimensionalNetworks()
    {
        var r1 = NetworkSpec.Parse("input 2x100; conv 4 k5 s2 same; maxpool k3 s3 ceil; fc 3").Analyze();
        Assert.Equal([4, 50], r1.Layers[0].OutputShape);
        Assert.Equal([4, 17], r1.Layers[1].OutputShape);
        Assert.Equal(4 * 17 * 3 + 3, r1.Layers[2].Parameters);
        var r3 = NetworkSpec.Parse("input 1x8x16x16; conv 4 k3 p1 s2; bn").Analyze();
        Assert.Equal([4, 4, 8, 8], r3.OutputShape);
        Assert.Equal(4 * 27 + 4 + 8, r3.TotalParameters);
    }

    [Fact]
    public void JsonAndTextAreEquivalent()
    {
        var json = NetworkSpec.ParseJson("""
            {"input": [3, 32, 32], "layers": [
              {"type": "conv", "out": 16, "kernel": [3, 3], "stride": 1, "padding": "same", "bias": false},
              "bn", {"type": "relu"},
              {"type": "block"},
              {"type": "conv", "out": 32, "kernel": 3, "stride": 2, "padding": 1},
              {"type": "conv", "out": 32, "kernel": 1, "stride": 2, "shortcut": true},
              "add",
              {"type": "maxpool", "kernel": 2, "ceil_mode": true},
              {"type": "adaptiveavgpool", "output_size": 1},
              {"type": "fc", "out": 10}
            ]}
            """);
        var text = NetworkSpec.Parse("input 3x32x32; conv 16 k3 same nobias; bn; relu; block; conv 32 k3 s2 p1; shortcut conv 32 k1 s2; add; maxpool k2 ceil; adaptiveavgpool 1; fc 10");
        Assert.Equal(text.ToString(), json.ToString());
        var a = json.Analyze();
        Assert.Equal(text.Analyze().TotalParameters, a.TotalParameters);
        Assert.Equal([10], a.OutputShape);
        // The normalized text parses back to the same spec.
        Assert.Equal(text.ToString(), NetworkSpec.Parse(text.ToString()).ToString());
        Assert.Same(NetworkSpec.ParseAny("  {\"input\": [1, 4], \"layers\": []}").GetType(), typeof(NetworkSpec));
    }

    [Theory]
    [InlineData("conv 8 k3", "must start with 'input")]
    [InlineData("input 3x0x4", "positive sizes")]
    [InlineData("input 3x8x8; pool k2", "unknown layer 'pool'")]
    [InlineData("input 3x8x8; conv 8", "kernel size")]
    [InlineData("input 3x8x8; conv k3", "positive number of outputs")]
    [InlineData("input 3x8x8; conv 8 k3 z4", "unexpected 'z4'")]
    [InlineData("input 3x8x8; relu k3", "unexpected 'k3'")]
    [InlineData("input 3x8x8; conv 8 k3 op1", "output padding")]
    [InlineData("input 3x8x8; conv 8 k11", "layer 1 'conv 8 k11'")]
    [InlineData("input 3x8x8; conv 8 k3 g2", "groups")]
    [InlineData("input 3x8x8; add", "without a matching 'block'")]
    [InlineData("input 3x8x8; block; conv 8 k3 p1", "without a closing 'add'")]
    [InlineData("input 3x8x8; block; conv 8 k3 p1; add", "shortcut gives 3x8x8")]
    [InlineData("input 3x8x8; shortcut conv 8 k1", "inside a 'block'")]
    [InlineData("input 3x8x8; flatten; conv 8 k1", "needs a [C, spatial...] input")]
    [InlineData("input 3x8x8; maxpool k3 p2", "half the kernel")]
    [InlineData("input 3x8x8; convt 4 k3 s2 op2", "outputPadding")]
    public void BadSpecsNameTheStatement(string spec, string message)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => NetworkSpec.Parse(spec).Analyze());
        Assert.Contains(message, e.Message);
        Assert.True(e.ParamName is "spec" or "input", e.ParamName);
    }

    [Theory]
    [InlineData("[1, 2]", "expected")]
    [InlineData("{\"input\": [3, 8, 8], \"layers\": [{\"kernel\": 3}]}", "\"type\"")]
    [InlineData("{\"input\": [3, 8, 8], \"layers\": [{\"type\": \"conv\", \"out\": 4, \"kernel\": 3, \"colour\": 1}]}", "unknown key \"colour\"")]
    [InlineData("{\"input\": [3, 8, 8], \"layers\": [{\"type\": \"conv\", \"out\": \"many\", \"kernel\": 3}]}", "\"out\" must be an integer")]
    [InlineData("{not json", "not valid JSON")]
    public void BadJson(string json, string message)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => NetworkSpec.ParseJson(json));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void TableListsLayersAndTotals()
    {
        var table = NetworkSpec.Model("resnet18").Analyze().ToTable();
        Assert.Contains("conv 64 k7 s2 p3 nobias", table);
        Assert.Contains("64x112x112", table);
        Assert.Contains("shortcut conv 128 k1 s2 nobias", table);
        Assert.Contains("Total parameters: 11,689,512 (11.69M)", table);
        Assert.Contains("(1.81G MACs)", table);
        Assert.Contains("435", table);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => NetworkSpec.Model("resnet999")).ParamName);
    }
}
