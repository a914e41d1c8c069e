using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>
/// How the contract suite gets at a backend: one empty store per test, any number of handles on it, and time.
/// A backend's subclass of <see cref="LaunchBackendContract{TFactory}"/> names its factory; nothing in the suite
/// knows what is behind it.
/// </summary>
public interface IBackendFactory : IDisposable
{
    /// <summary>The capabilities this backend lacks, each with the reason a test that needs it is skipped.</summary>
    IReadOnlyDictionary<BackendCapability, string> Lacks { get; }

    /// <summary>
    /// A new handle on this test's store: the first call creates the (empty) store; every later one is another
    /// process's or agent's view of the same data, with its own connections and change notification. The factory
    /// disposes the handles it made.
    /// </summary>
    ILaunchBackend Open();

    /// <summary>Returns once <paramref name="moment"/> has passed for the backend (a real wait, or a stand-in server's clock moved on).</summary>
    Task PassTimeAsync(DateTimeOffset moment);
}
