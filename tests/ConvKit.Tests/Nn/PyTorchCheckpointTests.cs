using ConvKit.IO;
using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Nn;

/// <summary>Checkpoints written by PyTorch (tools/fixtures/gen_train.py) load and evaluate to PyTorch's logits.</summary>
public class PyTorchCheckpointTests
{
    private static string Fx(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "train", name);

    internal static void Near(Tensor<float> expected, Tensor<float> actual, double atol, double rtol)
    {
        Assert.Equal(expected.ShapeArray(), actual.ShapeArray());
        var e = expected.AsSpan(); var a = actual.AsSpan();
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= atol + rtol * Math.Abs(e[i]), $"element {i}: expected {e[i]}, got {a[i]}");
    }

    internal static Module<float> LoadFixture(string file, string arch)
    {
        var state = Checkpoint.Load<float>(Fx(file), out var meta);
        Assert.Equal(arch, meta[Checkpoint.ArchitectureKey]);
        var net = Models.Create<float>(arch, 1, 8, 8, 10);
        Assert.Equal(state.Keys.OrderBy(k => k), net.StateDict().Select(e => e.Name).OrderBy(k => k));
        net.LoadStateDict(state);
        return net;
    }

    [Fact]
    public void DigitsCnnMatchesPyTorchLogits()
    {
        var net = LoadFixture("digits_cnn.safetensors", "digits-cnn");
        net.Eval();
        var x = Npy.ReadTensor<float>(Fx("input.npy"));
        Near(Npy.ReadTensor<float>(Fx("digits_cnn_logits.npy")), net.Forward(x), 1e-4, 1e-4);
    }

    [Fact]
    public void SavedCheckpointRoundTripsThroughSafetensors()
    {
        var net = LoadFixture("digits_cnn.safetensors", "digits-cnn");
        var path = Path.Combine(Path.GetTempPath(), $"convkit-rt-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(path, net, new Dictionary<string, string> { [Checkpoint.ArchitectureKey] = "digits-cnn" });
            var again = Models.Create<float>("digits-cnn", 1, 8, 8, 10, seed: 7);
            again.LoadStateDict(Checkpoint.Load<float>(path, out var meta));
            Assert.Equal("digits-cnn", meta[Checkpoint.ArchitectureKey]);
            var x = Npy.ReadTensor<float>(Fx("input.npy"));
            Assert.Equal(net.Forward(x).AsSpan().ToArray(), again.Forward(x).AsSpan().ToArray());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LoadStateDictRejectsMissingAndMisshapenEntries()
    {
        var net = Models.Create<float>("digits-cnn", 1, 8, 8, 10);
        var state = net.StateDict().ToDictionary(e => e.Name, e => e.Value.Clone());
        state.Remove("0.bias");
        Assert.Contains("0.bias", Assert.Throws<ArgumentException>(() => net.LoadStateDict(state)).Message);
        state["0.bias"] = Tensor.Zeros<float>(3);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => net.LoadStateDict(state)).ParamName);
    }
}

/// <summary>The BatchNorm/max-pool network written by PyTorch: eval logits, and training-mode loss and gradients.</summary>
public class PyTorchFashionNetTests
{
    private static string Fx(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "train", name);

    [Fact]
    public void EvalLogitsMatchPyTorch()
    {
        var net = PyTorchCheckpointTests.LoadFixture("fashionnet_8x8.safetensors", "fashionnet");
        net.Eval();
        var x = Npy.ReadTensor<float>(Fx("input.npy"));
        PyTorchCheckpointTests.Near(Npy.ReadTensor<float>(Fx("fashionnet_logits.npy")), net.Forward(x), 1e-4, 1e-4);
    }

    [Fact]
    public void TrainingModeLossAndGradientsMatchPyTorch()
    {
        var net = PyTorchCheckpointTests.LoadFixture("fashionnet_8x8.safetensors", "fashionnet");
        net.Train();
        var x = Npy.ReadTensor<float>(Fx("input.npy"));
        var loss = Autograd.CrossEntropy(net.Forward(new Variable<float>(x)), [0, 3, 9, 1, 3, 7]);
        Assert.Equal(Npy.ReadTensor<double>(Fx("fashionnet_train_loss.npy")).AsSpan()[0], loss.Data.AsSpan()[0], 4);
        loss.Backward();
        var ps = net.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var name in new[] { "0.weight", "0.bias", "1.weight", "4.weight", "5.bias", "9.weight", "11.bias" })
        {
            var expected = Npy.ReadTensor<float>(Fx($"fashionnet_grad_{name.Replace('.', '_')}.npy"));
            double scale = expected.AsSpan().ToArray().Max(v => Math.Abs(v));
            PyTorchCheckpointTests.Near(expected, ps[name].Grad!, 1e-3 * scale + 1e-6, 1e-3);
        }
        // PyTorch: a conv bias followed by training-mode BatchNorm gets (numerically) zero gradient.
        Assert.All(ps["0.bias"].Grad!.AsSpan().ToArray(), v => Assert.True(Math.Abs(v) < 1e-5));
    }
}
