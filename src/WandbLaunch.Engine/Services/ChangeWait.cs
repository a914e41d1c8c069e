using System.Diagnostics;
using System.Globalization;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Engine.Services;

/// <summary>
/// The wait on the backend's change signal that JobWatch, AgentWatch and JobLogReader share, saying at Debug (source
/// "watch") whether a change woke it or the fallback poll ran out.
/// </summary>
internal static class ChangeWait
{
    public static async Task ForChangeAsync(ILaunchBackend backend, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!EngineLog.IsEnabled(DiagnosticLevel.Debug))
        {
            await backend.WaitForChangeAsync(timeout, cancellationToken).ConfigureAwait(false);
            return;
        }
        var start = Stopwatch.GetTimestamp();
        await backend.WaitForChangeAsync(timeout, cancellationToken).ConfigureAwait(false);
        var waited = Stopwatch.GetElapsedTime(start);
        EngineLog.Debug("watch", cancellationToken.IsCancellationRequested ? "wait cancelled"
            : waited < timeout ? string.Create(CultureInfo.InvariantCulture, $"woken by a store change after {waited.TotalMilliseconds:0} ms")
            : string.Create(CultureInfo.InvariantCulture, $"no store change within {timeout.TotalMilliseconds:0} ms: reading again"));
    }
}
