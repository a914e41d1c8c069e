using System.Net;
using System.Text;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;
using WandbLaunch.TestSupport;
using Xunit;

namespace WandbLaunch.Engine.Tests.Diagnostics;

/// <summary>-Verbose and -Debug show each registry request and why it failed, never the password.</summary>
public sealed class RegistryDiagnosticsTests
{
    private const string Password = "Pa55-w0rd-never-shown";

    [Fact]
    public async Task RefusedLogin_ShowsRequestsAndStatus_ButNoPasswordInAnyForm()
    {
        var seenAuthorization = new List<string>();
        using var registry = new LoopbackHttpListener(context =>
        {
            lock (seenAuthorization) seenAuthorization.Add(context.Request.Headers["Authorization"] ?? "");
            context.Response.StatusCode = (int)HttpStatusCode.Unauthorized;
            context.Response.AddHeader("WWW-Authenticate", "Basic realm=\"test\"");
            context.Response.Close();
            return Task.CompletedTask;
        });
        var image = ImageReference.Parse($"{registry.Url.Authority}/team/app:v1");
        var credential = new RegistryCredential("alice", Password) { Source = "the Docker config file" };
        var recording = new RecordingDiagnostics();
        using var client = new RegistryClient();
        using (EngineLog.Use(recording))
        {
            var e = await Assert.ThrowsAsync<LaunchException>(() => client.CheckLoginAsync(image, credential, CancellationToken.None));
            Assert.Equal("RegistryAuthenticationFailed", e.ErrorId);
        }

        // The credential was sent (so it was in play), and shows nowhere in what was reported.
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"alice:{Password}"));
        Assert.Contains($"Basic {basic}", seenAuthorization);
        Assert.DoesNotContain(Password, recording.All, StringComparison.Ordinal);
        Assert.DoesNotContain(basic, recording.All, StringComparison.Ordinal);
        Assert.Contains(recording.At(DiagnosticLevel.Verbose), l => l.Contains("asks for Basic authentication; using the credentials of user 'alice' (from the Docker config file)", StringComparison.Ordinal));
        var debug = recording.At(DiagnosticLevel.Debug);
        Assert.Contains($"registry: GET http://{registry.Url.Authority}/v2/: 401 Unauthorized", debug.Select(l => l[..l.LastIndexOf(" (", StringComparison.Ordinal)]));
        Assert.Contains(debug, l => l.StartsWith($"registry: GET http://{registry.Url.Authority}/v2/ (with Basic authorization): 401 Unauthorized (", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnreachableRegistry_SaysWhy()
    {
        var image = ImageReference.Parse("127.0.0.1:1/team/app:v1");
        var recording = new RecordingDiagnostics();
        using var client = new RegistryClient();
        using (EngineLog.Use(recording))
        {
            var e = await Assert.ThrowsAsync<LaunchException>(() => client.CheckLoginAsync(image, new RegistryCredential("alice", Password), CancellationToken.None));
            Assert.Equal("RegistryUnreachable", e.ErrorId);
        }
        Assert.Contains(recording.At(DiagnosticLevel.Verbose), l => l.StartsWith("registry: cannot reach 127.0.0.1:1: ", StringComparison.Ordinal));
        Assert.Contains(recording.At(DiagnosticLevel.Debug), l => l.StartsWith("registry: GET http://127.0.0.1:1/v2/: failed after ", StringComparison.Ordinal));
        Assert.DoesNotContain(Password, recording.All, StringComparison.Ordinal);
    }
}
