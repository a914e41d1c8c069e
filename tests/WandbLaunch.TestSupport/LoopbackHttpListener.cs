using System.Net;
using System.Net.Sockets;

namespace WandbLaunch.TestSupport;

/// <summary>
/// An <see cref="HttpListener"/> on 127.0.0.1 at a free port that hands every request, on the thread pool, to a
/// handler until it is disposed. The stand-in servers of the tests answer HTTP through it.
/// </summary>
public sealed class LoopbackHttpListener : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<HttpListenerContext, Task> _handler;
    private readonly Task _loop;

    /// <summary>Starts listening (trying a few ports if one is taken meanwhile) and serving with <paramref name="handler"/>;
    /// on <paramref name="port"/> when given (a stand-in that comes back after a simulated restart).</summary>
    public LoopbackHttpListener(Func<HttpListenerContext, Task> handler, int? port = null)
    {
        _handler = handler;
        for (var attempt = 0; ; attempt++)
        {
            var chosen = port ?? FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{chosen}/");
            try
            {
                _listener.Start();
                Url = new Uri($"http://127.0.0.1:{chosen}");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }
        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>http://127.0.0.1:&lt;port&gt;</summary>
    public Uri Url { get; } = null!;

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                continue;
            }
            _ = Task.Run(() => _handler(context));
        }
    }

    /// <summary>Stops accepting, closes the listener and waits (up to 5 s) for the accept loop to end.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (HttpListenerException)
        {
            // .NET's managed listener re-binds each prefix's port while it removes it again in Close (after Stop); when
            // another listener has the port by then, that throws "Address already in use". Stop has released it already.
        }
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }
}
