namespace WandbLaunch.Engine.Tests;

/// <summary>
/// Tests that change process-wide environment variables (HOME) run in this collection, which xunit runs alone,
/// after the parallel ones. (xunit finds collection definitions only in the test assembly, so each test project
/// that needs one declares its own.)
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "Process environment";
}
