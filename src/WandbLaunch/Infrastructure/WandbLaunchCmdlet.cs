using System.Management.Automation;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Infrastructure;

/// <summary>
/// Base of every WandbLaunch cmdlet: finds the session's backend, runs engine calls with a cancellation token that
/// Ctrl+C (StopProcessing) cancels, and turns engine errors into ErrorRecords. Output is written only here, on the
/// pipeline thread.
/// <para>
/// Each pipeline step (<see cref="BeginProcessingCore"/>, <see cref="ProcessRecordCore"/>,
/// <see cref="EndProcessingCore"/>) runs with the engine's diagnostics going to this cmdlet when -Verbose or -Debug
/// (or $VerbosePreference, $DebugPreference) asks for them: the engine reports from any thread into a queue, and
/// <see cref="Await{T}(Task{T})"/> writes the queued messages on the pipeline thread while it waits, in order.
/// </para>
/// </summary>
public abstract class WandbLaunchCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopSource = new();
    private DiagnosticQueue? _diagnostics;
    private bool _diagnosticsChosen;
    private ILaunchBackend? _reportedBackend;

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline is stopped.</summary>
    private protected CancellationToken StopToken => _stopSource.Token;

    /// <summary>The backend this session is connected to (Connect-WandbLaunch), or the default local store.</summary>
    private protected ILaunchBackend Backend
    {
        get
        {
            var backend = LaunchSession.Current;
            if (_diagnostics is not null && !ReferenceEquals(backend, _reportedBackend))
            {
                _reportedBackend = backend;
                EngineLog.Verbose("store", LaunchSession.Describe(backend));
            }
            return backend;
        }
    }

    /// <inheritdoc />
    protected sealed override void BeginProcessing() => WithDiagnostics(BeginProcessingCore);

    /// <inheritdoc />
    protected sealed override void ProcessRecord() => WithDiagnostics(ProcessRecordCore);

    /// <inheritdoc />
    protected sealed override void EndProcessing() => WithDiagnostics(EndProcessingCore);

    /// <summary>What the cmdlet does before the first input (BeginProcessing).</summary>
    private protected virtual void BeginProcessingCore()
    {
    }

    /// <summary>What the cmdlet does with each input (ProcessRecord).</summary>
    private protected virtual void ProcessRecordCore()
    {
    }

    /// <summary>What the cmdlet does after the last input (EndProcessing).</summary>
    private protected virtual void EndProcessingCore()
    {
    }

    /// <summary>Runs an engine call to completion on the pipeline thread, writing its diagnostics as they come.</summary>
    private protected T Await<T>(Task<T> task)
    {
        _diagnostics?.Pump(task, WriteDiagnostic);
        return task.GetAwaiter().GetResult();
    }

    /// <summary>Runs an engine call to completion on the pipeline thread, writing its diagnostics as they come.</summary>
    private protected void Await(Task task)
    {
        _diagnostics?.Pump(task, WriteDiagnostic);
        task.GetAwaiter().GetResult();
    }

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
            WriteQueuedDiagnostics();
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
            WriteQueuedDiagnostics();
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

    /// <summary>
    /// Runs one pipeline step with the engine reporting to this cmdlet, then writes what is still queued. Without
    /// -Verbose or -Debug no sink is set (nor any message built), unless an enclosing command's sink must be hidden.
    /// </summary>
    private void WithDiagnostics(Action step)
    {
        try
        {
            RunStep(step);
        }
        catch (LaunchException e)
        {
            // An engine error a step did not handle itself (for example the session's default connection failing
            // to resolve when Backend is first read) still becomes this cmdlet's ErrorRecord, never a raw exception.
            if (!Stopping) WriteQueuedDiagnostics();
            ThrowTerminatingError(LaunchErrors.ToRecord(e));
        }
    }

    private void RunStep(Action step)
    {
        var diagnostics = ChooseDiagnostics();
        if (diagnostics is null && !EngineLog.IsEnabled(DiagnosticLevel.Verbose) && !EngineLog.IsEnabled(DiagnosticLevel.Debug))
        {
            step();
            return;
        }
        using (EngineLog.Use(diagnostics))
        {
            try
            {
                step();
            }
            finally
            {
                if (!Stopping) WriteQueuedDiagnostics();
            }
        }
    }

    private DiagnosticQueue? ChooseDiagnostics()
    {
        if (_diagnosticsChosen) return _diagnostics;
        _diagnosticsChosen = true;
        var verbose = Wants("Verbose", "VerbosePreference");
        var debug = Wants("Debug", "DebugPreference");
        if (verbose || debug) _diagnostics = new DiagnosticQueue(verbose, debug);
        return _diagnostics;
    }

    /// <summary>Whether -Verbose/-Debug, or without it the preference variable, shows that stream.</summary>
    private bool Wants(string parameter, string preferenceVariable)
    {
        if (MyInvocation.BoundParameters.TryGetValue(parameter, out var given)) return LanguagePrimitives.IsTrue(given);
        return LanguagePrimitives.TryConvertTo<ActionPreference>(GetVariableValue(preferenceVariable), out var preference)
            && preference is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
    }

    /// <summary>
    /// Writes a verbose record when -Verbose (or $VerbosePreference) asks for one, and only then. Every cmdlet's
    /// verbose records go through here: for a command given -Debug without -Verbose, PowerShell answers a plain
    /// <see cref="Cmdlet.WriteVerbose"/> with Inquire, a prompt that fails in a non-interactive session.
    /// </summary>
    private protected new void WriteVerbose(string text)
    {
        if (Wants("Verbose", "VerbosePreference")) base.WriteVerbose(text);
    }

    private void WriteQueuedDiagnostics() => _diagnostics?.Drain(WriteDiagnostic);

    private void WriteDiagnostic(DiagnosticLevel level, string source, string message)
    {
        // The engine passes values through Printable already; escaping the whole line again (idempotent) keeps a
        // message that missed it from reaching the terminal raw.
        var line = Printable.EscapeControls($"{source}: {message}");
        if (level == DiagnosticLevel.Debug) WriteDebug(line);
        else WriteVerbose(line);
    }

    /// <inheritdoc />
    protected override void StopProcessing() => _stopSource.Cancel();

    /// <inheritdoc />
    public void Dispose()
    {
        _diagnostics?.Close();
        _stopSource.Dispose();
        GC.SuppressFinalize(this);
    }
}
