using System.Management.Automation;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;

namespace WandbLaunch.Infrastructure;

/// <summary>
/// Base of every WandbLaunch cmdlet: finds the session's backend, runs engine calls with a cancellation token that
/// Ctrl+C (StopProcessing) cancels, and turns engine errors into ErrorRecords. Output is written only here, on the
/// pipeline thread.
/// </summary>
public abstract class WandbLaunchCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopSource = new();

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline is stopped.</summary>
    private protected CancellationToken StopToken => _stopSource.Token;

    /// <summary>The backend this session is connected to (Connect-WandbLaunch), or the default local store.</summary>
    private protected ILaunchBackend Backend => LaunchSession.Current;

    /// <summary>Runs an engine call to completion on the pipeline thread.</summary>
    private protected static T Await<T>(Task<T> task) => task.GetAwaiter().GetResult();

    /// <summary>Runs an engine call to completion on the pipeline thread.</summary>
    private protected static void Await(Task task) => task.GetAwaiter().GetResult();

    /// <summary>Runs an engine call; a <see cref="LaunchException"/> becomes a non-terminating error for this item.</summary>
    private protected bool TryRun(Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (LaunchException e)
        {
            WriteError(LaunchErrors.ToRecord(e));
            return false;
        }
    }

    /// <summary>Runs an engine call; a <see cref="LaunchException"/> terminates the command (a bad invocation).</summary>
    private protected T RunOrTerminate<T>(Func<T> func)
    {
        try
        {
            return func();
        }
        catch (LaunchException e)
        {
            ThrowTerminatingError(LaunchErrors.ToRecord(e));
            throw; // unreachable: ThrowTerminatingError always throws
        }
    }

    private protected bool IsBound(string parameterName) => MyInvocation.BoundParameters.ContainsKey(parameterName);

    /// <summary>Whether this call only shows what it would do: -WhatIf, or $WhatIfPreference when -WhatIf is not given.</summary>
    private protected bool IsWhatIf =>
        MyInvocation.BoundParameters.TryGetValue("WhatIf", out var given)
            ? LanguagePrimitives.IsTrue(given)
            : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));

    /// <inheritdoc />
    protected override void StopProcessing() => _stopSource.Cancel();

    /// <inheritdoc />
    public void Dispose()
    {
        _stopSource.Dispose();
        GC.SuppressFinalize(this);
    }
}
