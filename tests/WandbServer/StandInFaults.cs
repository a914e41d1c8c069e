namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// Faults the stand-in injects into the next matching requests (an operation is matched by its operation name or
/// one of its root field names; null matches any request), and a down switch that resets every connection.
/// </summary>
public sealed class StandInFaults
{
    private readonly object _gate = new();
    private readonly List<Fault> _pending = [];
    private readonly Action<bool> _setDown;
    private volatile bool _down;

    internal StandInFaults(Action<bool> setDown) => _setDown = setDown;

    internal abstract record Fault(string? Operation)
    {
        public int Remaining { get; set; } = 1;
    }

    internal sealed record Failure(int Status, string? Body, string? Operation, int? RetryAfterSeconds = null) : Fault(Operation);

    internal sealed record Hang(TimeSpan Duration, string? Operation) : Fault(Operation);

    internal sealed record Malformed(string? Operation) : Fault(Operation);

    internal sealed record GraphQLError(string Message, string? Operation) : Fault(Operation);

    internal sealed record MissingFields(string? Operation) : Fault(Operation);

    /// <summary>The next <paramref name="times"/> matching requests are answered with <paramref name="status"/> and
    /// <paramref name="body"/> (default: W&B's error shape with the status's reason), with a <c>Retry-After</c> header
    /// of <paramref name="retryAfterSeconds"/> when given (as W&B's rate limiter sends with 429).</summary>
    public void FailNext(int status, int times = 1, string? operation = null, string? body = null, int? retryAfterSeconds = null) =>
        Add(new Failure(status, body, operation, retryAfterSeconds) { Remaining = times });

    /// <summary>The next matching request is held for <paramref name="duration"/> before it is served.</summary>
    public void HangNext(TimeSpan duration, string? operation = null) => Add(new Hang(duration, operation));

    /// <summary>The next matching request gets 200 with a truncated JSON body.</summary>
    public void MalformedNext(string? operation = null) => Add(new Malformed(operation));

    /// <summary>The next matching request gets 200 in W&amp;B's error shape: its root field null, and <c>errors</c> with
    /// <paramref name="message"/> and the field's path (as a resolver's error, e.g. a permission check, is answered).</summary>
    public void GraphQLErrorNext(string message, string? operation = null) => Add(new GraphQLError(message, operation));

    /// <summary>The next matching request gets 200 with its root field an empty object: every field the client asked for is missing.</summary>
    public void MissingFieldsNext(string? operation = null) => Add(new MissingFields(operation));

    /// <summary>Down: the server stops listening, so connections are refused (a server restart); false brings it
    /// back on the same port with its state intact.</summary>
    public void Down(bool down)
    {
        lock (_gate)
        {
            if (_down == down) return;
            _down = down;
            _setDown(down);
        }
    }

    public bool IsDown => _down;

    /// <summary>Forgets every pending fault and brings the server back up.</summary>
    public void Clear()
    {
        lock (_gate) _pending.Clear();
        Down(false);
    }

    private void Add(Fault fault)
    {
        lock (_gate) _pending.Add(fault);
    }

    internal Fault? Take(string? operationName, IReadOnlyList<string> fields)
    {
        lock (_gate)
        {
            var fault = _pending.FirstOrDefault(f => f.Operation is null || f.Operation == operationName || fields.Contains(f.Operation));
            if (fault is null) return null;
            if (--fault.Remaining <= 0) _pending.Remove(fault);
            return fault;
        }
    }
}
