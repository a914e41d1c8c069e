using System.Collections.Concurrent;
using WandbLaunch.Tests.CloudStorage;

namespace WandbLaunch.Engine.KanikoTests;

/// <summary>
/// A Docker Registry v2 on 127.0.0.1 that answers the one question the kaniko builder asks it: does this tag exist
/// (<c>HEAD /v2/&lt;repository&gt;/manifests/&lt;tag&gt;</c>: 200 with a digest, or 404 MANIFEST_UNKNOWN). Kaniko itself
/// pushes from the cluster, which these tests stand in for.
/// </summary>
public sealed class RegistryStandIn : LoopbackServer
{
    private readonly ConcurrentDictionary<string, bool> _tags = new(StringComparer.Ordinal);

    /// <summary>Makes <c>repository:tag</c> exist.</summary>
    public void AddTag(string repository, string tag) => _tags[$"{repository}:{tag}"] = true;

    protected override Task<Reply> HandleAsync(Incoming request)
    {
        var headers = new Dictionary<string, string> { ["Docker-Distribution-API-Version"] = "registry/2.0" };
        if (request.RawPath == "/v2/") return Task.FromResult(Reply.Text(200, "application/json", "{}", headers));
        const string marker = "/manifests/";
        var at = request.RawPath.IndexOf(marker, StringComparison.Ordinal);
        if (request.RawPath.StartsWith("/v2/", StringComparison.Ordinal) && at > 0 && request.Method is "HEAD" or "GET")
        {
            var repository = request.RawPath[4..at];
            var tag = request.RawPath[(at + marker.Length)..];
            if (_tags.ContainsKey($"{repository}:{tag}"))
            {
                headers["Docker-Content-Digest"] = "sha256:" + new string('a', 64);
                return Task.FromResult(Reply.Text(200, "application/vnd.oci.image.manifest.v1+json", "{}", headers));
            }
            return Task.FromResult(Reply.Text(404, "application/json",
                $$$"""{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"{{{tag}}}"}}]}""", headers));
        }
        return Task.FromResult(Reply.Text(404, "application/json", """{"errors":[{"code":"NOT_FOUND","message":"not found"}]}""", headers));
    }
}
