namespace WandbLaunch.Engine.Documents;

/// <summary>A 1-based line and column in a source text, and the file it came from when there is one.</summary>
public readonly record struct SourcePosition(string? File, int Line, int Column)
{
    public override string ToString() =>
        File is null ? $"line {Line}, column {Column}" : $"{File}:{Line}:{Column}";
}
