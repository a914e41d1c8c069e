namespace WandbLaunch.Engine.Runners;

/// <summary>What a runner would submit for a job, for -WhatIf and manifest previews. Secrets are redacted.</summary>
public sealed class RenderedRequest
{
    public required string Resource { get; init; }

    /// <summary>A one-line summary, e.g. the command line or "Job ml/run-abc".</summary>
    public required string Summary { get; init; }

    /// <summary>The full request as text (YAML for manifests).</summary>
    public required string Text { get; init; }

    public override string ToString() => Summary;
}
