using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using WandbLaunch.Tests.CloudStorage;

namespace WandbLaunch.Tests.Google;

/// <summary>
/// Google's OAuth token endpoint (<c>POST /token</c>, the key file's token_uri; the JWT-bearer grant checked by
/// <see cref="GoogleServiceAccount"/>, a cloud-platform scope required; the refresh-token grant of one user login), the metadata server
/// (<c>/computeMetadata/v1/...</c>, <c>Metadata-Flavor: Google</c> required), Vertex AI v1 customJobs (create, get,
/// list by label, cancel) and Artifact Registry v1 dockerImages.list, for one project. API requests need an access
/// token issued here (401 UNAUTHENTICATED otherwise, expired ones too) and the server's project (403). Create bodies
/// are checked against the vendored schema (<see cref="VertexSchema"/>, 400 INVALID_ARGUMENT). Jobs start
/// JOB_STATE_PENDING and move only when a test says (<see cref="SetState"/>); a cancel makes a running job
/// CANCELLING, and CANCELLED at the next read when <see cref="CompleteCancels"/>. Faults: <see cref="Throttle"/>
/// (429 RESOURCE_EXHAUSTED) and <see cref="FailNextCreate"/>.
/// </summary>
public sealed class GoogleServer : LoopbackServer
{
    public const string CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform";

    private readonly ConcurrentDictionary<string, JsonObject> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, List<(string Image, string[] Tags)>> _repositories = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(int Status, string Code, string Message)> _createFaults = new();
    private long _nextId = 1234567890123456789;
    private int _throttle;

    public GoogleServer(string project = "ml-project", string account = "launch-agent")
    {
        Account = new GoogleServiceAccount(project, account);
    }

    public GoogleServiceAccount Account { get; }

    public string Project => Account.Project;

    public Uri TokenUri => new(Url, "/token");

    /// <summary>The service account key file (token_uri pointing here); with another key, one Google would refuse.</summary>
    public string ServiceAccountKeyJson(RSA? otherKey = null) => Account.KeyJson(TokenUri, otherKey);

    public const string UserClientId = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com";

    /// <summary>The refresh token of the one user whose login (gcloud auth application-default login) the server knows.</summary>
    public string UserRefreshToken { get; set; } = "1//loopback-refresh-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private readonly string _userClientSecret = "d-FL95Q19q7MQmFpd7hHD0Ty";

    /// <summary>An authorized_user credentials file as gcloud writes it, with token_uri pointing here.</summary>
    public string AuthorizedUserJson() => new JsonObject
    {
        ["account"] = "",
        ["client_id"] = UserClientId,
        ["client_secret"] = _userClientSecret,
        ["refresh_token"] = UserRefreshToken,
        ["token_uri"] = TokenUri.ToString(),
        ["type"] = "authorized_user",
        ["universe_domain"] = "googleapis.com",
    }.ToJsonString();

    private static Dictionary<string, string> Form(byte[] body) =>
        System.Text.Encoding.UTF8.GetString(body).Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
            .ToDictionary(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "");

    /// <summary>The refresh-token grant of Google's token endpoint for the one user: client id and secret and the refresh token must match.</summary>
    private Reply Refresh(Dictionary<string, string> form)
    {
        if (form.GetValueOrDefault("client_id") != UserClientId || form.GetValueOrDefault("client_secret") != _userClientSecret)
        {
            Rejections.Enqueue("token: invalid_client");
            return Json(401, new JsonObject { ["error"] = "invalid_client", ["error_description"] = "The OAuth client was not found." });
        }
        if (form.GetValueOrDefault("refresh_token") != UserRefreshToken)
        {
            Rejections.Enqueue("token: invalid_grant (refresh token)");
            return Json(400, new JsonObject { ["error"] = "invalid_grant", ["error_description"] = "Token has been expired or revoked." });
        }
        return Json(200, new JsonObject
        {
            ["access_token"] = Account.Issue(), ["expires_in"] = (int)Account.TokenLifetime.TotalSeconds - 1, ["scope"] = CloudPlatformScope, ["token_type"] = "Bearer",
        });
    }

    /// <summary>What the server refused and why (token endpoint and bearer checks).</summary>
    public ConcurrentQueue<string> Rejections { get; } = new();

    /// <summary>Create bodies the server accepted, in order.</summary>
    public ConcurrentQueue<JsonObject> CreatedBodies { get; } = new();

    /// <summary>When true (the default) a cancelled job is CANCELLED at the first read after CANCELLING was shown.</summary>
    public bool CompleteCancels { get; set; } = true;

    /// <summary>The next <paramref name="count"/> API requests answer 429 RESOURCE_EXHAUSTED.</summary>
    public void Throttle(int count) => Interlocked.Exchange(ref _throttle, count);

    public void FailNextCreate(int status, string code, string message) => _createFaults.Enqueue((status, code, message));

    public IReadOnlyList<string> JobNames => _jobs.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();

    public JsonObject? Job(string name) => _jobs.TryGetValue(name, out var job) ? (JsonObject)job.DeepClone() : null;

