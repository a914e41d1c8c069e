namespace WandbLaunch.Engine.DockerTests;

/// <summary>
/// The Docker engine and htpasswd-protected registry that tools/Start-TestServices.ps1 starts and describes in
/// WBL_TEST_* variables (build.ps1 -Task Test runs it before the tests).
/// </summary>
public static class TestServices
{
    /// <summary>True when the services run here (WBL_TEST_DOCKER=1).</summary>
    public static bool Available => Environment.GetEnvironmentVariable("WBL_TEST_DOCKER") == "1";

    /// <summary>Under CI=true, tests that need the services run (and fail without them) instead of skipping.</summary>
    public static bool Required => Environment.GetEnvironmentVariable("CI") == "true";

    public const string SkipReason =
        "Needs the Docker engine and registry started by tools/Start-TestServices.ps1 (WBL_TEST_DOCKER is not 1); under CI=true it runs.";

    /// <summary>host:port of the registry.</summary>
    public static string Registry => Variable("WBL_TEST_REGISTRY");

    public static string RegistryUser => Variable("WBL_TEST_REGISTRY_USER");

    public static string RegistryPassword => Variable("WBL_TEST_REGISTRY_PASSWORD");

    /// <summary>An image built FROM scratch that the engine has (nothing can be pulled from a hub here).</summary>
    public static string BaseImage => Variable("WBL_TEST_BASE_IMAGE");

    private static string Variable(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: run tools/Start-TestServices.ps1 first (build.ps1 -Task Test does).");
}

/// <summary>A fact that needs the test services: skipped with the reason when they are absent, unless CI=true.</summary>
public sealed class DockerFactAttribute : FactAttribute
{
    public DockerFactAttribute()
    {
        if (!TestServices.Available && !TestServices.Required) Skip = TestServices.SkipReason;
    }
}

/// <summary>A theory that needs the Docker engine, skipped (or, in CI, failed) as <see cref="DockerFactAttribute"/>.</summary>
public sealed class DockerTheoryAttribute : TheoryAttribute
{
    public DockerTheoryAttribute()
    {
        if (!TestServices.Available && !TestServices.Required) Skip = TestServices.SkipReason;
    }
}
