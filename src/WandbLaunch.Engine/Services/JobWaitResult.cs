using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.Services;

/// <summary>One job of a <see cref="JobWatch"/> wait: how it ended, or the error for a job that did not end in time.</summary>
public sealed record JobWaitResult(string JobId, LaunchJob? Job, LaunchException? Error);
