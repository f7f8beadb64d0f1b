using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>
/// A node of the reverse-mode autograd tape: a tensor value, its gradient, and (for computed nodes) the closure
/// that sends the gradient on to the node's inputs. Leaves with <see cref="RequiresGrad"/> are parameters or
/// inputs whose gradients accumulate in <see cref="Grad"/>, like PyTorch's <c>.grad</c>.
/// Generic over the element type so whole networks run in double for finite-difference checks.
/// </summary>
public sealed class Variable<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Variable<T>[] _parents;
    private readonly Action<Tensor<T>>? _backward;

    /// <summary>The value.</summary>
    public Tensor<T> Data { get; set; }
    /// <summary>∂L/∂Data after <see cref="Backward"/>; accumulates across calls for leaves (zero it with <see cref="ZeroGrad"/>).</summary>
    public Tensor<T>? Grad { get; set; }
    /// <summary>True when a gradient flows to this node.</summary>
    public bool RequiresGrad { get; }
    /// <summary>True for nodes that were not computed by an operation (parameters, inputs).</summary>
    public bool IsLeaf => _backward is null;

    /// <summary>A leaf holding <paramref name="data"/>.</summary>
    public Variable(Tensor<T> data, bool requiresGrad = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        Data = data;
        RequiresGrad = requiresGrad;
        _parents = [];
    }

    /// <summary>A computed node; <paramref name="backward"/> receives ∂L/∂(this) and accumulates into the parents.</summary>
    internal Variable(Tensor<T> data, Variable<T>[] parents, Action<Tensor<T>> backward)
    {
        Data = data;
        _parents = parents;
        RequiresGrad = !Autograd.GradDisabled && parents.Any(p => p.RequiresGrad);
        _backward = RequiresGrad ? backward : null;
        if (!RequiresGrad) _parents = [];
    }

    /// <summary>Shape of the value.</summary>
    public ReadOnlySpan<int> Shape => Data.Shape;

    /// <summary>Sets the accumulated gradient to zero (keeps the buffer so steps do not allocate).</summary>
    public void ZeroGrad() => Grad?.AsSpan().Clear();

    /// <summary>
    /// Back-propagates from this node. With no <paramref name="gradient"/> the node must hold a single value
    /// (a loss) and the seed is 1. Gradients of intermediate nodes are released afterwards.
    /// </summary>
    public void Backward(Tensor<T>? gradient = null)
    {
        if (!RequiresGrad) throw new InvalidOperationException("Backward: this value does not depend on anything that requires a gradient.");
        if (gradient is null)
        {
            if (Data.Length != 1) throw new ArgumentException($"gradient: required for a non-scalar output of shape {ShapeMath.Format(Data.Shape)}.", nameof(gradient));
            gradient = Tensor.Full(T.One, Data.ShapeArray());
        }
        else if (!gradient.SameShape(Data))
            throw new ArgumentException($"gradient: shape {ShapeMath.Format(gradient.Shape)} does not match the output {ShapeMath.Format(Data.Shape)}.", nameof(gradient));

        var order = TopologicalOrder();
        Accumulate(gradient);
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var v = order[i];
            if (v._backward is null || v.Grad is null) continue;
            v._backward(v.Grad);
            v.Grad = null; // intermediate gradients are not kept (PyTorch's retain_grad is off by default)
        }
    }

    private List<Variable<T>> TopologicalOrder()
    {
        var order = new List<Variable<T>>();
        var seen = new HashSet<Variable<T>>(ReferenceEqualityComparer.Instance);
        // Iterative DFS: deep networks must not overflow the stack.
        var stack = new Stack<(Variable<T> V, int Next)>();
        stack.Push((this, 0)); seen.Add(this);
        while (stack.Count > 0)
        {
            var (v, next) = stack.Pop();
            if (next < v._parents.Length)
            {
                stack.Push((v, next + 1));
                var p = v._parents[next];
                if (p.RequiresGrad && seen.Add(p)) stack.Push((p, 0));
            }
            else order.Add(v);
        }
        return order; // parents before children
    }

    /// <summary>Adds <paramref name="g"/> to this node's gradient.</summary>
    internal void Accumulate(Tensor<T> g)
    {
        if (!RequiresGrad) return;
        if (Grad is null)
        {
            // Leaves own a persistent buffer; computed nodes may alias the incoming tensor (it is never written in place).
            Grad = IsLeaf ? g.Clone() : g;
        }
        else if (IsLeaf)
            TensorPrimitives.Add(Grad.AsSpan(), g.AsSpan(), Grad.AsSpan());
        else
        {
            var sum = new Tensor<T>(Grad.ShapeArray());
            TensorPrimitives.Add(Grad.AsSpan(), g.AsSpan(), sum.AsSpan());
            Grad = sum;
        }
    }

    /// <summary>A leaf sharing this node's value with no history (PyTorch's detach).</summary>
    public Variable<T> Detach() => new(Data, false);

    /// <inheritdoc/>
    public override string ToString() => $"Variable({Data}, requires_grad={RequiresGrad})";
}
