using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GraphQL;
using GraphQL.SystemTextJson;
using GraphQL.Types;
using GraphQLParser.AST;
using WandbLaunch.TestSupport;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// A W&B server stand-in on 127.0.0.1: GraphQL at POST /graphql (every request parsed and validated against
/// wandb-schema.graphql), Basic auth with API keys, upload URLs for run files at PUT /files/&lt;token&gt;.
/// Tests create accounts, drive the clock, inject faults and look at its state through this class.
/// </summary>
public sealed partial class WandbStandIn : IDisposable
{
    private LoopbackHttpListener? _http;
    private readonly LoopbackHttpListener _fileHost;
    private readonly ConcurrentQueue<StandInFileRequest> _fileRequests = new();
    private readonly StandInState _state;
    private readonly ISchema _schema;
    private readonly DocumentExecuter _executer = new();
    private readonly GraphQLSerializer _serializer = new();
    private readonly ConcurrentQueue<GraphQLCall> _calls = new();
    private readonly CancellationTokenSource _disposed = new();
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private long _clockOffsetTicks;
    private long _leaseTimeoutTicks = TimeSpan.FromSeconds(60).Ticks;

    public WandbStandIn()
    {
        _state = new StandInState(() => Now, () => LeaseTimeout);
        _http = new LoopbackHttpListener(ServeAsync);
        Url = _http.Url;
        Faults = new StandInFaults(SetDown);
        _fileHost = new LoopbackHttpListener(ServeFileHostAsync);
        FileHostUrl = _fileHost.Url;
        _schema = StandInSchema.Build(_state, token => new Uri(Url, $"/files/{token}").ToString(), path => new Uri(FileHostUrl, "/" + path).ToString());
    }

    /// <summary>
    /// The host of artifact files' signed URLs (http://127.0.0.1:&lt;another port&gt;), as W&B's are a bucket's:
    /// PUT /upload/&lt;token&gt; and GET /download/&lt;token&gt;, no API key needed or wanted.
    /// </summary>
    public Uri FileHostUrl { get; }

    /// <summary>http://127.0.0.1:&lt;port&gt;; GraphQL at POST /graphql.</summary>
    public Uri Url { get; }

    public StandInFaults Faults { get; }

    private void SetDown(bool down)
    {
        if (down)
        {
            Interlocked.Exchange(ref _http, null)?.Dispose();
        }
        else
        {
            _http = new LoopbackHttpListener(ServeAsync, Url.Port);
        }
    }

