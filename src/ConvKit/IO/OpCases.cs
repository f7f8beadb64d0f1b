using System.Numerics;
using System.Text.Json;
using ConvKit.Ops;
using ConvKit.Tensors;

namespace ConvKit.IO;

/// <summary>One case of a <c>convkit op</c> file: an operator, its .npy inputs and attributes, and the .npy
/// paths to write the outputs to. Optional <c>expected</c> paths (and <c>atol</c>/<c>rtol</c>) turn it into a check.</summary>
public sealed record OpCase(string Name, string Op, Dictionary<string, string> Inputs, Dictionary<string, JsonElement> Attrs,
    string[] Outputs, string[] Expected, double Atol, double Rtol, string BaseDir);

/// <summary>The outcome of running one <see cref="OpCase"/>.</summary>
public sealed record OpCaseResult(OpCase Case, bool Ok, string Message, double MaxError);

/// <summary>
/// Loads and runs operator case files (schema: <c>{"cases": [{"name", "op", "inputs": {param: "x.npy"},
/// "attrs": {...}, "outputs": ["y.npy"]}]}</c>, paths relative to the JSON file). Outputs are compared with
/// expected tensors within atol + rtol·m, where m is the magnitude of the accumulated terms: the larger of
/// |expected| and the operator applied to the absolute values of its inputs (for convolutions exactly Σ|x·w|).
/// </summary>
public static class OpCases
{
    /// <summary>Default absolute tolerance.</summary>
    public const double DefaultAtol = 1e-5;
    /// <summary>Default tolerance relative to the accumulated magnitude.</summary>
    public const double DefaultRtol = 2e-5;

    /// <summary>Parses a case file; throws <see cref="InvalidDataException"/> naming what is malformed.</summary>
    public static List<OpCase> Load(string jsonPath)
    {
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(jsonPath))!;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(jsonPath)); }
        catch (JsonException e) { throw new InvalidDataException($"{jsonPath}: not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("cases", out var cases) || cases.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{jsonPath}: expected an object with a \"cases\" array.");
            var list = new List<OpCase>();
            int i = 0;
            foreach (var c in cases.EnumerateArray())
            {
                string name = c.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : $"case{i}";
                if (!c.TryGetProperty("op", out var op) || op.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{jsonPath}: case '{name}' has no \"op\" string.");
                var inputs = new Dictionary<string, string>();
                if (c.TryGetProperty("inputs", out var ins))
                    foreach (var p in ins.EnumerateObject())
                        inputs[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()!
                            : throw new InvalidDataException($"{jsonPath}: case '{name}' input '{p.Name}' must be a .npy path.");
                var attrs = new Dictionary<string, JsonElement>();
                if (c.TryGetProperty("attrs", out var at))
                    foreach (var p in at.EnumerateObject()) attrs[p.Name] = p.Value.Clone();
                list.Add(new OpCase(name, op.GetString()!, inputs, attrs, Strings(c, "outputs"), Strings(c, "expected"),
                    c.TryGetProperty("atol", out var a) ? a.GetDouble() : DefaultAtol,
                    c.TryGetProperty("rtol", out var r) ? r.GetDouble() : DefaultRtol, baseDir));
                i++;
            }
            return list;
        }
    }

    private static string[] Strings(JsonElement c, string key) =>
        c.TryGetProperty(key, out var e) && e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];

    /// <summary>Runs a case's operator on its inputs.</summary>
    public static (Tensor<T>[] Outputs, HashSet<int> IntegerOutputs) Run<T>(OpCase c, Func<Tensor<T>, Tensor<T>>? mapInputs = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var inputs = c.Inputs.ToDictionary(kv => kv.Key, kv =>
        {
            var t = Npy.ReadTensor<T>(Path.Combine(c.BaseDir, kv.Value));
            return mapInputs is null ? t : mapInputs(t);
        });
        var call = new OpCall<T>(c.Op, inputs, c.Attrs);
        return (OpRegistry.Run(call), call.IntegerOutputs);
    }

    /// <summary>Runs a case, optionally writes its outputs, and compares with its expected tensors if it has any.</summary>
    public static OpCaseResult RunAndCheck<T>(OpCase c, bool writeOutputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T>[] outs;
        HashSet<int> ints;
        try { (outs, ints) = Run<T>(c); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or NotSupportedException)
        {
            return new OpCaseResult(c, false, e.Message, double.NaN);
        }
        if (writeOutputs)
            for (int i = 0; i < Math.Min(outs.Length, c.Outputs.Length); i++)
            {
                var path = Path.Combine(c.BaseDir, c.Outputs[i]);
                // Output paths such as "out/y.npy" may name a folder that does not exist yet.
                var dir = Path.GetDirectoryName(path);
                if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
                if (ints.Contains(i)) Npy.WriteInt64(path, outs[i].Shape, outs[i].AsSpan().ToArray().Select(v => long.CreateTruncating(v)).ToArray());
                else Npy.Write(path, outs[i]);
            }
        if (c.Expected.Length == 0) return new OpCaseResult(c, true, $"{outs.Length} output(s)", 0);
        if (outs.Length < c.Expected.Length)
            return new OpCaseResult(c, false, $"produced {outs.Length} outputs, {c.Expected.Length} expected", double.NaN);
        Tensor<T>[]? mags = null;
        try { mags = Run<T>(c, t => { var a = t.Clone(); var s = a.AsSpan(); for (int i = 0; i < s.Length; i++) s[i] = T.Abs(s[i]); return a; }).Outputs; }
        catch (ArgumentException) { }
        double worst = 0;
        for (int k = 0; k < c.Expected.Length; k++)
        {
            var exp = Npy.ReadTensor<double>(Path.Combine(c.BaseDir, c.Expected[k]));
            var got = outs[k];
            if (!exp.Shape.SequenceEqual(got.Shape))
                return new OpCaseResult(c, false, $"output {k}: shape {ShapeMath.Format(got.Shape)}, expected {ShapeMath.Format(exp.Shape)}", double.NaN);
            var e = exp.AsSpan(); var g = got.AsSpan();
            var m = mags is not null && mags.Length > k && mags[k].Length == g.Length ? mags[k].AsSpan() : Span<T>.Empty;
            for (int i = 0; i < e.Length; i++)
            {
                double gv = double.CreateTruncating(g[i]);
                double mag = Math.Max(Math.Abs(e[i]), m.IsEmpty ? 0 : Math.Abs(double.CreateTruncating(m[i])));
                double err = Math.Abs(gv - e[i]);
                bool bothNan = double.IsNaN(gv) && double.IsNaN(e[i]);
                if (!bothNan && !(err <= c.Atol + c.Rtol * mag))
                    return new OpCaseResult(c, false, $"output {k}[{i}]: got {gv:G9}, expected {e[i]:G9} (|err| {err:G3} > tol {c.Atol + c.Rtol * mag:G3})", err);
                if (!bothNan) worst = Math.Max(worst, err);
            }
        }
        return new OpCaseResult(c, true, $"max |err| {worst:G3}", worst);
    }
}