    public string? StateOf(string name) => _jobs.TryGetValue(name, out var job) ? (string?)job["state"] : null;

    /// <summary>Moves a job to <paramref name="state"/> (a JobState name); FAILED and CANCELLED take an error message.</summary>
    public void SetState(string name, string state, string? errorMessage = null)
    {
        if (!VertexSchema.Enum("JobState").Contains(state)) throw new ArgumentException($"not a JobState: {state}");
        var job = _jobs[name];
        lock (job)
        {
            job["state"] = state;
            job["updateTime"] = Now();
            if (state == "JOB_STATE_RUNNING") job["startTime"] ??= Now();
            if (state is "JOB_STATE_SUCCEEDED" or "JOB_STATE_FAILED" or "JOB_STATE_CANCELLED") job["endTime"] = Now();
            if (errorMessage is not null) job["error"] = new JsonObject { ["code"] = state == "JOB_STATE_CANCELLED" ? 1 : 3, ["message"] = errorMessage };
        }
    }

    public void AddRepository(string location, string repository) => _repositories[$"projects/{Project}/locations/{location}/repositories/{repository}"] = [];

    public void AddImage(string location, string repository, string image, params string[] tags)
    {
        var list = _repositories[$"projects/{Project}/locations/{location}/repositories/{repository}"];
        lock (list) list.Add((image, tags));
    }

    /// <summary>GetCustomJob requests per job name.</summary>
    public int Reads(string name) => Requests.Count(r => r.Method == "GET" && r.Path == "/v1/" + name);

    private static string Now() => DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private sealed class GoogleError(int status, string code, string message) : Exception(message)
    {
        public int Status { get; } = status;

        public string Code { get; } = code;
    }

    private static Reply Json(int status, JsonNode body) => Reply.Text(status, "application/json; charset=UTF-8", body.ToJsonString());

    private static Reply Error(int status, string code, string message) =>
        Json(status, new JsonObject { ["error"] = new JsonObject { ["code"] = status, ["message"] = message, ["status"] = code } });

    protected override Task<Reply> HandleAsync(Incoming request)
    {
        try
        {
            return Task.FromResult(Handle(request));
        }
        catch (GoogleError e)
        {
            return Task.FromResult(Error(e.Status, e.Code, e.Message));
        }
    }

    private Reply Handle(Incoming request)
    {
        var path = request.RawPath;
        if (path == "/token" && request.Method == "POST" && Form(request.Body).GetValueOrDefault("grant_type") == "refresh_token") return Refresh(Form(request.Body));
        if (path == "/token" && request.Method == "POST")
        {
            var answer = Account.Token(request.Body, TokenUri, scopes => scopes.Contains(CloudPlatformScope), "The JWT does not grant the cloud-platform scope.");
            if (answer.Refusal is not null) Rejections.Enqueue(answer.Refusal);
            return Json(answer.Status, answer.Body);
        }
        if (path.StartsWith("/computeMetadata/v1/", StringComparison.Ordinal)) return Metadata(request);
        Authorize(request);
        if (Interlocked.Decrement(ref _throttle) >= 0) throw new GoogleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Resource management (CRUD) requests' and limit 'Resource management (CRUD) requests per minute per region'.");
        Interlocked.Exchange(ref _throttle, Math.Max(0, Volatile.Read(ref _throttle)));
        var parts = path.TrimStart('/').Split('/');
        // v1/projects/<p>/locations/<l>/...
        if (parts.Length < 6 || parts[0] != "v1" || parts[1] != "projects" || parts[3] != "locations") throw new GoogleError(404, "NOT_FOUND", $"The requested URL {path} was not found on this server.");
        var project = Uri.UnescapeDataString(parts[2]);
        var location = Uri.UnescapeDataString(parts[4]);
        var collection = parts[5];
        if (project != Project)
        {
            throw new GoogleError(403, "PERMISSION_DENIED",
                $"Permission denied on resource project {project} (or it may not exist).");
        }
        var parent = $"projects/{project}/locations/{location}";
        if (collection == "customJobs" && parts.Length == 6)
        {
            return request.Method switch
            {
                "POST" => Create(request, parent),
                "GET" => List(request, parent),
                _ => throw new GoogleError(405, "INVALID_ARGUMENT", "Method not allowed"),
            };
        }
        if (collection.StartsWith("customJobs", StringComparison.Ordinal) && parts.Length == 7)
        {
            var id = parts[6];
            var cancel = id.EndsWith(":cancel", StringComparison.Ordinal);
            if (cancel) id = id[..^":cancel".Length];
            var name = $"{parent}/customJobs/{id}";
            if (!_jobs.TryGetValue(name, out var job)) throw new GoogleError(404, "NOT_FOUND", $"The CustomJob does not exist: {name}");
            if (cancel && request.Method == "POST") return Cancel(job, name);
            if (request.Method == "GET") return Read(job);
        }
        if (collection == "repositories" && parts.Length == 8 && parts[7] == "dockerImages" && request.Method == "GET")
        {
            var repository = $"{parent}/repositories/{Uri.UnescapeDataString(parts[6])}";
            if (!_repositories.TryGetValue(repository, out var images)) throw new GoogleError(404, "NOT_FOUND", $"Requested entity was not found.");
            JsonArray list;
            lock (images)
            {
                list = new JsonArray(images.Select(i => (JsonNode?)new JsonObject
                {
                    ["name"] = $"{repository}/dockerImages/{i.Image}@sha256:{Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(i.Image + string.Join(',', i.Tags))))}",
                    ["uri"] = $"{location}-docker.pkg.dev/{project}/{parts[6]}/{i.Image}@sha256:0",
                    ["tags"] = new JsonArray(i.Tags.Select(t => (JsonNode?)t).ToArray()),
                }).ToArray());
            }
            return Json(200, list.Count == 0 ? new JsonObject() : new JsonObject { ["dockerImages"] = list });
        }
        throw new GoogleError(404, "NOT_FOUND", $"The requested URL {path} was not found on this server.");
    }