    /// <summary>How long a popped (LEASED) item may stay un-acked before the server makes it PENDING again
    /// (the W&B agent's notes put W&B's at about a minute; 60 s unless set).</summary>
    public TimeSpan LeaseTimeout
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _leaseTimeoutTicks));
        set => Interlocked.Exchange(ref _leaseTimeoutTicks, value.Ticks);
    }

    /// <summary>Server time: real time plus what <see cref="AdvanceClock"/> added.</summary>
    public DateTimeOffset Now => DateTimeOffset.UtcNow + TimeSpan.FromTicks(Interlocked.Read(ref _clockOffsetTicks));

    public void AdvanceClock(TimeSpan by) => Interlocked.Add(ref _clockOffsetTicks, by.Ticks);

    // ---- accounts ----

    /// <summary>Adds a user whose personal entity is <paramref name="entity"/> (default: the username); returns its 40-hex API key.</summary>
    public string AddUser(string username, string? entity = null) => _state.AddAccount(username, entity ?? username, serviceAccount: false, team: null);

    public void AddTeam(string team, params string[] memberUsernames) => _state.AddTeam(team, memberUsernames);

    /// <summary>A team's service account: its key acts on the team entity. Returns the API key.</summary>
    public string AddServiceAccount(string team)
    {
        if (!_state.TeamExists(team)) throw new InvalidOperationException($"no team {team}");
        return _state.AddAccount($"{team}-service-{StandInIds.RandomName()}", team, serviceAccount: true, team);
    }

    // ---- calls ----

    public IReadOnlyList<GraphQLCall> Calls => _calls.ToList();

    public void ClearCalls() => _calls.Clear();

    // ---- state for assertions and for playing other clients ----

    public StandInQueue? Queue(string entity, string name) => _state.QueueSnapshot(entity, name);

    public IReadOnlyList<StandInItem> Items(string entity, string queue) => _state.ItemSnapshots(entity, queue);

    public StandInRun? Run(string entity, string project, string runName) => _state.RunSnapshot(entity, project, runName);

    /// <summary>What a job's wandb.init does: the run exists with <paramref name="state"/>.</summary>
    public void InitRun(string entity, string project, string runName, string state = "running") => _state.InitRun(entity, project, runName, state);

    /// <summary>Sets an existing run's state and/or its stopped flag (as the W&B UI's stop does).</summary>
    public void SetRunState(string entity, string project, string runName, string? state = null, bool? stopped = null) =>
        _state.SetRunState(entity, project, runName, state, stopped);

    public IReadOnlyList<StandInAgent> Agents => _state.AgentSnapshots();

    /// <summary>Sets an agent's stopPolling, as the Launch App's "stop agent" does.</summary>
    public void StopPolling(string agentId) => _state.StopPolling(agentId);

    public byte[]? RunFile(string entity, string project, string run, string path) => _state.RunFile(entity, project, run, path);

    public StandInSweep? Sweep(string entity, string project, string name) => _state.SweepSnapshot(entity, project, name);

    // ---- artifacts

    /// <summary>
    /// Logs a committed artifact version directly, as another client would have (a job made by the W&B SDK): files
    /// by path, <c>latest</c> and <paramref name="aliases"/>. A version with the same contents gets the aliases instead.
    /// </summary>
    public StandInArtifact SeedArtifact(string entity, string project, string name, string type, IReadOnlyDictionary<string, byte[]> files,
        IEnumerable<string>? aliases = null, string? metadata = null, string? description = null)
    {
        var artifact = _state.SeedArtifact(entity, project, name, type, files, (aliases ?? []).ToList(), metadata, description);
        return _state.ArtifactSnapshot(entity, project, name, $"v{artifact.VersionIndex}")!;
    }

    /// <summary>The committed version an alias or version names, or null.</summary>
    public StandInArtifact? Artifact(string entity, string project, string name, string alias = "latest") => _state.ArtifactSnapshot(entity, project, name, alias);

    /// <summary>A collection's committed versions, oldest first.</summary>
    public IReadOnlyList<StandInArtifact> ArtifactVersions(string entity, string project, string name) => _state.ArtifactSnapshots(entity, project, name);

    /// <summary>Replaces what the file host serves for one file of a version (its manifest keeps the old digest and size).</summary>
    public void CorruptArtifactFile(string entity, string project, string name, string alias, string path, byte[] content) =>
        _state.CorruptArtifactFile(entity, project, name, alias, path, content);

    public bool RunExists(string entity, string project, string name) => _state.RunExists(entity, project, name);

    /// <summary>Every request the file host received, with its headers.</summary>
    public IReadOnlyList<StandInFileRequest> FileRequests => _fileRequests.ToList();

    public void SetSweepState(string entity, string project, string name, string state) => _state.SetSweep(entity, project, name, state);

    // ---- HTTP ----

    private async Task ServeAsync(HttpListenerContext context)
    {
        try
        {
            var body = await ReadAsync(context.Request).ConfigureAwait(false);
            var path = (context.Request.RawUrl ?? "/").Split('?')[0];
            Answer answer;
            if (context.Request.HttpMethod == "PUT" && path.StartsWith("/files/", StringComparison.Ordinal))
                answer = _state.StoreUpload(path["/files/".Length..], body) ? new Answer(200, "") : new Answer(404, "");
            else if (context.Request.HttpMethod == "POST" && path == "/graphql")
                answer = await GraphQLAsync(context.Request, body).ConfigureAwait(false);
            else
                answer = new Answer(404, ErrorBody("not found"));
            if (answer.Abort)
            {
                context.Response.Abort();
                return;
            }
            var bytes = Encoding.UTF8.GetBytes(answer.Body);
            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = "application/json";
            if (answer.RetryAfterSeconds is { } retryAfter) context.Response.AddHeader("Retry-After", retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture));
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes, _disposed.Token).ConfigureAwait(false);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }
    }

    private async Task ServeFileHostAsync(HttpListenerContext context)
    {
        try
        {
            var request = context.Request;
            var body = await ReadAsync(request).ConfigureAwait(false);
            var path = (request.RawUrl ?? "/").Split('?')[0];
            var status = 404;
            byte[] answer = [];
            if (request.HttpMethod == "PUT" && path.StartsWith("/upload/", StringComparison.Ordinal))
            {
                status = _state.StoreArtifactUpload(path["/upload/".Length..], body, request.Headers["Content-MD5"]);
                if (status == 400) answer = Encoding.UTF8.GetBytes("<?xml version='1.0' encoding='UTF-8'?><Error><Code>BadDigest</Code><Message>The MD5 you specified did not match what we received.</Message></Error>");
            }
            else if (request.HttpMethod == "GET" && path.StartsWith("/download/", StringComparison.Ordinal) && _state.Download(path["/download/".Length..]) is { } content)
            {
                (status, answer) = (200, content);
            }
            var headers = request.Headers.AllKeys.OfType<string>().ToDictionary(k => k, k => request.Headers[k] ?? "", StringComparer.OrdinalIgnoreCase);
            _fileRequests.Enqueue(new StandInFileRequest(request.HttpMethod, path, headers, status));
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength64 = answer.Length;
            await context.Response.OutputStream.WriteAsync(answer, _disposed.Token).ConfigureAwait(false);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }
    }

    private sealed record Answer(int Status, string Body, bool Abort = false)
    {
        public int? RetryAfterSeconds { get; init; }
    }

    private static async Task<byte[]> ReadAsync(HttpListenerRequest request)
    {
        using var buffer = new MemoryStream();
        await request.InputStream.CopyToAsync(buffer).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private async Task<Answer> GraphQLAsync(HttpListenerRequest request, byte[] body)
    {
        string? query = null, operationName = null;
        JsonObject? variables = null;
        string? parseError = null;
        try
        {
            var envelope = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("the body is not a JSON object");
            query = envelope["query"]?.GetValue<string>();
            operationName = envelope["operationName"]?.GetValue<string>();
            variables = envelope["variables"] as JsonObject;
            if (envelope["variables"] is { } v and not JsonObject) throw new JsonException("variables must be an object");
            if (query is null) throw new JsonException("must provide query string");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            parseError = e.Message;
        }
        var requestedOperation = operationName;
        var (documentName, fields) = Describe(query, requestedOperation);
        operationName ??= documentName;
        var variablesJson = Redact(variables?.ToJsonString(Relaxed) ?? "{}");

        var fault = Faults.Take(operationName, fields);
        switch (fault)
        {
            case StandInFaults.Hang hang:
                try
                {
                    await Task.Delay(hang.Duration, _disposed.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return new Answer(0, "", Abort: true);
                }
                break;
            case StandInFaults.Failure failure:
                Record(operationName, fields, variablesJson, failure.Status, null);
                return new Answer(failure.Status, failure.Body ?? ErrorBody(((HttpStatusCode)failure.Status).ToString())) { RetryAfterSeconds = failure.RetryAfterSeconds };
            case StandInFaults.Malformed:
                Record(operationName, fields, variablesJson, 200, null);
                return new Answer(200, "{\"data\": {\"" + (fields.FirstOrDefault() ?? "data") + "\": {");
            case StandInFaults.GraphQLError error:
            {
                Record(operationName, fields, variablesJson, 200, null);
                var field = fields.FirstOrDefault() ?? "data";
                return new Answer(200, new JsonObject
                {
                    ["data"] = new JsonObject { [field] = null },
                    ["errors"] = new JsonArray(new JsonObject { ["message"] = error.Message, ["path"] = new JsonArray(field) }),
                }.ToJsonString(Relaxed));
            }
            case StandInFaults.MissingFields:
                Record(operationName, fields, variablesJson, 200, null);
                return new Answer(200, new JsonObject { ["data"] = new JsonObject { [fields.FirstOrDefault() ?? "data"] = new JsonObject() } }.ToJsonString(Relaxed));
        }

        var caller = Authenticate(request.Headers["Authorization"]);
        if (caller is null)
        {
            Record(operationName, fields, variablesJson, 401, null);
            return new Answer(401, ErrorBody("user is not logged in"));
        }
        if (parseError is not null)
        {
            Record(operationName, fields, variablesJson, 400, caller.Username);
            return new Answer(400, ErrorBody(parseError));
        }

        var result = await _executer.ExecuteAsync(options =>
        {
            options.Schema = _schema;
            options.Query = query!;
            options.OperationName = requestedOperation;
            options.Variables = variables is null ? Inputs.Empty : _serializer.Deserialize<Inputs>(variables.ToJsonString());
            options.UserContext = new Dictionary<string, object?> { [StandInSchema.CallerKey] = caller };
            options.CancellationToken = _disposed.Token;
            options.ThrowOnUnhandledException = false;
        }).ConfigureAwait(false);

        var (status, json) = Render(result);
        Record(operationName, fields, variablesJson, status, caller.Username);
        return new Answer(status, json);
    }

    /// <summary>The answer in W&B's shape: {"data": ..., "errors": [{message, locations, path}]}. A request that
    /// does not parse or validate against the schema is refused with 400 and no data; an error raised by a
    /// resolver keeps its field's data null and answers with the error's status (403/404/409/400) or 200.</summary>
    private (int Status, string Json) Render(ExecutionResult result)
    {
        var errors = new JsonArray();
        var status = 200;
        foreach (var error in result.Errors ?? [])
        {
            var entry = new JsonObject { ["message"] = Redact(QuoteNames(error.Message)) };
            if (error.Locations is { Count: > 0 } locations)
                entry["locations"] = new JsonArray(locations.Select(l => (JsonNode)new JsonObject { ["line"] = l.Line, ["column"] = l.Column }).ToArray());
            if (error.Path is { } path)
                entry["path"] = new JsonArray(path.Select(p => p is int i ? JsonValue.Create(i) : (JsonNode)JsonValue.Create(p?.ToString())!).ToArray());
            errors.Add(entry);
            var errorStatus = error switch
            {
                StandInError s => s.Status,
                GraphQL.Execution.DocumentError => 400,
                _ when !result.Executed => 400,
                _ => 200,
            };
            status = Math.Max(status, errorStatus);
        }
        var rendered = new JsonObject();
        if (result.Executed)
        {
            var full = JsonNode.Parse(_serializer.Serialize(result)) as JsonObject;
            rendered["data"] = full?["data"]?.DeepClone();
        }
        if (errors.Count > 0) rendered["errors"] = errors;
        return (status, rendered.ToJsonString(Relaxed));
    }

    [GeneratedRegex("'([_A-Za-z$][_0-9A-Za-z.\\[\\]!$]*)'")]
    private static partial Regex QuotedName();

    /// <summary>GraphQL.NET quotes names with ' where W&B's server (and the SDK's checks of its messages) use ".</summary>
    private static string QuoteNames(string message) => QuotedName().Replace(message, "\"$1\"");

    /// <summary>The name and root fields of the operation a request runs (for the call record and fault matching).</summary>
    private static (string? Name, IReadOnlyList<string> Fields) Describe(string? query, string? requested)
    {
        if (query is null) return (null, []);
        try
        {
            var document = GraphQLParser.Parser.Parse(query);
            var operation = document.Definitions.OfType<GraphQLOperationDefinition>()
                .FirstOrDefault(o => requested is null || (o.Name is not null && (string)o.Name.Value == requested));
            if (operation is null) return (null, []);
            var fields = operation.SelectionSet.Selections.OfType<GraphQLField>().Select(f => (string)f.Name.Value).ToList();
            return (operation.Name is null ? null : (string)operation.Name.Value, fields);
        }
        catch (Exception)
        {
            return (null, []);
        }
    }

    private Account? Authenticate(string? header)
    {
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return null;
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
            var colon = decoded.IndexOf(':');
            return colon < 0 ? null : _state.Authenticate(decoded[(colon + 1)..]);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private void Record(string? operationName, IReadOnlyList<string> fields, string variables, int status, string? username) =>
        _calls.Enqueue(new GraphQLCall(operationName, fields, variables, status, username, Now));

    /// <summary>No API key the stand-in knows ever leaves it, even when a client sends one in a variable.</summary>
    private string Redact(string text)
    {
        foreach (var key in _state.ApiKeys())
        {
            if (text.Contains(key, StringComparison.Ordinal)) text = text.Replace(key, "<redacted>", StringComparison.Ordinal);
        }
        return text;
    }

    private static string ErrorBody(string message) =>
        new JsonObject { ["errors"] = new JsonArray(new JsonObject { ["message"] = message }) }.ToJsonString(Relaxed);

    public void Dispose()
    {
        _disposed.Cancel();
        Interlocked.Exchange(ref _http, null)?.Dispose();
        _fileHost.Dispose();
        _disposed.Dispose();
    }
}
