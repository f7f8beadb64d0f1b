using System.Numerics;
using System.Reflection;
using System.Text.Json;
using ConvKit.Descriptors;
using ConvKit.Tensors;

namespace ConvKit.Ops;

/// <summary>
/// Marks a static generic method <c>Tensor&lt;T&gt;[] M&lt;T&gt;(OpCall&lt;T&gt; call)</c> as the implementation of a
/// named operator for <c>convkit op</c> and the golden tests. Names are PyTorch's: a torch.nn.functional function
/// (<c>conv2d</c>), <c>grad.X</c> for torch.nn.grad.X, <c>ops.X</c> for torchvision.ops.X.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class OpAttribute(string name) : Attribute
{
    /// <summary>The operator's PyTorch name.</summary>
    public string Name { get; } = name;
}

/// <summary>The arguments of one operator call: tensors by PyTorch parameter name and the other attributes.</summary>
public sealed class OpCall<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<string, Tensor<T>> _inputs;
    private readonly Dictionary<string, JsonElement> _attrs;

    /// <summary>Creates a call.</summary>
    public OpCall(string op, Dictionary<string, Tensor<T>> inputs, Dictionary<string, JsonElement> attrs)
    { Op = op; _inputs = inputs; _attrs = attrs; }

    /// <summary>The operator name.</summary>
    public string Op { get; }
    /// <summary>Indices of outputs that are integer tensors (written as int64), e.g. pooling indices.</summary>
    public HashSet<int> IntegerOutputs { get; } = [];

    /// <summary>A required tensor argument.</summary>
    public Tensor<T> Input(string name) => _inputs.TryGetValue(name, out var t) ? t
        : throw new ArgumentException($"{name}: {Op} needs the input '{name}' (given: {string.Join(", ", _inputs.Keys)}).", name);
    /// <summary>An optional tensor argument.</summary>
    public Tensor<T>? OptionalInput(string name) => _inputs.GetValueOrDefault(name);
    /// <summary>True when the attribute is present and not null.</summary>
    public bool Has(string name) => _attrs.TryGetValue(name, out var e) && e.ValueKind != JsonValueKind.Null;

    /// <summary>An integer attribute.</summary>
    public int Int(string name, int dflt)
    {
        if (!Has(name)) return dflt;
        var e = _attrs[name];
        if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 1) e = e[0];
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v
            : throw new ArgumentException($"{name}: expected an integer, got {e}.", name);
    }
    /// <summary>A floating-point attribute.</summary>
    public double Double(string name, double dflt)
    {
        if (!Has(name)) return dflt;
        var e = _attrs[name];
        return e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw new ArgumentException($"{name}: expected a number, got {e}.", name);
    }
    /// <summary>A boolean attribute.</summary>
    public bool Bool(string name, bool dflt)
    {
        if (!Has(name)) return dflt;
        var e = _attrs[name];
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ArgumentException($"{name}: expected true or false, got {e}.", name),
        };
    }
    /// <summary>A string attribute.</summary>
    public string? String(string name) => Has(name) ? (_attrs[name].ValueKind == JsonValueKind.String ? _attrs[name].GetString()
        : throw new ArgumentException($"{name}: expected a string, got {_attrs[name]}.", name)) : null;
    /// <summary>An int-or-list attribute (PyTorch's _size_Nd_t); default(Dims) when absent.</summary>
    public Dims Dims(string name) => Has(name) ? new Dims(Ints(name)!) : default;
    /// <summary>A list of ints (a single int becomes a one-element list); null when absent.</summary>
    public int[]? Ints(string name)
    {
        if (!Has(name)) return null;
        var e = _attrs[name];
        if (e.ValueKind == JsonValueKind.Number) return [Int(name, 0)];
        if (e.ValueKind != JsonValueKind.Array) throw new ArgumentException($"{name}: expected an int or a list of ints, got {e}.", name);
        return e.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out var v) ? v
            : throw new ArgumentException($"{name}: expected ints, got {e}.", name)).ToArray();
    }
    /// <summary>A list of numbers; null when absent.</summary>
    public double[]? Doubles(string name)
    {
        if (!Has(name)) return null;
        var e = _attrs[name];
        if (e.ValueKind == JsonValueKind.Number) return [e.GetDouble()];
        return e.EnumerateArray().Select(x => x.GetDouble()).ToArray();
    }
    /// <summary>The convolution padding attribute: int, per-axis list, 2·rank list of (begin, end) pairs, or a string.</summary>
    public Padding Padding(string name, int rank)
    {
        if (!Has(name)) return Descriptors.Padding.Zero;
        var e = _attrs[name];
        if (e.ValueKind == JsonValueKind.String) return Descriptors.Padding.Parse(e.GetString()!);
        var v = Ints(name)!;
        return v.Length == 2 * rank && rank > 1 || (rank == 1 && v.Length == 2) ? Descriptors.Padding.Asymmetric(v) : Descriptors.Padding.Symmetric(v);
    }
    /// <summary>padding_mode as in nn.Conv2d ("zeros", "reflect", "replicate", "circular").</summary>
    public PaddingMode PaddingMode(string name = "padding_mode") => (String(name) ?? "zeros") switch
    {
        "zeros" => Descriptors.PaddingMode.Zeros,
        "reflect" => Descriptors.PaddingMode.Reflect,
        "replicate" => Descriptors.PaddingMode.Replicate,
        "circular" => Descriptors.PaddingMode.Circular,
        var s => throw new ArgumentException($"{name}: unknown padding mode '{s}' (zeros, reflect, replicate, circular).", name),
    };
}

/// <summary>Finds every <see cref="OpAttribute"/> method in the library and runs operators by name.</summary>
public static class OpRegistry
{
    private static readonly Lazy<Dictionary<string, MethodInfo>> Ops = new(() =>
    {
        var d = new Dictionary<string, MethodInfo>(StringComparer.Ordinal);
        foreach (var type in typeof(OpRegistry).Assembly.GetTypes())
            foreach (var m in type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
                foreach (var a in m.GetCustomAttributes<OpAttribute>())
                    d.Add(a.Name, m);
        return d;
    });

    /// <summary>All registered operator names, sorted.</summary>
    public static IReadOnlyList<string> Names => Ops.Value.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>Runs the operator named in a call; throws <see cref="ArgumentException"/> for unknown names.</summary>
    public static Tensor<T>[] Run<T>(OpCall<T> call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Ops.Value.TryGetValue(call.Op, out var m))
            throw new ArgumentException($"op: unknown operator '{call.Op}'. Known: {string.Join(", ", Names)}.", "op");
        try
        {
            return (Tensor<T>[])m.MakeGenericMethod(typeof(T)).Invoke(null, [call])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
