using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Storage;

/// <summary>What went wrong with a store, for code that reacts to it (the agent waits out the passing ones).</summary>
public enum StoreFault
{
    /// <summary>Locked by another process for longer than the busy timeout.</summary>
    Busy,

    /// <summary>The disk or the user's quota is full.</summary>
    Full,

    /// <summary>Cannot be opened or written (permissions, a read-only file system).</summary>
    NotWritable,

    /// <summary>The file was deleted while in use.</summary>
    Deleted,

    /// <summary>Another file took its place while in use.</summary>
    Replaced,

    /// <summary>Not a store: another application's database, a damaged file, a newer schema.</summary>
    Unusable,

    /// <summary>Anything else the store reported.</summary>
    Other,
}

/// <summary>A store failure: its <see cref="Fault"/> says what code may do about it, its error id what users match on.</summary>
public sealed class StoreException(string errorId, StoreFault fault, LaunchErrorCategory category, string message, object? target = null, Exception? inner = null)
    : LaunchException(errorId, category, message, target, inner)
{
    public StoreFault Fault { get; } = fault;

    /// <summary>Whether waiting may cure it: a lock, a full disk or a read-only store can clear while the agent waits.</summary>
    public override bool IsTransient => Fault is StoreFault.Busy or StoreFault.Full or StoreFault.NotWritable;

    /// <summary>Whether the file this process opened is no longer the store at its path.</summary>
    public bool IsGone => Fault is StoreFault.Deleted or StoreFault.Replaced;
}
