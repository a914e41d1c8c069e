using System.Collections.Concurrent;

namespace WandbLaunch.Engine.Builders;

/// <summary>
/// One build of an image at a time: two jobs of the same code started together build once, as the second waits and
/// then finds the image the first one made.
/// </summary>
internal sealed class ImageBuildGate
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    /// <summary>Waits until no other build of <paramref name="image"/> runs; disposing the result lets the next one in.</summary>
    public async Task<IDisposable> EnterAsync(string image, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(image, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Exit(gate);
    }

    private sealed class Exit(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) gate.Release();
        }
    }
}
