using WandbLaunch.Engine.Diagnostics;
using Xunit;

namespace WandbLaunch.Engine.Tests.Diagnostics;

/// <summary>How a cmdlet gets the engine's messages: written anywhere, handed over on its own thread, in order, as they come.</summary>
public sealed class DiagnosticQueueTests
{
    [Fact]
    public void Pump_HandsOverMessagesFromOtherThreadsOnTheCallingThreadInOrderWhileTheTaskRuns()
    {
        var queue = new DiagnosticQueue(verbose: true, debug: true);
        var pumpThread = Environment.CurrentManagedThreadId;
        var firstSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var work = Task.Run(async () =>
        {
            queue.Write(DiagnosticLevel.Verbose, "store", "first");
            // The task cannot finish until the pump has written the first message: it must come while the task runs.
            await firstSeen.Task.WaitAsync(TimeSpan.FromSeconds(30));
            for (var i = 0; i < 500; i++) queue.Write(i % 2 == 0 ? DiagnosticLevel.Verbose : DiagnosticLevel.Debug, "store", $"m{i}");
        });
        var written = new List<string>();
        var threads = new HashSet<int>();
        queue.Pump(work, (level, source, message) =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            written.Add($"{level} {source}: {message}");
            if (message == "first") firstSeen.TrySetResult();
        });

        Assert.True(work.IsCompletedSuccessfully);
        Assert.Equal([pumpThread], threads);
        Assert.Equal(["Verbose store: first", .. Enumerable.Range(0, 500).Select(i => $"{(i % 2 == 0 ? "Verbose" : "Debug")} store: m{i}")], written);
    }

    [Fact]
    public void Pump_ReturnsWhenTheTaskFailsOrIsCancelled()
    {
        var queue = new DiagnosticQueue(verbose: true, debug: false);
        queue.Pump(Task.FromException(new InvalidOperationException()), (_, _, _) => { });
        queue.Pump(Task.FromCanceled(new CancellationToken(true)), (_, _, _) => { });
        var slow = Task.Delay(50).ContinueWith(_ => throw new InvalidOperationException(), TaskScheduler.Default);
        queue.Pump(slow, (_, _, _) => { });
        Assert.True(slow.IsFaulted);
    }

    [Fact]
    public void Write_KeepsOnlyTheLevelsAskedFor()
    {
        var queue = new DiagnosticQueue(verbose: true, debug: false);
        queue.Write(DiagnosticLevel.Debug, "store", "hidden");
        queue.Write(DiagnosticLevel.Verbose, "store", "shown");
        var written = new List<string>();
        queue.Drain((_, _, message) => written.Add(message));
        Assert.Equal(["shown"], written);
        Assert.False(queue.IsEnabled(DiagnosticLevel.Debug));
    }

    [Fact]
    public void Write_BeyondCapacity_DropsAndSaysHowMany()
    {
        var queue = new DiagnosticQueue(verbose: true, debug: true);
        for (var i = 0; i < DiagnosticQueue.Capacity + 7; i++) queue.Write(DiagnosticLevel.Debug, "store", $"m{i}");
        var written = new List<string>();
        queue.Drain((_, _, message) => written.Add(message));
        Assert.Equal(DiagnosticQueue.Capacity + 1, written.Count);
        Assert.StartsWith("7 message(s) were dropped", written[0]);
        Assert.Equal("m0", written[1]);
        // Draining makes room again.
        queue.Write(DiagnosticLevel.Debug, "store", "after");
        written.Clear();
        queue.Drain((_, _, message) => written.Add(message));
        Assert.Equal(["after"], written);
    }

    [Fact]
    public void Close_StopsKeepingMessages_SoWorkThatOutlivesTheCmdletHoldsNothing()
    {
        var queue = new DiagnosticQueue(verbose: true, debug: true);
        queue.Write(DiagnosticLevel.Verbose, "agent", "before");
        queue.Close();
        queue.Write(DiagnosticLevel.Verbose, "agent", "after");
        Assert.False(queue.IsEnabled(DiagnosticLevel.Verbose));
        var written = new List<string>();
        queue.Drain((_, _, message) => written.Add(message));
        Assert.Empty(written);
    }
}
