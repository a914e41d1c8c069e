using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace WandbLaunch.Loader;

/// <summary>
/// The module's private AssemblyLoadContext. PowerShell loads the cmdlet assembly (<c>bin/WandbLaunch.dll</c>, the
/// module's binary root module) and this small loader into its own context; the engine and every third-party library
/// (YamlDotNet, SQLite, Docker, Kubernetes, cloud SDKs) load from <c>bin/lib</c> into this context, and only when a
/// cmdlet first uses the engine: importing the module loads neither. Another module that loaded a different version
/// of one of those libraries into the session cannot break WandbLaunch, and WandbLaunch cannot break it. Assemblies
/// that are not in <c>bin/lib</c> (PowerShell itself, the .NET framework) resolve from the default context as usual.
/// </summary>
public sealed class LoadContext : AssemblyLoadContext
{
    private static readonly object Sync = new();
    private static LoadContext? _instance;

    private readonly string _libDirectory;
    private readonly string _nativeDirectory;
    private readonly HashSet<string> _cmdletReferences;

    private LoadContext(string libDirectory, HashSet<string> cmdletReferences)
        : base(name: "WandbLaunch", isCollectible: false)
    {
        _libDirectory = libDirectory;
        _nativeDirectory = Path.Combine(libDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native");
        _cmdletReferences = cmdletReferences;
    }

    /// <summary>
    /// Lets PowerShell's context find the assemblies of <c>bin/lib</c> that <paramref name="cmdletAssembly"/>
    /// references (the engine) by loading them into this context when they are first needed. Called when the module
    /// is imported; once per process (a re-import with <c>-Force</c> finds it done). Loads nothing itself.
    /// </summary>
    public static void Register(Assembly cmdletAssembly)
    {
        lock (Sync)
        {
            if (_instance is not null) return;
            var libDirectory = Path.Combine(Path.GetDirectoryName(typeof(LoadContext).Assembly.Location)!, "lib");
            // Only these names are answered for PowerShell's context: a library another module asks that context for
            // (its own YamlDotNet, say) must not be handed ours.
            var cmdletReferences = cmdletAssembly.GetReferencedAssemblies()
                .Select(reference => reference.Name!)
                .Where(name => File.Exists(Path.Combine(libDirectory, name + ".dll")))
                .ToHashSet(StringComparer.OrdinalIgnoreCase);
            _instance = new LoadContext(libDirectory, cmdletReferences);
            Default.Resolving += _instance.ResolveForCmdlets;
        }
    }

    private Assembly? ResolveForCmdlets(AssemblyLoadContext context, AssemblyName assemblyName) =>
        assemblyName.Name is { } name && _cmdletReferences.Contains(name) ? LoadFromAssemblyName(assemblyName) : null;

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
