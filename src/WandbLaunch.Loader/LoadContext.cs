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
/// An assembly the cmdlets and the engine both use (System.Text.Json: they exchange its types) must be one copy: the
/// platform's, when it is at least the version asked for, else bin/lib's for both (see <see cref="Load"/>).
/// </summary>
public sealed class LoadContext : AssemblyLoadContext
{
    private static readonly object Sync = new();

    /// <summary>
    /// Assemblies whose types cross the shared System.Text.Json's API (<c>JsonEncodedText.Encode(string, JavaScriptEncoder)</c>):
    /// they must come from where the shared copy gets them, or the engine's call finds no such method.
    /// </summary>
    private static readonly HashSet<string> SharedDependencies = new(StringComparer.OrdinalIgnoreCase) { "System.Text.Encodings.Web" };
    private static LoadContext? _instance;

    private readonly string _libDirectory;
    private readonly string _nativeDirectory;
    private readonly HashSet<string> _cmdletReferences;
    private readonly Lazy<Dictionary<string, string>> _platformAssemblies = new(ReadPlatformAssemblies);

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
            // Only these names are answered for PowerShell's context (the engine, and a platform assembly the platform
            // has too old a version of): a library another module asks that context for (its own YamlDotNet, say) must
            // not be handed ours.
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

    /// <summary>
    /// Loads <paramref name="assemblyName"/> from bin/lib, except an assembly the cmdlets reference too that the
    /// platform (the .NET runtime and PowerShell, the default context's trusted assemblies) has at the version asked
    /// for or newer: that one comes from the default context, as it does for the cmdlets, so that a type they hand
    /// the engine (a <c>JsonNode</c>) is the type the engine expects.
    /// </summary>
    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var name = assemblyName.Name;
        if (name is null) return null;
        var path = Path.Combine(_libDirectory, name + ".dll");
        if (!File.Exists(path)) return null;
        if ((_cmdletReferences.Contains(name) || SharedDependencies.Contains(name)) && PlatformHas(assemblyName)) return null;
        return LoadFromAssemblyPath(path);
    }

    private bool PlatformHas(AssemblyName assemblyName)
    {
        if (!_platformAssemblies.Value.TryGetValue(assemblyName.Name!, out var path)) return false;
        var version = AssemblyName.GetAssemblyName(path).Version;
        return version is not null && version >= (assemblyName.Version ?? new Version(0, 0));
    }

    private static Dictionary<string, string> ReadPlatformAssemblies()
    {
        var paths = (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in paths) byName.TryAdd(Path.GetFileNameWithoutExtension(path), path);
        return byName;
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
