namespace WandbLaunch.TestSupport;

/// <summary>
/// Sets an environment variable for the life of the object and restores it on dispose. The variable is
/// process-wide: tests using it belong in a collection that xunit runs alone.
/// </summary>
public sealed class EnvironmentVariableScope : IDisposable
{
    private readonly string _name;
    private readonly string? _previous;

    public EnvironmentVariableScope(string name, string? value)
    {
        _name = name;
        _previous = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
    }

    public void Dispose() => Environment.SetEnvironmentVariable(_name, _previous);
}
