using Docker.DotNet.Models;
using WandbLaunch.Engine.Cloud.Aws;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Tests.Aws;

namespace WandbLaunch.Engine.DockerTests.Registries;

/// <summary>
/// The login ECR's GetAuthorizationToken hands out (a base64 <c>AWS:&lt;password&gt;</c> token, W&amp;B's
/// <c>registry/elastic_container_registry.py</c>), taken from the AWS stand-in and used by the real engine to push to
/// the real registry, which has user AWS with that password (tools/Start-TestServices.ps1).
/// </summary>
public sealed class EcrLoginRealRegistryTests
{
    private const string AccessKey = "AKIAIOSFODNN7EXAMPLE";
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    [DockerFact]
    public async Task The_ECR_login_pushes_to_a_registry_that_takes_it_and_a_wrong_one_is_refused()
    {
        using var aws = new AwsServer("us-east-1") { EcrPassword = TestServices.RegistryPassword };
        aws.AddKey(AccessKey, SecretKey);
        var environment = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = SecretKey,
            ["AWS_REGION"] = aws.Region,
            ["AWS_ENDPOINT_URL"] = aws.Url.ToString(),
        };
        string? Env(string name) => environment.TryGetValue(name, out var value) ? value : null;
        using var client = new AwsClient(aws.Region, AwsCredentialSource.FromEnvironment(Env), Env);
        var login = await new EcrRegistry(client, AwsServer.Account).GetCredentialAsync(CancellationToken.None);
        Assert.Equal("AWS", login.Username);
        Assert.Equal(1, aws.CallsOf("GetAuthorizationToken"));

        var image = ImageReference.Parse($"{TestServices.Registry}/wbl-ecr-{Guid.NewGuid().ToString("N")[..8]}/base:1");
        using var engine = DockerEngine.Connect(Environment.GetEnvironmentVariable);
        await engine.Client.Images.TagImageAsync(TestServices.BaseImage, new ImageTagParameters { RepositoryName = image.Name, Tag = image.Tag });
        try
        {
            string? error = null;
            await engine.Client.Images.PushImageAsync(image.Name, new ImagePushParameters { Tag = image.Tag },
                new AuthConfig { ServerAddress = image.Registry, Username = login.Username, Password = login.Password },
                new Progress(m => error ??= m.Error?.Message));
            Assert.Null(error);
            using var registry = new RegistryClient();
            Assert.True(await registry.ManifestExistsAsync(image, login, CancellationToken.None));

            // A login ECR did not hand out is refused by the registry.
            var wrong = new RegistryCredential("AWS", "not-the-ecr-password");
            await Assert.ThrowsAnyAsync<Exception>(() => registry.ManifestExistsAsync(image, wrong, CancellationToken.None));
        }
        finally
        {
            await engine.Client.Images.DeleteImageAsync(image.ToString(), new ImageDeleteParameters { Force = true });
        }
    }

    private sealed class Progress(Action<JSONMessage> report) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => report(value);
    }
}
