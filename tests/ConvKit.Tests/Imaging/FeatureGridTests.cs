using ConvKit.Imaging;
using ConvKit.IO;
using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Imaging;

public class FeatureGridTests
{
    private static Dictionary<string, Tensor<float>> State() => new(StringComparer.Ordinal)
    {
        ["features.0.weight"] = Tensor.Randn<float>(1, 4, 3, 3, 3),
        ["features.0.bias"] = Tensor.Randn<float>(2, 4),
        ["features.2.weight"] = Tensor.Randn<float>(3, 5, 4, 5, 5),
        ["features.10.weight"] = Tensor.Randn<float>(4, 2, 5, 3, 3), // numeric order: after features.2
        ["classifier.weight"] = Tensor.Randn<float>(5, 10, 20),      // 2-d: not a conv
    };

    [Fact]
    public void ConvStackOutputsMatchFunctionalConv2d()
    {
        var state = State();
        var net = FeatureGrid.ConvStack(state, 3);
        var x = Tensor.Rand<float>(6, [3, 9, 11]);
        var outs = FeatureGrid.ConvOutputs(net, x);
        Assert.Equal(["0", "2", "4"], outs.Select(o => o.Name));
        var h = x.Reshape(1, 3, 9, 11);
        string[] keys = ["features.0", "features.2", "features.10"];
        for (int i = 0; i < 3; i++)
        {
            var w = state[keys[i] + ".weight"];
            state.TryGetValue(keys[i] + ".bias", out var b);
            var y = Functional.Conv2d(h, w, b, 1, ConvKit.Descriptors.Padding.Same);
            Assert.Equal(y.Select(0).ShapeArray(), outs[i].Output.ShapeArray());
            var e = y.AsSpan(); var a = outs[i].Output.AsSpan();
            for (int j = 0; j < e.Length; j++) Assert.Equal(e[j], a[j], 4);
            h = Functional.Relu(y);
        }
    }

    [Fact]
    public void StackStopsAtChannelMismatchAndRefusesEmptyModels()
    {
        var state = State();
        state["features.2.weight"] = Tensor.Randn<float>(3, 5, 7, 5, 5); // takes 7 channels, layer 0 gives 4
        Assert.Single(FeatureGrid.ConvStack(state, 3).Layers.OfType<ConvNd<float>>());
        Assert.Throws<InvalidDataException>(() => FeatureGrid.ConvStack(new Dictionary<string, Tensor<float>> { ["w"] = new Tensor<float>(2, 2) }, 1));
        Assert.Throws<InvalidDataException>(() => FeatureGrid.ConvStack(State(), 1));
    }

    [Fact]
    public void RendersALabelledGridThatRoundTripsThroughPng()
    {
        var state = State();
        var net = FeatureGrid.ConvStack(state, 3);
        var x = Tensor.Rand<float>(7, [3, 12, 16]);
        var outs = FeatureGrid.ConvOutputs(net, x);
        var sections = new List<GridSection>
        {
            new("input", [new GridTile("img", x)]),
            new("kernels", FeatureGrid.KernelTiles("k", state["features.0.weight"])),
        };
        sections.AddRange(outs.Select(o => new GridSection("layer " + o.Name, FeatureGrid.MapTiles(o.Name, o.Output, 3))));
        var img = FeatureGrid.Render(sections, tileSize: 32, columns: 4);
        Assert.Equal(3, img.Channels);
        Assert.Equal(6 + 4 * 38, img.Width);
        // 5 sections: 1 + 1 + 1 + 1 + 1 rows of tiles.
        Assert.Equal(6 + 5 * (16 + 6) + 5 * (32 + 10 + 6), img.Height);
        Assert.Equal(img.Data, Png.Decode(Png.Encode(img)).Data);
        // The title of the first section is drawn in black at scale 2 from (6, 6): the top-left pixel of 'I' is clear, (2,0) set.
        Assert.Equal(0, img[6 + 2 * 2, 6, 0]);
    }

    [Fact]
    public void KernelTilesMapZeroToMidGray()
    {
        var w = Tensor.FromArray([-2f, 0f, 1f, 2f], 1, 1, 2, 2);
        var t = FeatureGrid.KernelTiles("k", w).Single();
        Assert.Equal(new[] { 0f, 0.5f, 0.75f, 1f }, t.Map.AsSpan().ToArray());
    }

    [Fact]
    public void BitmapFontDrawsKnownGlyphs()
    {
        var img = new Image(20, 9, 1);
        BitmapFont.DrawText(img, 1, 1, "1a", [255]);
        // '1' has its stem in column 2 in every row 1..5.
        for (int r = 1; r < 6; r++) Assert.Equal(255, img[1 + 2, 1 + r, 0]);
        Assert.Equal(0, img[1, 1, 0]);
        Assert.True(BitmapFont.IsSet('a', 0, 1)); // drawn as 'A'
        Assert.Equal(11, BitmapFont.MeasureWidth("ab"));
        Assert.Equal("color", Assert.Throws<ArgumentException>(() => BitmapFont.DrawText(img, 0, 0, "x", [1, 2, 3])).ParamName);
    }
}
