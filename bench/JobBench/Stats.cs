using System.Globalization;
using System.Text;

namespace JobBench;

/// <summary>Percentiles as bench/BenchCommon.ps1 computes them (linear interpolation between the closest ranks) and Markdown tables.</summary>
internal static class Stats
{
    public static double Percentile(IReadOnlyList<double> values, double percentile)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = percentile / 100 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    public static string Ms(double value) => value.ToString(value >= 100 ? "N0" : "0.0", CultureInfo.InvariantCulture);

    public static string Table(string[] header, IEnumerable<string[]> rows, int firstNumericColumn)
    {
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", header) + " |");
        text.AppendLine("|" + string.Join("|", header.Select((_, i) => i >= firstNumericColumn ? "---:" : "---")) + "|");
        foreach (var row in rows) text.AppendLine("| " + string.Join(" | ", row) + " |");
        return text.ToString();
    }

    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
