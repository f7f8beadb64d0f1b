using System.Globalization;

namespace ConvKit.Cli;

/// <summary>Minimal argument parser: positionals, <c>--name value</c>, <c>--name=value</c>, and flags.
/// Options are declared by the command as it reads them; <see cref="EnsureAllUsed"/> rejects unknown ones.</summary>
public sealed class CliArgs
{
    private readonly List<string> _positional = [];
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = [];

    /// <summary>Parses raw arguments (after the command name).</summary>
    public CliArgs(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                int eq = a.IndexOf('=');
                if (eq > 0) _options[a[2..eq]] = a[(eq + 1)..];
                else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) && !IsShortFlag(args[i + 1])) _options[a[2..]] = args[++i];
                else _options[a[2..]] = null;
            }
            else if (IsShortFlag(a) && i + 1 < args.Length) _options[a[1..]] = args[++i];
            else _positional.Add(a);
        }
    }

    private static bool IsShortFlag(string a) => a.Length == 2 && a[0] == '-' && char.IsLetter(a[1]);

    /// <summary>Positional arguments.</summary>
    public IReadOnlyList<string> Positional => _positional;
    /// <summary>True when --help or -h was given.</summary>
    public bool Help => Flag("help");

    /// <summary>True when the flag is present (with no value, or "true").</summary>
    public bool Flag(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) && (v is null || v == "true");
    }

    /// <summary>A string option (several names may alias, e.g. "k", "kernel").</summary>
    public string? Get(params string[] names)
    {
        foreach (var n in names)
        {
            _used.Add(n);
            if (_options.TryGetValue(n, out var v))
                return v ?? throw new ArgumentException($"--{n}: needs a value.");
        }
        return null;
    }

    /// <summary>An integer option.</summary>
    public int Int(string name, int dflt)
    {
        var s = Get(name);
        if (s is null) return dflt;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--{name}: '{s}' is not an integer.");
    }

    /// <summary>A floating-point option.</summary>
    public double Double(string name, double dflt)
    {
        var s = Get(name);
        if (s is null) return dflt;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--{name}: '{s}' is not a number.");
    }

    /// <summary>Throws for options the command did not read (typos).</summary>
    public void EnsureAllUsed()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown.Select(u => (u.Length == 1 ? "-" : "--") + u))}.");
    }
}
