using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using k8s;
using k8s.Authentication;
using k8s.Autorest;
using k8s.Exceptions;
using k8s.KubeConfigModels;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Runners.Kubernetes;

/// <summary>
/// Access to one Kubernetes cluster, as kubectl finds it: the kubeconfig files listed in <c>KUBECONFIG</c>
/// (separated by ':' on Linux and macOS, ';' on Windows; merged, first occurrence wins) or <c>~/.kube/config</c>,
/// and a context (the <c>context</c> key of <c>resource_args.kubernetes</c>, else the current-context); or, in a
/// pod, its service account (<c>KUBERNETES_SERVICE_HOST</c> set and the token file present) when neither
/// <c>KUBECONFIG</c> nor a context is given. Every failure says what to fix.
/// </summary>
public sealed class KubeAccess : IDisposable
{
    /// <summary>Where Kubernetes mounts a pod's service account: token, ca.crt and namespace.</summary>
    internal const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    private KubeAccess(KubernetesClientConfiguration config, string source, string? context, string? user, string? contextNamespace)
    {
        Server = config.Host;
        Source = source;
        Context = context;
        User = user;
        ContextNamespace = contextNamespace;
        Client = new k8s.Kubernetes(config);
        // The client cancels every request that is not a watch after HttpClientTimeout (100 s by default), reading of
        // its response included: a pod's log followed with that client would end 100 s after it began.
        StreamClient = new k8s.Kubernetes(config) { HttpClientTimeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The API server URL.</summary>
    public string Server { get; }

    /// <summary>Where the access came from: "kubeconfig /path" or "the pod's service account".</summary>
    public string Source { get; }

    /// <summary>The kube context, or null in-cluster.</summary>
    public string? Context { get; }

    /// <summary>The kubeconfig user the context uses, or null in-cluster.</summary>
    public string? User { get; }

    /// <summary>The namespace the context (or the pod's service account) names, if any.</summary>
    public string? ContextNamespace { get; }

    public IKubernetes Client { get; }

    /// <summary>A client for responses that last as long as what they follow (a pod's log with follow): no request timeout.</summary>
    public IKubernetes StreamClient { get; }

    /// <summary>Where the access came from and which context, for log lines.</summary>
    public string Describe() => Context is null ? $"{Server} ({Source})" : $"{Server} (context {Context} from {Source})";

    /// <summary>The settings a connection would use, read from files only (nothing is contacted).</summary>
    internal sealed record Settings(KubernetesClientConfiguration Config, string Source, string? Context, string? User, string? Namespace);

    /// <summary>Reads the configuration and builds a client. Nothing is contacted until the client is used.</summary>
    public static KubeAccess Connect(string? context, Func<string, string?> environment) => Connect(context, environment, ServiceAccountDirectory);

    /// <summary>As <see cref="Connect(string?, Func{string, string?})"/>, with the service account mounted elsewhere (tests).</summary>
    internal static KubeAccess Connect(string? context, Func<string, string?> environment, string serviceAccountDirectory)
    {
        var settings = Resolve(context, environment, serviceAccountDirectory);
        return new KubeAccess(settings.Config, settings.Source, settings.Context, settings.User, settings.Namespace);
    }

    /// <summary>
    /// The namespace of the context that <see cref="Connect(string?, Func{string, string?})"/> would use, read from the kubeconfig without
    /// contacting anything; null when no cluster is configured at all (rendering then shows <c>default</c>).
    /// </summary>
    public static string? ContextNamespaceOrNull(string? context, Func<string, string?> environment)
    {
        try
        {
            return Resolve(context, environment).Namespace;
        }
        catch (KubeAccessException e) when (e.Fault == KubeFault.ConfigNotFound)
        {
            return null;
        }
    }

    internal static Settings Resolve(string? context, Func<string, string?> environment, string serviceAccountDirectory = ServiceAccountDirectory)
    {
        var listed = environment("KUBECONFIG");
        if (string.IsNullOrWhiteSpace(listed) && context is null && InClusterTokenExists(environment, serviceAccountDirectory))
        {
            return InCluster(environment, serviceAccountDirectory);
        }
        string[] files;
        if (!string.IsNullOrWhiteSpace(listed))
        {
            files = listed.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
        else
        {
            var home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            files = [Path.Combine(home, ".kube", "config")];
        }
        var existing = files.Where(File.Exists).ToArray();
        if (existing.Length == 0)
        {
            throw new KubeAccessException("KubeConfigNotFound", KubeFault.ConfigNotFound, LaunchErrorCategory.ObjectNotFound,
                (string.IsNullOrWhiteSpace(listed)
                    ? $"No Kubernetes cluster is configured: {files[0]} does not exist, KUBECONFIG is not set, and the agent does not run in a pod with a service account. "
                    : $"No Kubernetes cluster is configured: KUBECONFIG lists {string.Join(", ", files)}, and none of them exists. ") +
                "Set KUBECONFIG to your kubeconfig file (kubectl config view --raw > file), or run the agent in a pod with a service account.",
                files[0])
            {
                RecommendedAction = "Set KUBECONFIG to a kubeconfig file for the cluster.",
            };
        }

        // Each file is read alone, so that a broken one is named with the position of the problem.
        var loaded = existing.Select(Load).ToList();
        var merged = existing.Length == 1 ? loaded[0] : Merge(loaded, existing);
        var source = existing.Length == 1 ? $"kubeconfig {existing[0]}" : $"kubeconfig {string.Join(Path.PathSeparator, existing)}";
        var contexts = merged.Contexts?.Select(c => c.Name).Where(n => !string.IsNullOrEmpty(n)).ToList() ?? [];
        var chosen = context ?? merged.CurrentContext;
        if (string.IsNullOrEmpty(chosen))
        {
            throw new LaunchException("KubeContextNotFound", LaunchErrorCategory.ObjectNotFound,
                $"The {source} has no current-context. Choose one with 'kubectl config use-context <name>' or set resource_args.kubernetes.context; " +
                $"its contexts: {Show(contexts)}.", source);
        }
        var details = merged.Contexts?.FirstOrDefault(c => c.Name == chosen);
        if (details is null)
        {
            throw new LaunchException("KubeContextNotFound", LaunchErrorCategory.ObjectNotFound,
                (context is null
                    ? $"The current-context '{chosen}' of the {source} is not one of its contexts: {Show(contexts)}. Fix current-context ('kubectl config use-context <name>')"
                    : $"The kube context '{chosen}' (resource_args.kubernetes.context) is not in the {source}; its contexts: {Show(contexts)}. Fix the queue's context key") +
                " or point KUBECONFIG at the file that has it.",
                chosen);
        }
        KubernetesClientConfiguration built;
        try
        {
            built = KubernetesClientConfiguration.BuildConfigFromConfigObject(merged, chosen);
        }
        catch (Exception e) when (e is KubeConfigException or KubernetesClientException or ArgumentException or FormatException or IOException or NullReferenceException)
        {
            throw new LaunchException("KubeConfigInvalid", LaunchErrorCategory.InvalidData,
                $"The {source} cannot be used with context '{chosen}': {e.Message}. Fix the context's cluster and user entries (kubectl config view).", source, e);
        }
        var @namespace = string.IsNullOrEmpty(details.ContextDetails?.Namespace) ? null : details.ContextDetails.Namespace;
        return new Settings(built, source, chosen, details.ContextDetails?.User, @namespace);
    }

    private static string Show(IReadOnlyCollection<string> names) => names.Count == 0 ? "(none)" : string.Join(", ", names);

    private static bool InClusterTokenExists(Func<string, string?> environment, string directory) =>
        !string.IsNullOrEmpty(environment("KUBERNETES_SERVICE_HOST")) && File.Exists(Path.Combine(directory, "token"));

    /// <summary>
    /// The pod's service account, as the client's InClusterConfig reads it but from the agent's environment: the API
    /// server at https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT, trusted through ca.crt, with the token file
    /// read again as the kubelet rotates it, and the pod's namespace.
    /// </summary>
    private static Settings InCluster(Func<string, string?> environment, string directory)
    {
        var source = $"the pod's service account ({directory})";
        var host = environment("KUBERNETES_SERVICE_HOST")!;
        var portText = environment("KUBERNETES_SERVICE_PORT");
        var port = 443;
        if (!string.IsNullOrWhiteSpace(portText) && (!int.TryParse(portText, out port) || port is < 1 or > 65535))
        {
            throw new LaunchException("KubeConfigInvalid", LaunchErrorCategory.InvalidData,
                $"KUBERNETES_SERVICE_PORT is '{portText}', which is not a port number (1-65535). In a pod Kubernetes sets it; outside one, unset KUBERNETES_SERVICE_HOST or set KUBECONFIG.",
                portText);
        }
        var caFile = Path.Combine(directory, "ca.crt");
        X509Certificate2Collection authorities;
        try
        {
            authorities = [];
            authorities.ImportFromPemFile(caFile);
            if (authorities.Count == 0) throw new CryptographicException("it holds no PEM certificate");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new LaunchException("KubeConfigInvalid", LaunchErrorCategory.InvalidData,
                $"The service account's CA certificate {caFile} cannot be read: {e.Message}. It is mounted with the token by Kubernetes; " +
                "check the pod's automountServiceAccountToken and projected volumes, or set KUBECONFIG.", caFile, e);
        }
        var namespaceFile = Path.Combine(directory, "namespace");
        var @namespace = File.Exists(namespaceFile) && File.ReadAllText(namespaceFile).Trim() is { Length: > 0 } ns ? ns : null;
        var config = new KubernetesClientConfiguration
        {
            Host = new UriBuilder("https", host, port).Uri.ToString().TrimEnd('/'),
            TokenProvider = new TokenFileAuth(Path.Combine(directory, "token")),
            SslCaCerts = authorities,
            Namespace = @namespace,
        };
        return new Settings(config, source, null, null, @namespace);
    }

    /// <summary>Our reader first: it names the line and column of a syntax error (the client's YAML reader does not always).</summary>
    private static JsonNode? ParseOrRefuse(string file, string text)
    {
        try
        {
            return Documents.StructuredText.Parse(text, errorId: "KubeConfigSyntax").Root;
        }
        catch (LaunchException e)
        {
            throw Invalid(file, e.Message.TrimEnd('.'), e);
        }
    }

    private static K8SConfiguration Load(string file)
    {
        try
        {
            var text = File.ReadAllText(file);
            if (string.IsNullOrWhiteSpace(text)) throw Invalid(file, "the file is empty");
            if (ParseOrRefuse(file, text) is not JsonObject)
            {
                throw Invalid(file, "it is not a mapping (a kubeconfig has apiVersion, clusters, users, contexts and current-context)");
            }
            return KubernetesClientConfiguration.LoadKubeConfig(new FileInfo(file), useRelativePaths: true)
                ?? throw Invalid(file, "the file holds no kubeconfig");
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            var inner = e.InnerException is YamlDotNet.Core.YamlException i ? i : e;
            throw Invalid(file, $"line {inner.Start.Line}, column {inner.Start.Column}: {Reason(inner)}", e);
        }
        catch (Exception e) when (e is KubeConfigException or KubernetesClientException or InvalidCastException or FormatException or System.Text.Json.JsonException)
        {
            throw Invalid(file, e.Message, e);
        }
    }

    /// <summary>
    /// Merges kubeconfig files as kubectl does: the first current-context set wins, and a cluster, user or context
    /// named in several files is taken from the first. Relative certificate paths are resolved against their own file.
    /// </summary>
    private static K8SConfiguration Merge(IReadOnlyList<K8SConfiguration> loaded, string[] files)
    {
        var configs = loaded.Select((config, i) => Absolute(config, files[i])).ToList();
        var merged = configs[0];
        foreach (var next in configs.Skip(1))
        {
            merged.CurrentContext = string.IsNullOrEmpty(merged.CurrentContext) ? next.CurrentContext : merged.CurrentContext;
            merged.Clusters = Union(merged.Clusters, next.Clusters, c => c.Name);
            merged.Users = Union(merged.Users, next.Users, u => u.Name);
            merged.Contexts = Union(merged.Contexts, next.Contexts, c => c.Name);
        }
        merged.FileName = null;
        return merged;
    }

    private static List<T> Union<T>(IEnumerable<T>? first, IEnumerable<T>? second, Func<T, string> name)
    {
        var result = (first ?? []).ToList();
        var names = result.Select(name).ToHashSet(StringComparer.Ordinal);
        result.AddRange((second ?? []).Where(item => names.Add(name(item))));
        return result;
    }

    private static K8SConfiguration Absolute(K8SConfiguration config, string file)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        string? Resolve(string? path) => string.IsNullOrEmpty(path) || Path.IsPathRooted(path) ? path : Path.Combine(directory, path);
        foreach (var cluster in config.Clusters ?? [])
        {
            if (cluster.ClusterEndpoint is { } endpoint) endpoint.CertificateAuthority = Resolve(endpoint.CertificateAuthority);
        }
        foreach (var user in config.Users ?? [])
        {
            if (user.UserCredentials is not { } credentials) continue;
            credentials.ClientCertificate = Resolve(credentials.ClientCertificate);
            credentials.ClientKey = Resolve(credentials.ClientKey);
        }
        return config;
    }

    private static string Reason(YamlDotNet.Core.YamlException e)
    {
        // YamlDotNet prefixes messages with the position, which the caller already gives.
        var message = e.Message;
        var cut = message.IndexOf("): ", StringComparison.Ordinal);
        return cut >= 0 && message.StartsWith('(') ? message[(cut + 3)..] : message;
    }

    private static LaunchException Invalid(string file, string why, Exception? inner = null) =>
        new("KubeConfigInvalid", LaunchErrorCategory.InvalidData,
            $"The kubeconfig file {file} is not valid: {why}. Fix the file (kubectl config view shows what kubectl reads), or point KUBECONFIG at another one.",
            file, inner);

    /// <summary>
    /// Runs a call against the API server and turns authentication, authorization and connection failures into
    /// errors that say what to fix. Other HTTP errors reach the caller as <see cref="HttpOperationException"/>.
    /// </summary>
    public Task<T> CallAsync<T>(string verb, string resource, string? @namespace, Func<IKubernetes, Task<T>> call) =>
        CallAsync(Client, verb, resource, @namespace, call);

    /// <summary>As <see cref="CallAsync{T}(string, string, string?, Func{IKubernetes, Task{T}})"/>, with <see cref="StreamClient"/>.</summary>
    public Task<T> StreamAsync<T>(string verb, string resource, string? @namespace, Func<IKubernetes, Task<T>> call) =>
        CallAsync(StreamClient, verb, resource, @namespace, call);

    private async Task<T> CallAsync<T>(IKubernetes client, string verb, string resource, string? @namespace, Func<IKubernetes, Task<T>> call)
    {
        var start = EngineLog.IsEnabled(DiagnosticLevel.Verbose) || EngineLog.IsEnabled(DiagnosticLevel.Debug) ? Stopwatch.GetTimestamp() : 0;
        try
        {
            var result = await call(client).ConfigureAwait(false);
            if (start != 0) ReportCall(verb, resource, @namespace, start, null);
            return result;
        }
        catch (Exception e) when (start != 0 && ReportCall(verb, resource, @namespace, start, e))
        {
            throw; // unreachable: ReportCall returns false, so the filter only reports
        }
        catch (Exception e) when (Translate(e, verb, resource, @namespace) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>
    /// Says at Debug which request was made and how it went, and at Verbose which failed (the caller may retry it).
    /// Only the verb, resource, namespace, HTTP status and the exception's message are shown: never a header.
    /// Returns false, so it can run in an exception filter.
    /// </summary>
    private bool ReportCall(string verb, string resource, string? @namespace, long start, Exception? failure)
    {
        var what = $"{Printable.Escape(verb)} {Printable.Escape(resource)}{(@namespace is null ? "" : $" in namespace {Printable.Quote(@namespace)}")} on {Printable.Escape(Server)}";
        var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);
        if (failure is null)
        {
            EngineLog.Debug(KubeSource, () => $"{what}: ok ({ms} ms)");
            return false;
        }
        if (failure is OperationCanceledException && failure is not TaskCanceledException { InnerException: TimeoutException })
        {
            EngineLog.Debug(KubeSource, () => $"{what}: cancelled ({ms} ms)");
            return false;
        }
        var why = failure is HttpOperationException http ? $"{(int)http.Response.StatusCode} {http.Response.StatusCode}: {StatusMessage(http)}" : Innermost(failure).Message;
        EngineLog.Verbose(KubeSource, () => $"{what} failed after {ms} ms: {Printable.Escape(why)}");
        return false;
    }

    private const string KubeSource = "kube";

    public Task CallAsync(string verb, string resource, string? @namespace, Func<IKubernetes, Task> call) =>
        CallAsync(verb, resource, @namespace, async client =>
        {
            await call(client).ConfigureAwait(false);
            return true;
        });

    /// <summary>The error to report for a failed call, or null when it is not an access problem.</summary>
    public LaunchException? Translate(Exception e, string verb, string resource, string? @namespace)
    {
        var who = User is null ? "the agent's identity" : $"user '{User}'";
        switch (e)
        {
            case HttpOperationException { Response.StatusCode: HttpStatusCode.Unauthorized } http:
                return new KubeAccessException("KubeUnauthorized", KubeFault.Unauthorized, LaunchErrorCategory.PermissionDenied,
                    $"The Kubernetes API server at {Server} rejected the credentials of {who} (401 Unauthorized: {StatusMessage(http)}). " +
                    $"Renew them in {Source}{(Context is null ? "" : $" (context {Context})")}: refresh the token or client certificate " +
                    "(for a cloud cluster, run its get-credentials command again), or give the agent a valid service account token.",
                    Server, e);
            case HttpOperationException { Response.StatusCode: HttpStatusCode.Forbidden } http:
                var where = @namespace is null ? "" : $" in namespace '{@namespace}'";
                return new KubeAccessException("KubeForbidden", KubeFault.Forbidden, LaunchErrorCategory.PermissionDenied,
                    $"The Kubernetes API server at {Server} does not allow {who} to {verb} {resource}{where} (403 Forbidden: {StatusMessage(http)}). " +
                    $"Grant it with a Role and RoleBinding{where} that allow '{verb}' on {resource} " +
                    $"(check with: kubectl auth can-i {verb} {resource}{(@namespace is null ? "" : $" -n {@namespace}")}{(Context is null ? "" : $" --context {Context}")}).",
                    resource, e);
            case HttpRequestException or SocketException or IOException or TaskCanceledException { InnerException: TimeoutException }:
                return new KubeAccessException("KubeUnreachable", KubeFault.Unreachable, LaunchErrorCategory.ResourceUnavailable,
                    $"Cannot reach the Kubernetes API server at {Server} ({Source}{(Context is null ? "" : $", context {Context}")}): {Innermost(e).Message.TrimEnd('.')}. " +
                    "Check that the cluster is up and that the server address is right (kubectl cluster-info), " +
                    "or point KUBECONFIG or resource_args.kubernetes.context at the cluster you mean.",
                    Server, e);
            default:
                return null;
        }
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is { } inner) e = inner;
        return e;
    }

    /// <summary>The message of the Status object an API server sends with an error, or the HTTP reason.</summary>
    public static string StatusMessage(HttpOperationException e)
    {
        var body = e.Response?.Content;
        if (!string.IsNullOrWhiteSpace(body))
        {
            try
            {
                if (JsonNode.Parse(body) is JsonObject status && status["message"] is JsonValue message) return message.GetValue<string>();
            }
            catch (System.Text.Json.JsonException)
            {
            }
            return body.Trim();
        }
        return e.Response?.ReasonPhrase ?? e.Message;
    }

    /// <summary>An API error in a message: "(422 Invalid): &lt;the server's message&gt;".</summary>
    public static string Explain(HttpOperationException e) =>
        $"({(int)e.Response.StatusCode} {StatusReason(e) ?? e.Response.ReasonPhrase}): {StatusMessage(e)}";

    /// <summary>The job fails at <paramref name="stage"/> because the API server would not create <paramref name="what"/>.</summary>
    public static JobFailedException RefusedToCreate(HttpOperationException e, string what, string stage) =>
        new(stage, $"The Kubernetes API server refused to create {what} {Explain(e)}", e);

    /// <summary>The Status reason (AlreadyExists, NotFound, Invalid...) of an API error, if it sent one.</summary>
    public static string? StatusReason(HttpOperationException e)
    {
        try
        {
            return JsonNode.Parse(e.Response?.Content ?? "") is JsonObject status && status["reason"] is JsonValue reason ? reason.GetValue<string>() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        (Client as IDisposable)?.Dispose();
        (StreamClient as IDisposable)?.Dispose();
    }
}
