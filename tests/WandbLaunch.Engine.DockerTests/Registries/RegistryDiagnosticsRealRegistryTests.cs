using System.Text;
using WandbLaunch.Engine.Diagnostics;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Registries;
using WandbLaunch.TestSupport;

namespace WandbLaunch.Engine.DockerTests.Registries;

/// <summary>
/// -Verbose and -Debug against the password-protected registry of tools/Start-TestServices.ps1: each request and its
/// status are shown, the registry's password (right or wrong) in no form.
/// </summary>
public sealed class RegistryDiagnosticsRealRegistryTests
{
    private static ImageReference Image => ImageReference.Parse($"{TestServices.Registry}/wbl-xunit-diag/base:1");

    [DockerFact]
    public async Task Login_ShowsRequestsAndStatus_NotThePassword()
    {
        var recording = new RecordingDiagnostics();
        using var client = new RegistryClient();
        var credential = new RegistryCredential(TestServices.RegistryUser, TestServices.RegistryPassword) { Source = "test" };
        using (EngineLog.Use(recording))
        {
            await client.CheckLoginAsync(Image, credential, CancellationToken.None);
            Assert.False(await client.ManifestExistsAsync(Image, credential, CancellationToken.None));
        }
        AssertNoSecret(recording, TestServices.RegistryPassword);
        var debug = recording.At(DiagnosticLevel.Debug);
        Assert.Contains(debug, l => l.StartsWith($"registry: GET http://{TestServices.Registry}/v2/: 401 Unauthorized (", StringComparison.Ordinal));
        Assert.Contains(debug, l => l.StartsWith($"registry: GET http://{TestServices.Registry}/v2/ (with Basic authorization): 200 OK (", StringComparison.Ordinal));
        Assert.Contains(debug, l => l.StartsWith($"registry: HEAD http://{TestServices.Registry}/v2/wbl-xunit-diag/base/manifests/1 (with Basic authorization): 404 NotFound (", StringComparison.Ordinal));
    }

    [DockerFact]
    public async Task WrongPassword_ShowsTheRefusal_NotThePassword()
    {
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        var recording = new RecordingDiagnostics();
        using var client = new RegistryClient();
        using (EngineLog.Use(recording))
        {
            var e = await Assert.ThrowsAsync<LaunchException>(() =>
                client.CheckLoginAsync(Image, new RegistryCredential(TestServices.RegistryUser, wrong) { Source = "test" }, CancellationToken.None));
            Assert.Equal("RegistryAuthenticationFailed", e.ErrorId);
        }
        AssertNoSecret(recording, wrong);
        Assert.Contains(recording.At(DiagnosticLevel.Debug), l => l.StartsWith($"registry: GET http://{TestServices.Registry}/v2/ (with Basic authorization): 401 Unauthorized (", StringComparison.Ordinal));
    }

    private static void AssertNoSecret(RecordingDiagnostics recording, string password)
    {
        Assert.NotEmpty(recording.Lines);
        Assert.DoesNotContain(password, recording.All, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TestServices.RegistryUser}:{password}")), recording.All, StringComparison.Ordinal);
    }
}
