namespace WandbLaunch.Engine.Runners;

/// <summary>What a runner would submit for a job, for -WhatIf and manifest previews. Secrets are redacted.</summary>
public sealed class RenderedRequest
{
    public required string Resource { get; init; }

    /// <summary>A one-line summary, e.g. the command line or "Job ml/run-abc".</summary>
    public required string Summary { get; init; }

    /// <summary>The full request as text (YAML for manifests).</summary>
    public required string Text { get; init; }

    /// <summary>What the runner would leave out or ignore of the job's configuration (a Vertex key W&amp;B does not read), one sentence each.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public override string ToString() => Summary;
}
