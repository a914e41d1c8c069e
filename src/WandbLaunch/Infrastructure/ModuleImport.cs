using System.Management.Automation;
using WandbLaunch.Loader;

namespace WandbLaunch.Infrastructure;

/// <summary>
/// Runs when PowerShell imports the module, before any cmdlet: from then on the engine and its libraries load from
/// <c>bin/lib</c> into the module's private load context the first time a cmdlet needs them (see
/// <see cref="LoadContext"/> and docs/architecture.md, "Load contexts").
/// </summary>
public sealed class ModuleImport : IModuleAssemblyInitializer
{
    /// <inheritdoc />
    public void OnImport() => LoadContext.Register(typeof(ModuleImport).Assembly);
}
