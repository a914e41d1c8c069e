using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>What kept the agent from a cluster, for code that reacts to it.</summary>
public enum KubeFault
{
    /// <summary>No kubeconfig file and no service account.</summary>
    ConfigNotFound,

    /// <summary>The API server refused the credentials (401).</summary>
    Unauthorized,

    /// <summary>The identity may not do this (403).</summary>
    Forbidden,

    /// <summary>The API server did not answer.</summary>
    Unreachable,
}

/// <summary>A cluster the agent cannot use: its <see cref="Fault"/> says what code may do about it, its error id what users match on.</summary>
public sealed class KubeAccessException(string errorId, KubeFault fault, LaunchErrorCategory category, string message, object? target = null, Exception? inner = null)
    : LaunchException(errorId, category, message, target, inner)
{
    public KubeFault Fault { get; } = fault;
}
