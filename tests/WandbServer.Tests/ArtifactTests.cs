using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace WandbLaunch.Tests.WandbServer.Tests;

/// <summary>
/// The stand-in's artifacts answer the SDK's and wandb-core's artifact operations as they are written, with the
/// shapes the SDK expects for what is missing (null project, membership or artifact), and its file host checks
/// uploads against the MD5 the server asked for, as a bucket's signed URL does.
/// </summary>
public sealed class ArtifactTests : IDisposable
{
    private readonly Fixture _f = new();
    private readonly HttpClient _files = new();

    private static string Md5(byte[] bytes) => Convert.ToBase64String(MD5.HashData(bytes));

    private static string ManifestDigest(params (string Path, string Digest)[] entries) =>
        Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes("wandb-artifact-manifest-v1\n" +
            string.Concat(entries.OrderBy(e => e.Path, StringComparer.Ordinal).Select(e => $"{e.Path}:{e.Digest}\n")))));

    private async Task<HttpStatusCode> PutAsync(string url, byte[] body, IEnumerable<string> headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = new ByteArrayContent(body) };
        foreach (var header in headers)
        {
            var colon = header.IndexOf(':');
            request.Content.Headers.TryAddWithoutValidation(header[..colon], header[(colon + 1)..]);
        }
        using var response = await _files.SendAsync(request);
        return response.StatusCode;
    }

    private static IEnumerable<string> Headers(JsonNode? node) => (node as JsonArray ?? []).Select(h => h!.GetValue<string>());

    /// <summary>What wandb-core's ArtifactSaver sends to log one file; returns the artifact id.</summary>
    private async Task<string> LogAsync(byte[] content, params string[] aliases)
    {
        await _f.Alice.DataAsync("mutation { upsertBucket(input: {name: \"run1\", modelName: \"p\", entityName: \"alice\"}) { bucket { id } } }");
        var md5 = Md5(content);
        var created = await _f.Alice.DataAsync(SdkArtifactOperations.CoreCreateArtifact, new
        {
            input = new
            {
                entityName = "alice", projectName = "p", artifactTypeName = "job", artifactCollectionName = "job-x", runName = "run1",
                digest = ManifestDigest(("wandb-job.json", md5)), digestAlgorithm = "MANIFEST_MD5", enableDigestDeduplication = true,
                aliases = aliases.Append("latest").Select(a => new { artifactCollectionName = "job-x", alias = a }).ToArray(),
                clientID = "c1", sequenceClientID = "s1", metadata = "{\"_partial\": true}",
            },
        });
        var artifact = created["createArtifact"]!["artifact"]!;
        var id = artifact["id"]!.GetValue<string>();
        if (artifact["state"]!.GetValue<string>() == "COMMITTED") return id;
        var manifestId = (await _f.Alice.DataAsync(SdkArtifactOperations.CoreCreateArtifactManifest, new
        {
            artifactID = id, baseArtifactID = (string?)null, name = "wandb_manifest.json", digest = "", entityName = "alice", projectName = "p",
            runName = "run1", manifestType = "FULL", includeUpload = false,
        }))["createArtifactManifest"]!["artifactManifest"]!["id"]!.GetValue<string>();
        var files = await _f.Alice.DataAsync(SdkArtifactOperations.CoreCreateArtifactFiles, new
        {
            artifactFiles = new[] { new { artifactID = id, name = "wandb-job.json", md5, artifactManifestID = manifestId } },
            storageLayout = "V2",
        });
        var node = files["createArtifactFiles"]!["files"]!["edges"]![0]!["node"]!;
        Assert.Equal(id, node["artifact"]!["id"]!.GetValue<string>());
        if (node["uploadUrl"] is JsonValue url)
            Assert.Equal(HttpStatusCode.OK, await PutAsync(url.GetValue<string>(), content, Headers(node["uploadHeaders"])));
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["version"] = 1, ["storagePolicy"] = "wandb-storage-policy-v1", ["storagePolicyConfig"] = new JsonObject { ["storageLayout"] = "V2" },
            ["contents"] = new JsonObject { ["wandb-job.json"] = new JsonObject { ["digest"] = md5, ["size"] = content.Length } },
        }.ToJsonString());
        var upload = (await _f.Alice.DataAsync(SdkArtifactOperations.CoreCreateArtifactManifest, new
        {
            artifactID = id, baseArtifactID = (string?)null, name = "wandb_manifest.json", digest = Md5(manifest), entityName = "alice",
            projectName = "p", runName = "run1", manifestType = "FULL", includeUpload = true,
        }))["createArtifactManifest"]!["artifactManifest"]!["file"]!;
        Assert.Equal(HttpStatusCode.OK, await PutAsync(upload["uploadUrl"]!.GetValue<string>(), manifest, Headers(upload["uploadHeaders"])));
        await _f.Alice.DataAsync(SdkArtifactOperations.CoreCommitArtifact, new { artifactID = id });
        return id;
    }

    [Fact]
    public async Task The_sdks_reads_and_wandb_cores_writes_validate_and_give_back_what_was_logged()
    {
        var content = "{\"_version\": \"v0\"}"u8.ToArray();
        var id = await LogAsync(content, "prod");

        var membership = (await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactMembershipByName, new { entity = "alice", project = "p", name = "job-x:prod" }))
            ["project"]!["artifactCollectionMembership"]!;
        Assert.Equal((0, id, "ArtifactSequence"), (membership["versionIndex"]!.GetValue<int>(), membership["artifact"]!["id"]!.GetValue<string>(),
            membership["artifactCollection"]!["__typename"]!.GetValue<string>()));
        Assert.Equal(["latest", "prod"], membership["aliases"]!.AsArray().Select(a => a!["alias"]!.GetValue<string>()));
        Assert.Equal("COMMITTED", membership["artifact"]!["state"]!.GetValue<string>());

        var byId = (await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactById, new { id }))["artifact"]!;
        Assert.Equal(("job-x", "job", "{\"_partial\": true}"), (byId["artifactSequence"]!["name"]!.GetValue<string>(), byId["artifactType"]!["name"]!.GetValue<string>(),
            byId["metadata"]!.GetValue<string>()));

        var manifestUrl = (await _f.Alice.DataAsync(SdkArtifactOperations.FetchArtifactManifest, new { id }))["artifact"]!["currentManifest"]!["file"]!["directUrl"]!.GetValue<string>();
        Assert.StartsWith(_f.Server.FileHostUrl.ToString(), manifestUrl);
        var manifest = JsonNode.Parse(await _files.GetStringAsync(manifestUrl))!;
        Assert.Equal(Md5(content), manifest["contents"]!["wandb-job.json"]!["digest"]!.GetValue<string>());
        Assert.Equal(manifestUrl.Length, (await _f.Alice.DataAsync(SdkArtifactOperations.CoreArtifactManifest, new { artifact_id = id }))
            ["artifact"]!["currentManifest"]!["file"]!["directUrl"]!.GetValue<string>().Length);

        var files = (await _f.Alice.DataAsync(SdkArtifactOperations.GetArtifactMembershipFileUrls, new { entity = "alice", project = "p", collection = "job-x", alias = "v0", perPage = 5000 }))
            ["project"]!["artifactCollection"]!["artifactMembership"]!["files"]!;
        Assert.False(files["pageInfo"]!["hasNextPage"]!.GetValue<bool>());
        Assert.Equal(content, await _files.GetByteArrayAsync(files["edges"]![0]!["node"]!["directUrl"]!.GetValue<string>()));
        await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactMembershipFiles, new { entity = "alice", project = "p", collection = "job-x", alias = "latest" });
        await _f.Alice.DataAsync(SdkArtifactOperations.CoreArtifactFileUrls, new { id, perPage = 10 });

        var versions = (await _f.Alice.DataAsync(SdkArtifactOperations.ProjectArtifacts, new { entity = "alice", project = "p", type = "job", collection = "job-x", filters = "{\"state\": \"COMMITTED\"}" }))
            ["project"]!["artifactType"]!["artifactCollection"]!["artifacts"]!;
        Assert.Equal((1, "v0"), (versions["totalCount"]!.GetValue<int>(), versions["edges"]![0]!["version"]!.GetValue<string>()));
        var collections = (await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactTypeArtifactCollections, new { entity = "alice", project = "p", type = "job" }))
            ["project"]!["artifactType"]!["artifactCollections"]!;
        Assert.Equal("job-x", collections["edges"]![0]!["node"]!["name"]!.GetValue<string>());
        await _f.Alice.DataAsync(SdkArtifactOperations.ProjectArtifactCollection, new { entity = "alice", project = "p", type = "job", name = "job-x" });
        await _f.Alice.DataAsync(SdkArtifactOperations.ProjectArtifactType, new { entity = "alice", project = "p", type = "job" });

        // Logging the same contents again answers the committed version (digest deduplication) and gives it the new alias.
        Assert.Equal(id, await LogAsync(content, "stable"));
        Assert.Equal(["latest", "prod", "stable"], _f.Server.Artifact("alice", "p", "job-x")!.Aliases);
        var runId = (await _f.Alice.DataAsync("query { project(name: \"p\", entityName: \"alice\") { run(name: \"run1\") { id } } }"))["project"]!["run"]!["id"]!.GetValue<string>();
        await _f.Alice.DataAsync(SdkArtifactOperations.DeleteRun, new { id = runId, deleteArtifacts = false });
        Assert.False(_f.Server.RunExists("alice", "p", "run1"));
        Assert.NotNull(_f.Server.Artifact("alice", "p", "job-x"));
    }

    [Fact]
    public async Task What_is_missing_is_null_where_the_sdk_looks_for_it()
    {
        _f.Server.SeedArtifact("alice", "p", "job-x", "job", new Dictionary<string, byte[]> { ["wandb-job.json"] = "{}"u8.ToArray() });

        var noProject = await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactMembershipByName, new { entity = "alice", project = "nope", name = "job-x:latest" });
        Assert.Null(noProject["project"]);
        var noCollection = await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactMembershipByName, new { entity = "alice", project = "p", name = "job-y:latest" });
        Assert.Null(noCollection["project"]!["artifactCollectionMembership"]);
        var noAlias = await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactMembershipByName, new { entity = "alice", project = "p", name = "job-x:v1" });
        Assert.Null(noAlias["project"]!["artifactCollectionMembership"]);
        Assert.Null((await _f.Alice.DataAsync(SdkArtifactOperations.ArtifactById, new { id = "QXJ0aWZhY3Q6MA==" }))["artifact"]);
        var noFiles = await _f.Alice.DataAsync(SdkArtifactOperations.GetArtifactMembershipFileUrls, new { entity = "alice", project = "p", collection = "job-x", alias = "prod" });
        Assert.Null(noFiles["project"]!["artifactCollection"]!["artifactMembership"]);
    }

    [Fact]
    public async Task The_file_host_refuses_a_body_or_Content_MD5_other_than_the_one_asked_for_and_a_commit_without_its_manifest()
    {
        await _f.Alice.DataAsync("mutation { upsertBucket(input: {name: \"run1\", modelName: \"p\", entityName: \"alice\"}) { bucket { id } } }");
        var content = "print(1)"u8.ToArray();
        var created = await _f.Alice.DataAsync(SdkArtifactOperations.CoreCreateArtifact, new
        {
            input = new
            {
                entityName = "alice", projectName = "p", artifactTypeName = "code", artifactCollectionName = "code-x", runName = "run1",
                digest = ManifestDigest(("train.py", Md5(content))), digestAlgorithm = "MANIFEST_MD5", enableDigestDeduplication = true,
            },
        });
        var id = created["createArtifact"]!["artifact"]!["id"]!.GetValue<string>();
        var node = (await _f.Alice.DataAsync(SdkArtifactOperations.CoreCreateArtifactFiles, new
        {
            artifactFiles = new[] { new { artifactID = id, name = "train.py", md5 = Md5(content) } }, storageLayout = "V2",
        }))["createArtifactFiles"]!["files"]!["edges"]![0]!["node"]!;
        var url = node["uploadUrl"]!.GetValue<string>();
        Assert.Equal(["Content-MD5:" + Md5(content)], Headers(node["uploadHeaders"]));

        Assert.Equal(HttpStatusCode.BadRequest, await PutAsync(url, "print(2)"u8.ToArray(), Headers(node["uploadHeaders"])));
        Assert.Equal(HttpStatusCode.BadRequest, await PutAsync(url, content, ["Content-MD5:" + Md5("x"u8.ToArray())]));
        Assert.Equal(HttpStatusCode.Forbidden, await PutAsync(url + "0", content, Headers(node["uploadHeaders"])));
        Assert.Equal(HttpStatusCode.OK, await PutAsync(url, content, Headers(node["uploadHeaders"])));

        var commit = await _f.Alice.PostAsync(SdkArtifactOperations.CoreCommitArtifact, new { artifactID = id });
        Assert.Equal(400, commit.Status);
        Assert.Contains("manifest", commit.FirstMessage);
        Assert.Null(_f.Server.Artifact("alice", "p", "code-x"));
    }

    [Theory]
    [InlineData("a:b")]
    [InlineData("a/b")]
    public async Task An_alias_W_and_B_refuses_is_refused(string alias)
    {
        await _f.Alice.DataAsync("mutation { upsertBucket(input: {name: \"run1\", modelName: \"p\", entityName: \"alice\"}) { bucket { id } } }");
        var reply = await _f.Alice.PostAsync(SdkArtifactOperations.CoreCreateArtifact, new
        {
            input = new
            {
                entityName = "alice", projectName = "p", artifactTypeName = "job", artifactCollectionName = "job-x", digest = "d",
                digestAlgorithm = "MANIFEST_MD5", aliases = new[] { new { artifactCollectionName = "job-x", alias } },
            },
        });
        Assert.Equal(400, reply.Status);
        Assert.Null(reply.Data?["createArtifact"]);
    }

    public void Dispose()
    {
        _files.Dispose();
        _f.Dispose();
    }
}
