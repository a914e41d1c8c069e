using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.FileSystem;

/// <summary>Resolving a path followed more links than <see cref="ContainedPath.MaxLinkHops"/>: a loop.</summary>
public sealed class SymbolicLinkLoopException(string message, object? target)
    : LaunchException("SymbolicLinkLoop", LaunchErrorCategory.InvalidData, message, target);
