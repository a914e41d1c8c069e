using WandbLaunch.Backends.ContractTests.Sqlite;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Backends.ContractTests;

/// <summary>A capability a backend declares it lacks skips the tests that need it, with the backend's reason; the rest run.</summary>
public sealed class CapabilityTests
{
    [Fact]
    public void A_lacking_capability_skips_with_the_backends_reason_and_others_do_not_skip()
    {
        using var probe = new Probe();

        var skipped = Assert.Throws<SkipException>(() => probe.Check(BackendCapability.ReattachRecords));
        Assert.Contains("no re-attach records in this backend", skipped.Message);
        Assert.Contains(nameof(BackendCapability.ReattachRecords), skipped.Message);
        probe.Check(BackendCapability.ShortLeases);
        probe.Check(BackendCapability.RemoveFinishedItems);
    }

    /// <summary>The SQLite store, declared to lack one capability. Private: the contract's tests are not run again through it.</summary>
    private sealed class LacksReattach : IBackendFactory
    {
        private readonly SqliteBackendFactory _inner = new();

        public IReadOnlyDictionary<BackendCapability, string> Lacks { get; } =
            new Dictionary<BackendCapability, string> { [BackendCapability.ReattachRecords] = "no re-attach records in this backend" };

        public ILaunchBackend Open() => _inner.Open();

        public Task PassTimeAsync(DateTimeOffset moment) => _inner.PassTimeAsync(moment);

        public void Dispose() => _inner.Dispose();
    }

    private sealed class Probe : LaunchBackendContract<LacksReattach>
    {
        public void Check(BackendCapability capability) => Needs(capability);
    }
}
