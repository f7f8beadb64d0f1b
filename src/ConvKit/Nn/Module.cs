using System.Numerics;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>One entry of a state dict: a parameter or buffer by its PyTorch name.</summary>
/// <param name="Name">Dotted name, e.g. <c>0.weight</c> or <c>1.running_mean</c>.</param>
/// <param name="Value">The tensor (shared with the module, not a copy).</param>
/// <param name="IsInteger">True for integer buffers (BatchNorm's num_batches_tracked), saved as I64.</param>
public readonly record struct StateEntry<T>(string Name, Tensor<T> Value, bool IsInteger) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Base class of layers and networks, shaped like torch.nn.Module: parameters, buffers and child modules
/// registered by name (so state dicts use PyTorch's names), train/eval modes, and a forward on the autograd tape.
/// </summary>
public abstract class Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<(string Name, Variable<T> Value)> _parameters = [];
    private readonly List<(string Name, Tensor<T> Value, bool IsInteger)> _buffers = [];
    private readonly List<(string Name, Module<T> Value)> _children = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Runs the module on <paramref name="input"/>, recording the operations for backward.</summary>
    public abstract Variable<T> Forward(Variable<T> input);

    /// <summary>Runs the module on a tensor without recording gradients for the input.</summary>
    public Tensor<T> Forward(Tensor<T> input) => Forward(new Variable<T>(input)).Data;

    /// <summary>Registers a trainable parameter.</summary>
    protected Variable<T> RegisterParameter(string name, Tensor<T> value)
    {
        var v = new Variable<T>(value, requiresGrad: true);
        _parameters.Add((name, v));
        return v;
    }

    /// <summary>Registers a buffer (state that is saved but not trained, e.g. running statistics).</summary>
    protected Tensor<T> RegisterBuffer(string name, Tensor<T> value, bool isInteger = false)
    {
        _buffers.Add((name, value, isInteger));
        return value;
    }

    /// <summary>Registers a child module under <paramref name="name"/>.</summary>
    protected TModule RegisterModule<TModule>(string name, TModule module) where TModule : Module<T>
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>Direct children with their names.</summary>
    public IEnumerable<(string Name, Module<T> Module)> NamedChildren() => _children.Select(c => (c.Name, c.Value));

    /// <summary>All parameters with dotted names, depth first (PyTorch's named_parameters order).</summary>
    public IEnumerable<(string Name, Variable<T> Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (n, p) in _parameters) yield return (prefix + n, p);
        foreach (var (n, c) in _children)
            foreach (var x in c.NamedParameters(prefix + n + ".")) yield return x;
    }

    /// <summary>All parameters, depth first.</summary>
    public IEnumerable<Variable<T>> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>All buffers with dotted names.</summary>
    public IEnumerable<(string Name, Tensor<T> Buffer, bool IsInteger)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, b, i) in _buffers) yield return (prefix + n, b, i);
        foreach (var (n, c) in _children)
            foreach (var x in c.NamedBuffers(prefix + n + ".")) yield return x;
    }

    /// <summary>The state dict in PyTorch's order: each module's parameters, then its buffers, then its children.</summary>
    public List<StateEntry<T>> StateDict(string prefix = "")
    {
        var list = new List<StateEntry<T>>();
        foreach (var (n, p) in _parameters) list.Add(new(prefix + n, p.Data, false));
        foreach (var (n, b, i) in _buffers) list.Add(new(prefix + n, b, i));
        foreach (var (n, c) in _children) list.AddRange(c.StateDict(prefix + n + "."));
        return list;
    }

    /// <summary>
    /// Copies values into the parameters and buffers by name. With <paramref name="strict"/>, missing or unexpected
    /// names are an error (like PyTorch's load_state_dict); shapes must always match.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor<T>> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var mine = StateDict();
        var missing = mine.Where(e => !state.ContainsKey(e.Name)).Select(e => e.Name).ToList();
        var names = mine.Select(e => e.Name).ToHashSet();
        var unexpected = state.Keys.Where(k => !names.Contains(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new ArgumentException($"state: missing keys [{string.Join(", ", missing)}], unexpected keys [{string.Join(", ", unexpected)}].", nameof(state));
        foreach (var e in mine)
        {
            if (!state.TryGetValue(e.Name, out var src)) continue;
            if (!src.SameShape(e.Value))
                throw new ArgumentException($"state: '{e.Name}' has shape {ShapeMath.Format(src.Shape)}, the module expects {ShapeMath.Format(e.Value.Shape)}.", nameof(state));
            src.AsSpan().CopyTo(e.Value.AsSpan());
        }
    }

    /// <summary>Sets training mode on this module and all children.</summary>
    public Module<T> Train(bool mode = true)
    {
        Training = mode;
        foreach (var (_, c) in _children) c.Train(mode);
        return this;
    }

    /// <summary>Sets evaluation mode (batch norm uses running statistics, dropout is off).</summary>
    public Module<T> Eval() => Train(false);

    /// <summary>Zeroes the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Data.Length);

    /// <summary>A one-line description of the layer (its constructor arguments).</summary>
    public virtual string Describe() => GetType().Name.Split('`')[0];

    /// <summary>A PyTorch-like printout of the module tree.</summary>
    public override string ToString()
    {
        if (_children.Count == 0) return Describe();
        var sb = new System.Text.StringBuilder();
        sb.Append(Describe()).Append("(\n");
        foreach (var (n, c) in _children)
            sb.Append("  (").Append(n).Append("): ").Append(c.ToString().Replace("\n", "\n  ")).Append('\n');
        sb.Append(')');
        return sb.ToString();
    }
}
