using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace WandbLaunch.Loader;

/// <summary>
/// The module's private AssemblyLoadContext. This tiny assembly is the only one loaded into PowerShell's own
/// context; the cmdlets, the engine and every third-party library (YamlDotNet, SQLite, Docker, Kubernetes, cloud
/// SDKs) load from <c>bin/lib</c> into this context, so another module that loaded a different version of one of
/// them into the session cannot break WandbLaunch, and WandbLaunch cannot break it. Assemblies that are not in
/// <c>bin/lib</c> (PowerShell itself, the .NET framework) resolve from the default context as usual.
/// </summary>
public sealed class LoadContext : AssemblyLoadContext
{
    private static readonly object Sync = new();
    private static LoadContext? _instance;

    private readonly string _libDirectory;
    private readonly string _nativeDirectory;

    private LoadContext(string libDirectory)
        : base(name: "WandbLaunch", isCollectible: false)
    {
        _libDirectory = libDirectory;
        _nativeDirectory = Path.Combine(libDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native");
    }

    /// <summary>Loads the cmdlet assembly into the private context (once per process) and returns it.</summary>
    public static Assembly Initialize()
    {
        lock (Sync)
        {
            if (_instance is null)
            {
                var binDirectory = Path.GetDirectoryName(typeof(LoadContext).Assembly.Location)!;
                _instance = new LoadContext(Path.Combine(binDirectory, "lib"));
            }
            return _instance.LoadFromAssemblyName(new AssemblyName("WandbLaunch"));
        }
    }

    /// <inheritdoc />
    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var path = Path.Combine(_libDirectory, assemblyName.Name + ".dll");
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }

    /// <inheritdoc />
    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var candidate in NativeCandidates(unmanagedDllName))
        {
            var path = Path.Combine(_nativeDirectory, candidate);
            if (File.Exists(path)) return LoadUnmanagedDllFromPath(path);
            path = Path.Combine(FallbackNativeDirectory(), candidate);
            if (File.Exists(path)) return LoadUnmanagedDllFromPath(path);
        }
        return IntPtr.Zero;
    }

    private string FallbackNativeDirectory()
    {
        var arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        return Path.Combine(_libDirectory, "runtimes", $"{os}-{arch}", "native");
    }

    private static IEnumerable<string> NativeCandidates(string name)
    {
        yield return name;
        if (OperatingSystem.IsWindows())
        {
            yield return name + ".dll";
        }
        else if (OperatingSystem.IsMacOS())
        {
            yield return "lib" + name + ".dylib";
            yield return name + ".dylib";
        }
        else
        {
            yield return "lib" + name + ".so";
            yield return name + ".so";
        }
    }
}
