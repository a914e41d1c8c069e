using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Storage;

/// <summary>
/// Where queues, queue items (jobs) and agents live. The local SQLite store and the W&amp;B server both implement
/// it; every rule that does not depend on where data lives (names, templates, priorities) is checked before a
/// call reaches a backend, by the shared types in <c>Queues/</c> and <c>Specs/</c>.
/// </summary>
public interface ILaunchBackend : IDisposable
{
    /// <summary>Where this backend stores data: a file path or a server URL.</summary>
    string Location { get; }

    /// <summary>The entity used when a caller names none.</summary>
    string DefaultEntity { get; }

    Task<LaunchQueue> CreateQueueAsync(QueueDefinition definition, CancellationToken cancellationToken);

    /// <summary>Queues in an entity and project; null means any.</summary>
    Task<IReadOnlyList<LaunchQueue>> GetQueuesAsync(string? entity, string? project, CancellationToken cancellationToken);

    /// <summary>One queue, or null when there is none by that key.</summary>
    Task<LaunchQueue?> GetQueueAsync(QueueKey key, CancellationToken cancellationToken);

    Task<LaunchQueue> UpdateQueueAsync(QueueKey key, QueueUpdate update, CancellationToken cancellationToken);

    /// <summary>Deletes a queue and the items waiting in it.</summary>
    Task DeleteQueueAsync(QueueKey key, CancellationToken cancellationToken);
}
