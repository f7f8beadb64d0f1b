using System.Numerics;
using ConvKit.IO;
using ConvKit.Tensors;

namespace ConvKit.Nn;

/// <summary>
/// Saves and loads module state dicts as safetensors files with PyTorch's names and dtypes (float parameters as F32,
/// integer buffers as I64), so a PyTorch model of the same architecture loads them with load_state_dict and back.
/// </summary>
public static class Checkpoint
{
    /// <summary>Metadata key holding the architecture name (eval/predict rebuild the model from it).</summary>
    public const string ArchitectureKey = "convkit.architecture";

    /// <summary>Writes the state dict of <paramref name="model"/> with <paramref name="metadata"/> in <c>__metadata__</c>.</summary>
    public static void Save<T>(string path, Module<T> model, IReadOnlyDictionary<string, string>? metadata = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var entries = model.StateDict().Select(e => Safetensors.Entry(e.Name, e.Value, e.IsInteger ? "I64" : "F32"));
        Safetensors.Write(path, entries, metadata);
    }

    /// <summary>Reads a safetensors file into a state dict (every dtype converted to <typeparamref name="T"/>) and its metadata.</summary>
    public static Dictionary<string, Tensor<T>> Load<T>(string path, out Dictionary<string, string> metadata) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var tensors = Safetensors.Read(path, out metadata);
        return tensors.ToDictionary(t => t.Name, t => t.ToTensor<T>(), StringComparer.Ordinal);
    }
}
