using System.Security.Cryptography;
using System.Text;
using WandbLaunch.Engine.Builders.Kaniko;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Tests.CloudStorage;

namespace WandbLaunch.Engine.KanikoTests;

/// <summary>
/// The real cloud SDKs (AWSSDK.S3, Google.Cloud.Storage.V1 with Google.Apis.Auth, Azure.Storage.Blobs) upload and
/// delete a build context against the loopback stand-ins, which check signatures and tokens as the services do.
/// </summary>
public sealed class ContextStoreTests
{
    internal const string KeyId = "AKIALOOPBACK0EXAMPLE";
    internal const string Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLOOPBACKKEY";

    private static readonly byte[] Payload = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("build context bytes ", 5000)));

    private static Func<string, string?> Env(Dictionary<string, string> values) => name => values.TryGetValue(name, out var v) ? v : null;

    internal static Dictionary<string, string> S3Env(S3Server server, string secret = Secret) => new()
    {
        ["AWS_ACCESS_KEY_ID"] = KeyId,
        ["AWS_SECRET_ACCESS_KEY"] = secret,
        ["AWS_REGION"] = server.Region,
        ["AWS_ENDPOINT_URL_S3"] = server.Url.ToString(),
    };

    [Fact]
    public async Task S3UploadIsSignedAndStoredThenDeleted()
    {
        using var server = new S3Server("eu-west-1");
        server.AddKey(KeyId, Secret);
        server.AddBucket("launch-contexts");
        using var store = ContextStore.For("s3://launch-contexts/kaniko/", "run12345", new EnvironmentSettings(), Env(S3Env(server)));
        Assert.Equal("s3://launch-contexts/kaniko/run12345.tgz", store.Uri);

        long reported = 0;
        await store.UploadAsync(new MemoryStream(Payload), (sent, _) => reported = sent, CancellationToken.None);

        Assert.Equal(Payload, server.Object("launch-contexts", "kaniko/run12345.tgz"));
        Assert.Empty(server.Rejections);
        var put = Assert.Single(server.Requests, r => r.Method == "PUT");
        Assert.Equal("/launch-contexts/kaniko/run12345.tgz", put.Path);
        // One request signed over the whole payload's hash (no aws-chunked streaming signature).
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Payload)), put.Headers["x-amz-content-sha256"]);
        Assert.StartsWith($"AWS4-HMAC-SHA256 Credential={KeyId}/", put.Headers["authorization"]);
        Assert.Contains("/eu-west-1/s3/aws4_request", put.Headers["authorization"]);
        Assert.Equal(Payload.Length, reported);

        await store.DeleteAsync(CancellationToken.None);
        Assert.Empty(server.Objects);
    }

    [Fact]
    public async Task S3WithAWrongSecretIsRefusedAndTheMessageSaysWhyWithoutTheSecret()
    {
        using var server = new S3Server();
        server.AddKey(KeyId, Secret);
        server.AddBucket("launch-contexts");
        const string wrong = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGWRONGK";
        using var store = ContextStore.For("s3://launch-contexts", "run12345", new EnvironmentSettings(), Env(S3Env(server, wrong)));

        var e = await Assert.ThrowsAsync<JobFailedException>(() => store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None));

        Assert.Equal(FailureStage.Build, e.Stage);
        Assert.Contains("403 SignatureDoesNotMatch", e.Message);
        Assert.Contains("the secret access key is wrong", e.Message);
        Assert.Contains(KeyId, e.Message);
        Assert.DoesNotContain(wrong, e.Message);
        Assert.DoesNotContain(Secret, e.Message);
        Assert.Contains("signature mismatch", server.Rejections);
        Assert.Empty(server.Objects);
    }

    [Fact]
    public async Task S3RegionComesFromTheEnvironmentBlockFirst()
    {
        using var server = new S3Server("ap-southeast-2");
        server.AddKey(KeyId, Secret);
        server.AddBucket("launch-contexts");
        var env = S3Env(server);
        env["AWS_REGION"] = "us-west-2";
        using var store = ContextStore.For("s3://launch-contexts", "r1", new EnvironmentSettings { Type = "aws", Region = "ap-southeast-2" }, Env(env));
        await store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None);
        Assert.NotNull(server.Object("launch-contexts", "r1.tgz"));
    }

    [Fact]
    public async Task GcsUploadUsesAServiceAccountTokenAndIsDeleted()
    {
        using var server = new GcsServer();
        server.AddBucket("ml-launch");
        using var dir = new TempDirectory();
        var keyFile = dir.Write("sa.json", server.ServiceAccountKeyJson());
        var env = new Dictionary<string, string> { ["GOOGLE_APPLICATION_CREDENTIALS"] = keyFile, ["STORAGE_EMULATOR_HOST"] = server.HostPort };
        using var store = ContextStore.For("gs://ml-launch/contexts", "run777", new EnvironmentSettings(), Env(env));
        Assert.Equal("gs://ml-launch/contexts/run777.tgz", store.Uri);

        await store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None);

        Assert.Equal(Payload, server.Object("ml-launch", "contexts/run777.tgz"));
        Assert.Empty(server.Rejections);
        // The client signs its own JWT with the key (no token endpoint round trip); the server checked it with the
        // account's public key on every request.
        Assert.NotEmpty(server.AcceptedTokens);
        Assert.All(server.AcceptedTokens, kind => Assert.Contains(kind, new[] { "self-signed JWT", "access token" }));
        var upload = server.Requests.First(r => r.Path == "/upload/storage/v1/b/ml-launch/o");
        Assert.Contains("uploadType=", upload.Query);
        Assert.StartsWith("Bearer ", upload.Headers["authorization"]);

        await store.DeleteAsync(CancellationToken.None);
        Assert.Empty(server.Objects);
    }

    [Fact]
    public async Task GcsWithAnotherKeyIsRefusedAndNothingIsUploaded()
    {
        using var server = new GcsServer();
        server.AddBucket("ml-launch");
        using var dir = new TempDirectory();
        using var stranger = RSA.Create(2048);
        var keyFile = dir.Write("sa.json", server.ServiceAccountKeyJson(stranger));
        var env = new Dictionary<string, string> { ["GOOGLE_APPLICATION_CREDENTIALS"] = keyFile, ["STORAGE_EMULATOR_HOST"] = server.HostPort };
        using var store = ContextStore.For("gs://ml-launch", "run777", new EnvironmentSettings(), Env(env));

        var e = await Assert.ThrowsAsync<JobFailedException>(() => store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None));

        Assert.Contains("refused the access token of service account " + server.ClientEmail, e.Message);
        Assert.Contains("401", e.Message);
        Assert.Contains(server.Rejections, r => r is "self-signed JWT: bad signature" or "token: Invalid JWT Signature.");
        Assert.Empty(server.Objects);
    }

    [Fact]
    public async Task GcsBucketMustExist()
    {
        using var server = new GcsServer();
        using var dir = new TempDirectory();
        var env = new Dictionary<string, string> { ["GOOGLE_APPLICATION_CREDENTIALS"] = dir.Write("sa.json", server.ServiceAccountKeyJson()), ["STORAGE_EMULATOR_HOST"] = server.HostPort };
        using var store = ContextStore.For("gs://missing-bucket", "run777", new EnvironmentSettings(), Env(env));
        var e = await Assert.ThrowsAsync<JobFailedException>(() => store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None));
        Assert.Contains("has no bucket missing-bucket", e.Message);
    }

    [Fact]
    public async Task AzureUploadIsSharedKeySignedAndDeleted()
    {
        using var server = new AzureBlobServer();
        server.AddContainer("contexts");
        var env = new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = server.ConnectionString() };
        using var store = ContextStore.For($"https://{server.Account}.blob.core.windows.net/contexts/kaniko", "run42", new EnvironmentSettings(), Env(env));
        Assert.Equal($"https://{server.Account}.blob.core.windows.net/contexts/kaniko/run42.tgz", store.Uri);

        await store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None);

        Assert.Equal(Payload, server.Blob("contexts", "kaniko/run42.tgz"));
        Assert.Empty(server.Rejections);
        var put = Assert.Single(server.Requests, r => r.Method == "PUT");
        Assert.Equal("BlockBlob", put.Headers["x-ms-blob-type"]);
        Assert.StartsWith($"SharedKey {server.Account}:", put.Headers["authorization"]);

        await store.DeleteAsync(CancellationToken.None);
        Assert.Empty(server.Blobs);
    }

    [Fact]
    public async Task AzureWithAWrongKeyIsRefused()
    {
        using var server = new AzureBlobServer();
        server.AddContainer("contexts");
        var wrong = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        var env = new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = server.ConnectionString(wrong) };
        using var store = ContextStore.For($"https://{server.Account}.blob.core.windows.net/contexts", "run42", new EnvironmentSettings(), Env(env));

        var e = await Assert.ThrowsAsync<JobFailedException>(() => store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None));

        Assert.Contains("403 AuthenticationFailed", e.Message);
        Assert.DoesNotContain(wrong, e.Message);
        Assert.Contains("signature mismatch", server.Rejections);
        Assert.Empty(server.Blobs);
    }

    [Fact]
    public async Task AzureConnectionStringMustBeForTheStoresAccount()
    {
        using var server = new AzureBlobServer("otheraccount");
        var env = new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = server.ConnectionString() };
        using var store = ContextStore.For("https://mllaunchstore.blob.core.windows.net/contexts", "run42", new EnvironmentSettings(), Env(env));
        var e = await Assert.ThrowsAsync<JobFailedException>(() => store.UploadAsync(new MemoryStream(Payload), null, CancellationToken.None));
        Assert.Contains("is for storage account 'otheraccount', but builder.build-context-store is in account 'mllaunchstore'", e.Message);
        Assert.DoesNotContain(server.Key, e.Message);
    }
}
