using k8s;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Runners.Kubernetes;
using WandbLaunch.Tests.KubeApi;

namespace WandbLaunch.Engine.KubeTests;

/// <summary>
/// An agent in a pod: no kubeconfig, KUBERNETES_SERVICE_HOST/PORT set, the service account's token, ca.crt and
/// namespace mounted. The API server is the loopback one behind TLS with its own certificate, as in a cluster.
/// </summary>
public sealed class InClusterTests : IDisposable
{
    private readonly KubeApiServer _server = new(token: "pod-service-account-token");
    private readonly TlsFront _tls;
    private readonly TempDirectory _dir = new();
    private readonly string _account;

    public InClusterTests()
    {
        _server.AddNamespace("training");
        _tls = new TlsFront(_server.Url);
        _account = Path.Combine(_dir.Path, "serviceaccount");
        _dir.Write("serviceaccount/token", _server.Token);
        _dir.Write("serviceaccount/ca.crt", _tls.CertificatePem);
        _dir.Write("serviceaccount/namespace", "training\n");
    }

    private Func<string, string?> Pod(string? port = null) => name => name switch
    {
        "KUBERNETES_SERVICE_HOST" => "127.0.0.1",
        "KUBERNETES_SERVICE_PORT" => port ?? _tls.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "HOME" => _dir.Path,
        _ => null,
    };

    [Fact]
    public async Task ThePodsServiceAccountReachesTheApiServerOverTlsWithItsTokenAndNamespace()
    {
        using var access = KubeAccess.Connect(null, Pod(), _account);

        Assert.Equal($"https://127.0.0.1:{_tls.Port}", access.Server);
        Assert.StartsWith("the pod's service account", access.Source);
        Assert.Equal("training", access.ContextNamespace);
        Assert.Null(access.Context);
        var pods = await access.CallAsync("list", "pods", "training", c => c.CoreV1.ListNamespacedPodAsync("training"));
        Assert.Empty(pods.Items);
        Assert.Contains(_server.Requests, r => r.Method == "GET" && r.Path == "/api/v1/namespaces/training/pods" && r.Status == 200);
    }

    [Fact]
    public void AKubeconfigOrAContextWinsOverTheServiceAccount()
    {
        var kubeconfig = _server.WriteKubeconfig(_dir.File("kubeconfig"), "ml");
        var env = Pod();
        var settings = KubeAccess.Resolve(null, n => n == "KUBECONFIG" ? kubeconfig : env(n), _account);
        Assert.StartsWith("kubeconfig ", settings.Source);
        Assert.Equal("ml", settings.Namespace);
    }

    [Fact]
    public async Task AnApiServerWhoseCertificateTheCaDoesNotSignIsRefused()
    {
        _dir.Write("serviceaccount/ca.crt", TlsFront.UntrustedPem());
        using var access = KubeAccess.Connect(null, Pod(), _account);

        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => access.CallAsync("list", "pods", "training", c => c.CoreV1.ListNamespacedPodAsync("training")));

        Assert.Equal("KubeUnreachable", e.ErrorId);
        Assert.Contains($"https://127.0.0.1:{_tls.Port}", e.Message);
        Assert.DoesNotContain(_server.Requests, r => r.Path.EndsWith("/pods", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ATokenTheApiServerNoLongerAcceptsIsAnUnauthorizedErrorNamingTheServiceAccount()
    {
        _dir.Write("serviceaccount/token", "expired-token");
        using var access = KubeAccess.Connect(null, Pod(), _account);

        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => access.CallAsync("list", "pods", "training", c => c.CoreV1.ListNamespacedPodAsync("training")));

        Assert.Equal("KubeUnauthorized", e.ErrorId);
        Assert.Contains("the pod's service account", e.Message);
        Assert.DoesNotContain("expired-token", e.Message);
    }

    [Fact]
    public void AMissingCaCertificateIsNamed()
    {
        File.Delete(Path.Combine(_account, "ca.crt"));
        var e = Assert.ThrowsAny<LaunchException>(() => KubeAccess.Connect(null, Pod(), _account));
        Assert.Equal("KubeConfigInvalid", e.ErrorId);
        Assert.Contains(Path.Combine(_account, "ca.crt"), e.Message);
    }

    [Fact]
    public void ABadServicePortIsNamed()
    {
        var e = Assert.ThrowsAny<LaunchException>(() => KubeAccess.Connect(null, Pod(port: "https"), _account));
        Assert.Equal("KubeConfigInvalid", e.ErrorId);
        Assert.Contains("KUBERNETES_SERVICE_PORT is 'https'", e.Message);
    }

    [Fact]
    public void WithoutTheTokenFileTheServiceAccountIsNotUsed()
    {
        File.Delete(Path.Combine(_account, "token"));
        var e = Assert.ThrowsAny<LaunchException>(() => KubeAccess.Connect(null, Pod(), _account));
        Assert.Equal("KubeConfigNotFound", e.ErrorId);
        Assert.Contains("does not run in a pod with a service account", e.Message);
    }

    public void Dispose()
    {
        _tls.Dispose();
        _server.Dispose();
        _dir.Dispose();
    }
}
