namespace WandbLaunch.Engine.Diagnostics;

/// <summary>How much detail a diagnostic message carries; the cmdlets map these onto -Verbose and -Debug.</summary>
public enum DiagnosticLevel
{
    /// <summary>Every step, with the values it used (-Debug; W&amp;B's verbosity 2).</summary>
    Debug = 0,

    /// <summary>What the engine does: which store or server, what it polled, built, pushed, retried (-Verbose; W&amp;B's verbosity 1).</summary>
    Verbose = 1,
}
