using ConvKit.Data;
using ConvKit.Nn;
using ConvKit.Tensors;
using Xunit;

namespace ConvKit.Tests.Nn;

/// <summary>The fused batch-norm + ReLU node of <see cref="Sequential{T}"/> and the training step's buffer recycling.</summary>
public class StepBuffersTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SequentialBatchNormReluEqualsSeparateNodes(bool training)
    {
        var fused = new Sequential<float>(new BatchNorm2d<float>(3), new ReLU<float>());
        var bn = new BatchNorm2d<float>(3);
        var rng = new SeededRandom(5);
        foreach (var m in new[] { (BatchNormNd<float>)fused[0], bn })
        {
            Tensor.Rand<float>(6, [3], 0.5, 1.5).AsSpan().CopyTo(m.Weight!.Data.AsSpan());
            Tensor.Randn<float>(7, 3).AsSpan().CopyTo(m.Bias!.Data.AsSpan());
            m.Train(training);
        }
        fused.Train(training);
        var x1 = new Variable<float>(Tensor.Randn<float>(8, 4, 3, 5, 7), true);
        var x2 = new Variable<float>(x1.Data.Clone(), true);
        var y1 = fused.Forward(x1);
        var y2 = Autograd.Relu(bn.Forward(x2));
        Assert.Equal(y2.Data.AsSpan().ToArray(), y1.Data.AsSpan().ToArray());
        var g = Tensor.Randn<float>(9, 4, 3, 5, 7);
        y1.Backward(g); y2.Backward(g);
        var b1 = (BatchNormNd<float>)fused[0];
        Assert.Equal(x2.Grad!.AsSpan().ToArray(), x1.Grad!.AsSpan().ToArray());
        Assert.Equal(bn.Weight!.Grad!.AsSpan().ToArray(), b1.Weight!.Grad!.AsSpan().ToArray());
        Assert.Equal(bn.Bias!.Grad!.AsSpan().ToArray(), b1.Bias!.Grad!.AsSpan().ToArray());
        Assert.Equal(bn.RunningMean.AsSpan().ToArray(), b1.RunningMean.AsSpan().ToArray());
        Assert.Equal(bn.RunningVar.AsSpan().ToArray(), b1.RunningVar.AsSpan().ToArray());
        Assert.Equal(bn.NumBatchesTracked.AsSpan()[0], b1.NumBatchesTracked.AsSpan()[0]);
    }

    [Fact]
    public void BuffersAreLentOnlyWhileActiveAndReusedAfterRecycle()
    {
        var arena = new StepBuffers();
        Assert.Null(StepBuffers.Active);
        var outside = Tensor.Uninitialized<float>(StepBuffers.MinLength);
        arena.Activate();
        try
        {
            var a = Tensor.Uninitialized<float>(2, StepBuffers.MinLength);
            var small = Tensor.Uninitialized<float>(StepBuffers.MinLength - 1);
            var dbl = Tensor.Uninitialized<double>(StepBuffers.MinLength);
            Assert.Equal(1, arena.LentCount);
            arena.Recycle();
            Assert.Equal(0, arena.LentCount);
            Assert.Equal(1, arena.FreeCount);
            var b = Tensor.Uninitialized<float>(StepBuffers.MinLength, 2);
            Assert.Same(a.Data, b.Data);
            Assert.Equal([StepBuffers.MinLength, 2], b.ShapeArray());
            var c = Tensor.Uninitialized<float>(2 * StepBuffers.MinLength);
            Assert.NotSame(b.Data, c.Data); // b is still lent
            Assert.NotSame(outside.Data, c.Data);
            Assert.Equal(2, arena.LentCount);
        }
        finally { arena.Deactivate(); }
        Assert.Null(StepBuffers.Active);
    }

    [Theory]
    [InlineData(8, 16, 16, 23, 29)]  // odd sizes
    [InlineData(8, 1, 32, 28, 28)]   // fashionnet's first convolution
    [InlineData(8, 32, 64, 14, 14)]  // and its second
    public void ConvolutionInsideAStepEqualsTheFunctionalOperators(int n, int cin, int cout, int h, int w0)
    {
        // at least one of input and output is large enough to be recycled
        var x = new Variable<float>(Tensor.Randn<float>(20, n, cin, h, w0), true);
        var w = new Variable<float>(Tensor.Randn<float>(21, cout, cin, 3, 3), true);
        var b = new Variable<float>(Tensor.Randn<float>(22, cout), true);
        var g = Tensor.Randn<float>(23, n, cout, h, w0);
        var expected = Functional.Conv2d(x.Data, w.Data, b.Data, padding: 1);
        var expectedGx = Functional.Conv2dBackwardInput(x.Data.ShapeArray(), w.Data, g, padding: 1);
        var arena = new StepBuffers();
        StepBuffers.PoisonOnRecycle = true;
        arena.Activate();
        try
        {
            for (int step = 0; step < 2; step++) // the second step runs on poisoned recycled buffers
            {
                x.ZeroGrad();
                var y = Autograd.Conv2d(x, w, b, padding: 1);
                Assert.Equal(expected.AsSpan().ToArray(), y.Data.AsSpan().ToArray());
                y.Backward(g);
                Assert.Equal(expectedGx.AsSpan().ToArray(), x.Grad!.AsSpan().ToArray());
                arena.Recycle();
            }
        }
        finally { arena.Deactivate(); StepBuffers.PoisonOnRecycle = false; }
    }

    /// <summary>A layer from outside the library: the trainer does not recycle buffers for models containing one.</summary>
    private sealed class Wrapper : Module<float>
    {
        private readonly Module<float> _inner;
        public Wrapper(Module<float> inner) => _inner = RegisterModule("inner", inner);
        public override Variable<float> Forward(Variable<float> input) => _inner.Forward(input);
    }

    private static Sequential<float> Net() => new(
        new Conv2d<float>(1, 32, 3, padding: 1, bias: false, rng: new SeededRandom(1)), new BatchNorm2d<float>(32), new ReLU<float>(), new MaxPool2d<float>(2),
        new Flatten<float>(), new Linear<float>(32 * 4 * 4, 10, rng: new SeededRandom(2)));

    [Fact]
    public void RecycledBuffersTrainExactlyLikeFreshOnes()
    {
        // batches of 32 digits make [32, 32, 8, 8] activations: large enough to be recycled
        var (train, _) = Datasets.Digits(seed: 0);
        var sub = train.Take(32 * 6 + 7);
        var o = new TrainOptions { Epochs = 2, BatchSize = 32, LearningRate = 3e-3 };
        var recycled = Net();
        var fresh = Net();
        List<EpochStats> h1;
        // stale contents of a recycled buffer would turn into NaN losses and weights
        StepBuffers.PoisonOnRecycle = true;
        try { h1 = Trainer.Fit(recycled, sub, null, o); }
        finally { StepBuffers.PoisonOnRecycle = false; }
        var h2 = Trainer.Fit(new Wrapper(fresh), sub, null, o);
        // the convolution engine's threaded reductions may round differently from run to run: compare closely, not
        // bitwise (no conv bias: before a batch norm its gradient is rounding noise, which Adam would amplify)
        Assert.Equal(h2.Select(h => h.TrainLoss), h1.Select(h => h.TrainLoss), (a, b) => Math.Abs(a - b) <= 1e-5 * Math.Abs(a));
        var w1 = recycled.StateDict().SelectMany(e => e.Value.AsSpan().ToArray()).ToArray();
        var w2 = fresh.StateDict().SelectMany(e => e.Value.AsSpan().ToArray()).ToArray();
        Assert.All(w1, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(w2, w1, (a, b) => Math.Abs(a - b) <= 1e-4f * (1 + Math.Abs(a)));
    }
}
