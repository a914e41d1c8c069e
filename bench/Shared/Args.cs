using System.Globalization;

namespace Bench;

/// <summary>The benchmark programs' command line: <c>mode --option value ...</c>; an option may repeat.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.OrdinalIgnoreCase);

    public static Args Parse(IEnumerable<string> argv)
    {
        var args = new Args();
        string? key = null;
        foreach (var a in argv)
        {
            if (key is null)
            {
                if (!a.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"expected --option, got '{a}'");
                key = a[2..];
            }
            else
            {
                if (!args._values.TryGetValue(key, out var list)) args._values[key] = list = [];
                list.Add(a);
                key = null;
            }
        }
        if (key is not null) throw new ArgumentException($"--{key} needs a value");
        return args;
    }

    /// <summary>The option's last value; the option is required.</summary>
    public string Get(string key) => _values.TryGetValue(key, out var v) ? v[^1] : throw new ArgumentException($"--{key} is required");

    /// <summary>The option's last value, or <paramref name="fallback"/>.</summary>
    public string Get(string key, string fallback) => _values.TryGetValue(key, out var v) ? v[^1] : fallback;

    public bool Has(string key) => _values.ContainsKey(key);

    public int Int(string key, int fallback) => _values.TryGetValue(key, out var v) ? int.Parse(v[^1], CultureInfo.InvariantCulture) : fallback;

    /// <summary>Every value of a repeated option; the option is required.</summary>
    public IReadOnlyList<string> All(string key) => _values.TryGetValue(key, out var v) ? v : throw new ArgumentException($"--{key} is required");
}
