using System.Collections.Concurrent;
using System.Globalization;
using System.Security;
using System.Text;
using System.Text.Json.Nodes;
using WandbLaunch.Tests.CloudStorage;

namespace WandbLaunch.Tests.Aws;

/// <summary>
/// One loopback endpoint serving the AWS APIs the engine calls, routed by the service in the request's SigV4 scope
/// (as with <c>AWS_ENDPOINT_URL</c> pointing every service at one emulator): SageMaker and ECR and CloudWatch Logs (JSON 1.1,
/// <c>X-Amz-Target</c>), STS (query protocol, XML answers). Every request must be signed for this server's region
/// with a key it knows (<see cref="AddKey"/>); bodies are validated against botocore's models; errors have AWS's
/// shapes: JSON <c>{"__type": code, "message": ...}</c> with <c>x-amzn-ErrorType</c>, STS
/// <c>&lt;ErrorResponse&gt;&lt;Error&gt;&lt;Type/&gt;&lt;Code/&gt;&lt;Message/&gt;&lt;/Error&gt;</c>.
/// CloudWatch Logs holds the streams tests append to (<see cref="AppendLog"/>), paged with forward tokens as the real service.
/// Training jobs move only when a test says so (<see cref="SetStatus"/>), except Stopping → Stopped, which happens at
/// the <see cref="StopAfterDescribes"/>th DescribeTrainingJob after a stop.
/// </summary>
public sealed class AwsServer : LoopbackServer
{
    public const string Account = "123456789012";

    private static readonly Dictionary<string, ServiceModel> Models = new(StringComparer.Ordinal)
    {
        ["sagemaker"] = ServiceModel.Load("sagemaker"),
        ["ecr"] = ServiceModel.Load("ecr"),
        ["sts"] = ServiceModel.Load("sts"),
        ["logs"] = ServiceModel.Load("logs"),
    };