    private void Authorize(Incoming request)
    {
        var authorization = request.Header("Authorization");
        var token = authorization is not null && authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization[7..] : null;
        var problem = token is null ? "no bearer token" : Account.AccessTokenProblem(token);
        if (problem is null) return;
        Rejections.Enqueue(problem);
        throw new GoogleError(401, "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.");
    }

    private Reply Metadata(Incoming request)
    {
        if (request.Header("Metadata-Flavor") != "Google") return Reply.Text(403, "text/html", "Missing Metadata-Flavor:Google header.");
        return request.RawPath switch
        {
            "/computeMetadata/v1/instance/service-accounts/default/token" =>
                Json(200, new JsonObject { ["access_token"] = Account.Issue(), ["expires_in"] = (int)Account.TokenLifetime.TotalSeconds - 1, ["token_type"] = "Bearer" }),
            "/computeMetadata/v1/project/project-id" => Reply.Text(200, "application/text", Project),
            "/computeMetadata/v1/instance/service-accounts/default/email" => Reply.Text(200, "application/text", Account.ClientEmail),
            _ => Reply.Text(404, "text/html", "Not Found"),
        };
    }

    private Reply Create(Incoming request, string parent)
    {
        if (_createFaults.TryDequeue(out var fault)) throw new GoogleError(fault.Status, fault.Code, fault.Message);
        JsonObject body;
        try
        {
            body = JsonNode.Parse(request.Body) as JsonObject ?? throw new GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Expected an object.");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new GoogleError(400, "INVALID_ARGUMENT", $"Invalid JSON payload received. {e.Message}");
        }
        if (VertexSchema.Problem(body) is { } problem) throw new GoogleError(400, "INVALID_ARGUMENT", problem);
        CreatedBodies.Enqueue((JsonObject)body.DeepClone());
        var id = Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var name = $"{parent}/customJobs/{id}";
        var job = (JsonObject)body.DeepClone();
        job["name"] = name;
        job["state"] = "JOB_STATE_PENDING";
        job["createTime"] = Now();
        job["updateTime"] = Now();
        _jobs[name] = job;
        return Json(200, job.DeepClone());
    }

    private Reply Read(JsonObject job)
    {
        lock (job)
        {
            var answer = (JsonObject)job.DeepClone();
            if ((string?)job["state"] == "JOB_STATE_CANCELLING" && CompleteCancels)
            {
                job["state"] = "JOB_STATE_CANCELLED";
                job["endTime"] = Now();
                job["error"] = new JsonObject { ["code"] = 1, ["message"] = "CANCELED" };
            }
            return Json(200, answer);
        }
    }

    private Reply List(Incoming request, string parent)
    {
        var filter = request.QueryValue("filter");
        var matches = _jobs.Where(p => p.Key.StartsWith(parent + "/", StringComparison.Ordinal)).Select(p => p.Value);
        if (filter is not null)
        {
            // labels.<key>="<value>" (the only filter form the tests use).
            var match = System.Text.RegularExpressions.Regex.Match(filter, "^labels\\.([a-z0-9_-]+)\\s*=\\s*\"([^\"]*)\"$");
            if (!match.Success) throw new GoogleError(400, "INVALID_ARGUMENT", $"Unsupported filter: {filter}");
            matches = matches.Where(j => (string?)j["labels"]?[match.Groups[1].Value] == match.Groups[2].Value);
        }
        var jobs = matches.Select(j => { lock (j) return (JsonNode?)j.DeepClone(); }).ToArray();
        return Json(200, jobs.Length == 0 ? new JsonObject() : new JsonObject { ["customJobs"] = new JsonArray(jobs) });
    }

    private static Reply Cancel(JsonObject job, string name)
    {
        lock (job)
        {
            var state = (string?)job["state"];
            if (state is "JOB_STATE_SUCCEEDED" or "JOB_STATE_FAILED" or "JOB_STATE_CANCELLED")
            {
                throw new GoogleError(400, "FAILED_PRECONDITION", $"Cannot cancel CustomJob \"{name}\" as it is in state {state}.");
            }
            job["state"] = "JOB_STATE_CANCELLING";
            job["updateTime"] = Now();
        }
        return Json(200, new JsonObject());
    }
}
