using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.TestSupport;
using Xunit;

namespace WandbLaunch.Engine.Tests.Diagnostics;

/// <summary>The engine's reporting interface: reaches the sink of the work that started it, and costs nothing unasked.</summary>
public sealed class EngineLogTests
{
    [Fact]
    public async Task Use_FlowsIntoWorkStartedInside_AndEndsWithTheScope()
    {
        var recording = new RecordingDiagnostics();
        Task work;
        using (EngineLog.Use(recording))
        {
            work = Task.Run(async () =>
            {
                await Task.Yield();
                EngineLog.Verbose("store", "from the thread pool");
            });
        }
        await work;
        EngineLog.Verbose("store", "after the scope");
        Assert.Equal(["store: from the thread pool"], recording.Lines);
    }

    [Fact]
    public void NestedUse_ReportsToTheInnerSinkOnly_AndNullHidesTheOuter()
    {
        var outer = new RecordingDiagnostics();
        var inner = new RecordingDiagnostics();
        using (EngineLog.Use(outer))
        {
            using (EngineLog.Use(inner)) EngineLog.Verbose("a", "inner");
            using (EngineLog.Use(null)) EngineLog.Verbose("a", "hidden");
            EngineLog.Verbose("a", "outer");
        }
        Assert.Equal(["a: inner"], inner.Lines);
        Assert.Equal(["a: outer"], outer.Lines);
    }

    [Fact]
    public void Disabled_BuildsNoMessageAndAllocatesNothing()
    {
        var built = 0;
        using (EngineLog.Use(new RecordingDiagnostics(verbose: true, debug: false)))
        {
            EngineLog.Debug("store", () => $"{++built}");
        }
        Assert.Equal(0, built);

        using (EngineLog.Use(null))
        {
            Report(); // JIT and first-call costs out of the measurement
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++) Report();
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        static void Report()
        {
            EngineLog.Verbose("store", static () => "never built");
            EngineLog.Debug("store", static () => "never built");
            if (EngineLog.IsEnabled(DiagnosticLevel.Debug)) EngineLog.Debug("store", "never");
        }
    }
}