    private readonly Dictionary<string, SigV4Verifier> _verifiers;
    private readonly ConcurrentDictionary<string, TrainingJob> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HashSet<string>> _repositories = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Operation, int Status, string? Code, int? RetryAfter)> _faults = new();
    private readonly ConcurrentQueue<(string Service, string Operation, JsonObject Body)> _calls = new();

    public AwsServer(string region = "us-east-1", string partition = "aws")
    {
        Region = region;
        Partition = partition;
        _verifiers = Models.Keys.ToDictionary(s => s, s => new SigV4Verifier(region, s, requirePayloadHashHeader: false), StringComparer.Ordinal);
    }

    public string Region { get; }

    public string Partition { get; }

    /// <summary>The caller's ARN that GetCallerIdentity answers.</summary>
    public string CallerArn => $"arn:{Partition}:sts::{Account}:assumed-role/launch-agent/session";

    /// <summary>The ECR password GetAuthorizationToken hands out (a test may make it one a real registry accepts for user AWS).</summary>
    public string EcrPassword { get; init; } = "ecr-password-" + Guid.NewGuid().ToString("N");

    /// <summary>How many DescribeTrainingJob calls after a StopTrainingJob a Stopping job becomes Stopped.</summary>
    public int StopAfterDescribes { get; set; } = 1;

    public sealed class TrainingJob
    {
        public required string Name { get; init; }

        public required string Arn { get; init; }

        public required JsonObject Request { get; init; }

        public string Status { get; set; } = "InProgress";

        public string SecondaryStatus { get; set; } = "Starting";

        public string? FailureReason { get; set; }

        public int Describes { get; set; }

        public int DescribesSinceStop { get; set; }

        /// <summary>StopTrainingJob was called (a test's Stopping is left alone).</summary>
        public bool StopRequested { get; set; }
    }

    public void AddKey(string accessKeyId, string secretAccessKey, string? sessionToken = null)
    {
        foreach (var verifier in _verifiers.Values) verifier.AddKey(accessKeyId, secretAccessKey, sessionToken);
    }

    /// <summary>The key's session token is expired from now on.</summary>
    public void Expire(string accessKeyId)
    {
        foreach (var verifier in _verifiers.Values) verifier.Expire(accessKeyId);
    }

    public void Renew(string accessKeyId)
    {
        foreach (var verifier in _verifiers.Values) verifier.Renew(accessKeyId);
    }

    public IReadOnlyList<string> Rejections => _verifiers.Values.SelectMany(v => v.Rejections).ToList();

    /// <summary>The next <paramref name="count"/> calls of <paramref name="operation"/> answer ThrottlingException (400), with Retry-After when given.</summary>
    public void Throttle(string operation, int count, int? retryAfterSeconds = null)
    {
        for (var i = 0; i < count; i++) _faults.Enqueue((operation, 400, "ThrottlingException", retryAfterSeconds));
    }

    /// <summary>The next <paramref name="count"/> calls of <paramref name="operation"/> answer 500 InternalFailure.</summary>
    public void FailWith500(string operation, int count)
    {
        for (var i = 0; i < count; i++) _faults.Enqueue((operation, 500, "InternalFailure", null));
    }

    /// <summary>The next call of <paramref name="operation"/> is carried out, but answered 500 InternalFailure (a lost answer).</summary>
    public void LoseAnswer(string operation) => _lost.Enqueue(operation);

    private readonly ConcurrentQueue<string> _lost = new();

    public IReadOnlyList<(string Service, string Operation, JsonObject Body)> Calls => _calls.ToList();

    public int CallsOf(string operation) => _calls.Count(c => c.Operation == operation);

    public TrainingJob? Job(string name) => _jobs.TryGetValue(name, out var job) ? job : null;

    public IReadOnlyList<TrainingJob> Jobs => _jobs.Values.ToList();

    /// <summary>What SageMaker would report next for the job.</summary>
    public void SetStatus(string name, string status, string? failureReason = null, string? secondaryStatus = null)
    {
        var job = _jobs[name];
        lock (job)
        {
            job.Status = status;
            job.FailureReason = failureReason;
            job.SecondaryStatus = secondaryStatus ?? status switch
            {
                "InProgress" => "Training",
                "Completed" => "Completed",
                "Failed" => "Failed",
                "Stopping" => "Stopping",
                _ => status,
            };
        }
    }

    // ---- CloudWatch Logs

    public const string TrainingJobsGroup = "/aws/sagemaker/TrainingJobs";

    /// <summary>Every CloudWatch Logs call answers AccessDeniedException (the caller's policy lacks logs:*).</summary>
    public bool DenyLogs { get; set; }

    /// <summary>Events of one log stream, in the order they arrived; lock it to read or change.</summary>
    private readonly ConcurrentDictionary<string, List<(long Timestamp, long Ingested, string Message)>> _streams = new(StringComparer.Ordinal);

    /// <summary>The log group exists (SageMaker creates it with the account's first training job that logs anything).</summary>
    private volatile bool _logGroup;

    /// <summary>Creates the log group, which the first <see cref="AppendLog"/> does too.</summary>
    public void CreateLogGroup() => _logGroup = true;

    /// <summary>Appends events to the stream <paramref name="stream"/> of /aws/sagemaker/TrainingJobs (creating both), stamped now unless given.</summary>
    public void AppendLog(string stream, params string[] messages) => AppendLogAt(stream, null, messages);

    public void AppendLogAt(string stream, DateTimeOffset? at, params string[] messages)
    {
        _logGroup = true;
        var events = _streams.GetOrAdd(stream, _ => []);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        lock (events)
        {
            foreach (var message in messages) events.Add((at?.ToUnixTimeMilliseconds() ?? now, now, message));
        }
    }

    /// <summary>How many events GetLogEvents returns at most when the request sets no limit (the real service: 10,000 or 1 MB).</summary>
    public int LogEventsPageSize { get; set; } = 10_000;

    private void KnownGroup(JsonObject body)
    {
        if (body["logGroupName"] is not null && body["logGroupIdentifier"] is not null)
        {
            throw new AwsError(400, "InvalidParameterException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.");
        }
        var group = body["logGroupName"]?.GetValue<string>();
        if (group != TrainingJobsGroup || !_logGroup) throw new AwsError(400, "ResourceNotFoundException", "The specified log group does not exist.");
    }

    private JsonObject DescribeLogStreams(JsonObject body)
    {
        KnownGroup(body);
        var prefix = body["logStreamNamePrefix"]?.GetValue<string>() ?? "";
        var limit = body["limit"]?.GetValue<int>() ?? 50;
        var names = _streams.Keys.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        var start = body["nextToken"]?.GetValue<string>() is { } token ? DecodeToken(token, "d") : 0;
        var page = names.Skip(start).Take(limit).ToList();
        var streams = new JsonArray();
        foreach (var name in page)
        {
            var events = _streams[name];
            lock (events)
            {
                streams.Add(new JsonObject
                {
                    ["logStreamName"] = name,
                    ["arn"] = $"arn:{Partition}:logs:{Region}:{Account}:log-group:{TrainingJobsGroup}:log-stream:{name}",
                    ["creationTime"] = events.Count > 0 ? events[0].Ingested : 0,
                    ["firstEventTimestamp"] = events.Count > 0 ? events[0].Timestamp : 0,
                    ["lastEventTimestamp"] = events.Count > 0 ? events[^1].Timestamp : 0,
                });
            }
        }
        var answer = new JsonObject { ["logStreams"] = streams };
        if (start + page.Count < names.Count) answer["nextToken"] = EncodeToken("d", start + page.Count);
        return answer;
    }

    /// <summary>
    /// As the real service, forward only here: events from the head (from startTime when given) or after the token; the
    /// answer's nextForwardToken is the same token again when nothing new has arrived (f/ tokens name the position).
    /// </summary>
    private JsonObject GetLogEvents(JsonObject body)
    {
        KnownGroup(body);
        if (body["startFromHead"]?.GetValue<bool>() != true && body["nextToken"] is null)
        {
            throw new AwsError(400, "InvalidParameterException", "The stand-in reads forward only: send startFromHead true.");
        }
        var name = body["logStreamName"]!.GetValue<string>();
        if (!_streams.TryGetValue(name, out var events)) throw new AwsError(400, "ResourceNotFoundException", "The specified log stream does not exist.");
        var limit = body["limit"]?.GetValue<int>() ?? LogEventsPageSize;
        var startTime = body["startTime"]?.GetValue<long>();
        lock (events)
        {
            var position = body["nextToken"]?.GetValue<string>() is { } token ? DecodeToken(token, "f") : 0;
            if (body["nextToken"] is null && startTime is { } from)
            {
                while (position < events.Count && events[position].Timestamp < from) position++;
            }
            var page = events.Skip(position).Take(Math.Min(limit, LogEventsPageSize)).ToList();
            var answer = new JsonArray();
            foreach (var e in page) answer.Add(new JsonObject { ["timestamp"] = e.Timestamp, ["message"] = e.Message, ["ingestionTime"] = e.Ingested });
            return new JsonObject
            {
                ["events"] = answer,
                ["nextForwardToken"] = EncodeToken("f", position + page.Count),
                ["nextBackwardToken"] = EncodeToken("b", position),
            };
        }
    }

    private static string EncodeToken(string kind, int position) => $"{kind}/{position:D20}";

    private static int DecodeToken(string token, string kind) =>
        token.StartsWith(kind + "/", StringComparison.Ordinal) && int.TryParse(token.AsSpan(kind.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var position)
            ? position
            : throw new AwsError(400, "InvalidParameterException", "The specified nextToken is invalid.");

    public void AddImage(string repository, string tag) => _repositories.GetOrAdd(repository, _ => []).Add(tag);

    public void AddRepository(string repository) => _repositories.GetOrAdd(repository, _ => []);

    protected override Task<Reply> HandleAsync(Incoming request)
    {
        var requestId = Guid.NewGuid().ToString();
        var service = ScopeService(request);
        var query = service == "sts";
        try
        {
            if (request.Method != "POST" || request.RawPath != "/") throw new AwsError(404, "UnknownOperationException", "Unknown operation");
            if (service is null || !_verifiers.TryGetValue(service, out var verifier))
            {
                throw new AwsError(400, "MissingAuthenticationTokenException", "Missing Authentication Token");
            }
            if (verifier.Verify(request) is { } failure) throw AuthError(failure, query);
            var (operation, body) = query ? ReadQuery(request) : ReadJson(request, service);
            _calls.Enqueue((service, operation, body));
            if (service == "logs" && DenyLogs)
            {
                throw new AwsError(400, "AccessDeniedException",
                    $"User: {CallerArn} is not authorized to perform: logs:{operation} on resource: arn:{Partition}:logs:{Region}:{Account}:log-group:{TrainingJobsGroup}:log-stream: because no identity-based policy allows the logs:{operation} action");
            }
            if (_faults.TryPeek(out var fault) && fault.Operation == operation && _faults.TryDequeue(out fault))
            {
                throw fault.Status == 500
                    ? new AwsError(500, fault.Code!, "We encountered an internal error. Please try again.")
                    : new AwsError(400, fault.Code!, "Rate exceeded") { RetryAfter = fault.RetryAfter };
            }
            var model = Models[service];
            try
            {
                var errors = model.Validate(operation, body);
                if (errors.Count > 0) throw new AwsError(400, "ValidationException", ServiceModel.Summary(errors));
            }
            catch (ServiceModel.UnknownMemberError e)
            {
                throw new AwsError(400, "ValidationException", e.Message);
            }
            catch (ServiceModel.SerializationError e)
            {
                throw new AwsError(400, "SerializationException", e.Message);
            }
            var answer = (service, operation) switch
            {
                ("sagemaker", "CreateTrainingJob") => CreateTrainingJob(body),
                ("sagemaker", "DescribeTrainingJob") => DescribeTrainingJob(body),
                ("sagemaker", "StopTrainingJob") => StopTrainingJob(body),
                ("ecr", "GetAuthorizationToken") => GetAuthorizationToken(),
                ("ecr", "DescribeImages") => DescribeImages(body),
                ("sts", "GetCallerIdentity") => null,
                ("logs", "DescribeLogStreams") => DescribeLogStreams(body),
                ("logs", "GetLogEvents") => GetLogEvents(body),
                _ => throw new AwsError(400, "UnknownOperationException", $"Unknown operation {operation}"),
            };
            if (_lost.TryPeek(out var lost) && lost == operation && _lost.TryDequeue(out _))
            {
                throw new AwsError(500, "InternalFailure", "We encountered an internal error. Please try again.");
            }
            if (query)
            {
                var xml = $"<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>{CallerArn}</Arn>" +
                          $"<UserId>AROAEXAMPLE:session</UserId><Account>{Account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
                return Task.FromResult(Reply.Text(200, "text/xml", xml, new Dictionary<string, string> { ["x-amzn-RequestId"] = requestId }));
            }
            return Task.FromResult(Reply.Text(200, "application/x-amz-json-1.1", answer!.ToJsonString(), new Dictionary<string, string> { ["x-amzn-RequestId"] = requestId }));
        }
        catch (AwsError e)
        {
            var headers = new Dictionary<string, string> { ["x-amzn-RequestId"] = requestId };
            if (e.RetryAfter is { } after) headers["Retry-After"] = after.ToString(CultureInfo.InvariantCulture);
            if (query)
            {
                var xml = $"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{(e.Status >= 500 ? "Receiver" : "Sender")}</Type><Code>{e.Code}</Code>" +
                          $"<Message>{SecurityElement.Escape(e.Message)}</Message></Error><RequestId>{requestId}</RequestId></ErrorResponse>";
                return Task.FromResult(Reply.Text(e.Status, "text/xml", xml, headers));
            }
            headers["x-amzn-ErrorType"] = e.Code + ":";
            var json = new JsonObject { ["__type"] = e.Code, ["message"] = e.Message };
            return Task.FromResult(Reply.Text(e.Status, "application/x-amz-json-1.1", json.ToJsonString(), headers));
        }
    }

    private sealed class AwsError(int status, string code, string message) : Exception(message)
    {
        public int? RetryAfter { get; init; }

        public int Status { get; } = status;

        public string Code { get; } = code;
    }

    private static string? ScopeService(Incoming request)
    {
        var authorization = request.Header("Authorization");
        if (authorization is null) return null;
        var parts = authorization.Split("Credential=", 2);
        if (parts.Length < 2) return null;
        var scope = parts[1].Split(',')[0].Split('/');
        return scope.Length >= 5 ? scope[3] : null;
    }

    /// <summary>The error a signing failure gets, in the protocol's words (JSON: coral's, STS: its own).</summary>
    private static AwsError AuthError(SigV4Failure failure, bool query) => failure.Fault switch
    {
        SigV4Fault.Missing => new AwsError(query ? 403 : 400, query ? "MissingAuthenticationToken" : "MissingAuthenticationTokenException", "Missing Authentication Token"),
        SigV4Fault.UnknownKey or SigV4Fault.BadToken => new AwsError(query ? 403 : 400, query ? "InvalidClientTokenId" : "UnrecognizedClientException",
            "The security token included in the request is invalid."),
        SigV4Fault.ExpiredToken => new AwsError(query ? 403 : 400, query ? "ExpiredToken" : "ExpiredTokenException", "The security token included in the request is expired"),
        SigV4Fault.SignatureMismatch => new AwsError(query ? 403 : 400, query ? "SignatureDoesNotMatch" : "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."),
        SigV4Fault.Skewed => new AwsError(query ? 403 : 400, query ? "SignatureDoesNotMatch" : "InvalidSignatureException",
            $"Signature expired: {failure.Provided} is now earlier than {DateTime.UtcNow.AddMinutes(-5):yyyyMMdd'T'HHmmss'Z'} ({DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'} - 5 min.)"),
        SigV4Fault.WrongRegion => new AwsError(query ? 403 : 400, query ? "SignatureDoesNotMatch" : "InvalidSignatureException",
            $"Credential should be scoped to a valid region. "),
        _ => new AwsError(query ? 403 : 400, query ? "IncompleteSignature" : "IncompleteSignatureException", $"The request signature does not conform to AWS standards ({failure.Detail})."),
    };

    private (string Operation, JsonObject Body) ReadJson(Incoming request, string service)
    {
        var target = request.Header("X-Amz-Target");
        var prefix = Models[service].Metadata["targetPrefix"]!.GetValue<string>();
        if (target is null || !target.StartsWith(prefix + ".", StringComparison.Ordinal) || !Models[service].HasOperation(target[(prefix.Length + 1)..]))
        {
            throw new AwsError(400, "UnknownOperationException", "");
        }
        var contentType = request.Header("Content-Type");
        if (contentType is null || !contentType.StartsWith("application/x-amz-json-1.1", StringComparison.Ordinal))
        {
            throw new AwsError(400, "SerializationException", $"Content-Type {contentType} is not application/x-amz-json-1.1.");
        }
        try
        {
            return (target[(prefix.Length + 1)..], JsonNode.Parse(request.Body) as JsonObject ?? throw new AwsError(400, "SerializationException", "The body is not a JSON object."));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new AwsError(400, "SerializationException", e.Message);
        }
    }

    private static (string Operation, JsonObject Body) ReadQuery(Incoming request)
    {
        if (request.Header("Content-Type")?.StartsWith("application/x-www-form-urlencoded", StringComparison.Ordinal) != true)
        {
            throw new AwsError(400, "InvalidAction", "The query protocol takes a form-encoded body.");
        }
        var form = Encoding.UTF8.GetString(request.Body).Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "");
        if (!form.TryGetValue("Version", out var version) || version != "2011-06-15") throw new AwsError(400, "InvalidParameterValue", "Version must be 2011-06-15.");
        if (!form.TryGetValue("Action", out var action) || action != "GetCallerIdentity") throw new AwsError(400, "InvalidAction", $"Could not find operation {action} for version 2011-06-15");
        return (action, new JsonObject());
    }

    private static double Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    private JsonObject CreateTrainingJob(JsonObject body)
    {
        var name = body["TrainingJobName"]!.GetValue<string>();
        var arn = $"arn:{Partition}:sagemaker:{Region}:{Account}:training-job/{name.ToLowerInvariant()}";
        var job = new TrainingJob { Name = name, Arn = arn, Request = (JsonObject)body.DeepClone() };
        if (!_jobs.TryAdd(name, job))
        {
            throw new AwsError(400, "ResourceInUse", $"Training job names must be unique within an AWS account and region, and a training job with this name already exists ({_jobs[name].Arn})");
        }
        return new JsonObject { ["TrainingJobArn"] = arn };
    }

    private TrainingJob Known(JsonObject body) =>
        _jobs.TryGetValue(body["TrainingJobName"]!.GetValue<string>(), out var job) ? job : throw new AwsError(400, "ValidationException", "Requested resource not found.");

    private JsonObject DescribeTrainingJob(JsonObject body)
    {
        var job = Known(body);
        lock (job)
        {
            job.Describes++;
            if (job.Status == "Stopping" && job.StopRequested && ++job.DescribesSinceStop > StopAfterDescribes)
            {
                job.Status = "Stopped";
                job.SecondaryStatus = "Stopped";
            }
            var answer = new JsonObject
            {
                ["TrainingJobName"] = job.Name,
                ["TrainingJobArn"] = job.Arn,
                ["ModelArtifacts"] = new JsonObject { ["S3ModelArtifacts"] = $"{job.Request["OutputDataConfig"]?["S3OutputPath"]}/{job.Name}/output/model.tar.gz" },
                ["TrainingJobStatus"] = job.Status,
                ["SecondaryStatus"] = job.SecondaryStatus,
                ["AlgorithmSpecification"] = job.Request["AlgorithmSpecification"]?.DeepClone(),
                ["RoleArn"] = job.Request["RoleArn"]?.DeepClone(),
                ["ResourceConfig"] = job.Request["ResourceConfig"]?.DeepClone(),
                ["StoppingCondition"] = job.Request["StoppingCondition"]?.DeepClone(),
                ["CreationTime"] = Now,
            };
            if (job.Request["Environment"] is JsonObject environment) answer["Environment"] = environment.DeepClone();
            if (job.FailureReason is not null) answer["FailureReason"] = job.FailureReason;
            return answer;
        }
    }

    private JsonObject StopTrainingJob(JsonObject body)
    {
        var job = Known(body);
        lock (job)
        {
            if (job.Status != "InProgress")
            {
                throw new AwsError(400, "ValidationException", $"The request was rejected because the training job is in status {job.Status}.");
            }
            job.Status = "Stopping";
            job.SecondaryStatus = "Stopping";
            job.DescribesSinceStop = 0;
            job.StopRequested = true;
        }
        return new JsonObject();
    }

    private JsonObject GetAuthorizationToken() => new()
    {
        ["authorizationData"] = new JsonArray(new JsonObject
        {
            ["authorizationToken"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("AWS:" + EcrPassword)),
            ["expiresAt"] = Now + 12 * 3600,
            ["proxyEndpoint"] = $"https://{Account}.dkr.ecr.{Region}.amazonaws.com",
        }),
    };

    private JsonObject DescribeImages(JsonObject body)
    {
        var repository = body["repositoryName"]!.GetValue<string>();
        var registry = body["registryId"]?.GetValue<string>() ?? Account;
        if (!_repositories.TryGetValue(repository, out var tags) || registry != Account)
        {
            throw new AwsError(400, "RepositoryNotFoundException", $"The repository with name '{repository}' does not exist in the registry with id '{registry}'");
        }
        var details = new JsonArray();
        foreach (var id in body["imageIds"] as JsonArray ?? [])
        {
            var tag = id?["imageTag"]?.GetValue<string>();
            if (tag is null || !tags.Contains(tag))
            {
                throw new AwsError(400, "ImageNotFoundException",
                    $"The image with imageId {{imageDigest:'{id?["imageDigest"]?.GetValue<string>() ?? "null"}', imageTag:'{tag ?? "null"}'}} does not exist within the repository with name '{repository}' in the registry with id '{registry}'");
            }
            details.Add(new JsonObject
            {
                ["registryId"] = registry,
                ["repositoryName"] = repository,
                ["imageTags"] = new JsonArray(tag),
                ["imageDigest"] = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(repository + ":" + tag))),
                ["imagePushedAt"] = Now,
            });
        }
        return new JsonObject { ["imageDetails"] = details };
    }
}
