using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using WandbLaunch.Engine.Agent;
using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.FileSystem;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Queues;
using WandbLaunch.Engine.Registries;
using WandbLaunch.Engine.Secrets;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Specs;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>
/// Secrets never leave in rendered output: the redactor masks every known value wherever it occurs, and previews,
/// job logs and stored failure messages go through it. Real files, a real store, real processes.
/// </summary>
public sealed class SecretsTests
{
    private const string ApiKey = "wbk-0123456789abcdef-SECRET";

    public sealed record Secret(string Value)
    {
        public override string ToString() => JsonSerializer.Serialize(Value);
    }

    /// <summary>Text around the secret: what comes before and after each copy, and how many copies.</summary>
    public sealed record Embedding(string Prefix, string Separator, string Suffix, int Copies)
    {
        public string Around(string secret) => Prefix + string.Join(Separator, Enumerable.Repeat(secret, Copies)) + Suffix;

        public override string ToString() => JsonSerializer.Serialize(this);
    }

    public static class Arbitraries
    {
        // Printable ASCII mostly, with the characters that break naive replacement (the mask's own '*', quotes,
        // escapes, controls) and any other UTF-16 unit now and then.
        private static readonly Gen<char> Chars = Gen.Frequency(
            (6, Gen.Choose(0x20, 0x7e).Select(i => (char)i)),
            (3, Gen.Elements('*', '\\', '"', '\n', '=', '$', '{', '}', '\u001b', '\0', 'é', '\u2028', 'a')),
            (1, Gen.Choose(0, 0xd7ff).Select(i => (char)i)));

        private static Gen<string> Text(int min, int max) =>
            from n in Gen.Choose(min, max)
            from chars in Gen.ArrayOf(Chars, n)
            select new string(chars);

        public static Arbitrary<Secret> Secret() => Text(SecretRedactor.MinLength, 40).Select(s => new Secret(s)).ToArbitrary();

        public static Arbitrary<Embedding> Embedding() =>
            (from prefix in Text(0, 30)
             from separator in Text(0, 5)
             from suffix in Text(0, 30)
             from copies in Gen.Choose(1, 4)
             select new Embedding(prefix, separator, suffix, copies)).ToArbitrary();
    }

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 500)]
    public bool A_secret_never_survives_redaction_wherever_it_is_embedded(Secret secret, Embedding around)
    {
        var redactor = SecretRedactor.Of([secret.Value]);
        return !redactor.Redact(around.Around(secret.Value)).Contains(secret.Value, StringComparison.Ordinal);
    }

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 300)]
    public bool Several_secrets_embedded_in_each_other_s_surroundings_all_disappear(Secret first, Secret second, Embedding around)
    {
        var redactor = SecretRedactor.Of([first.Value, second.Value]);
        var text = around.Around(first.Value + around.Separator + second.Value);
        var redacted = redactor.Redact(text);
        return !redacted.Contains(first.Value, StringComparison.Ordinal) && !redacted.Contains(second.Value, StringComparison.Ordinal);
    }

    [Property(Arbitrary = [typeof(Arbitraries)], MaxTest = 300)]
    public bool The_JSON_escaped_form_of_a_secret_is_masked_too(Secret secret, Embedding around)
    {
        var json = new JsonObject { ["value"] = around.Around(secret.Value) }.ToJsonString();
        var redacted = SecretRedactor.Of([secret.Value]).Redact(json);
        return !redacted.Contains(JsonEncodedText.Encode(secret.Value).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Text_without_a_secret_is_unchanged_and_short_values_are_not_secrets()
    {
        var redactor = SecretRedactor.Of([ApiKey, "abc", "", null]);
        Assert.Equal([ApiKey], redactor.Values);
        Assert.Equal("abc and a plain line", redactor.Redact("abc and a plain line"));
        Assert.Equal("--token=abc***", redactor.Redact("--token=abc" + ApiKey));
    }

    [Fact]
    public void Base64_and_url_encoded_forms_are_masked()
    {
        var redactor = SecretRedactor.Of([ApiKey]);
        var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(ApiKey + ":more"));
        Assert.DoesNotContain(base64[..((ApiKey.Length / 3) * 4)], redactor.Redact("auth: " + base64));
        Assert.DoesNotContain(Uri.EscapeDataString("p@ss/word=1"), SecretRedactor.Of(["p@ss/word=1"]).Redact("https://h/?pw=" + Uri.EscapeDataString("p@ss/word=1")));
    }

    [Fact]
    public void The_environment_s_secrets_are_found_by_name_including_cloud_keys_and_their_parts()
    {
        using var dir = new TempDirectory();
        var google = dir.Write("sa.json", new JsonObject { ["type"] = "service_account", ["private_key"] = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n" }.ToJsonString());
        var env = new Dictionary<string, string>
        {
            ["WANDB_API_KEY"] = ApiKey,
            ["AWS_SECRET_ACCESS_KEY"] = "aws-secret-value-123",
            ["AWS_SESSION_TOKEN"] = "aws-session-token-456",
            ["AZURE_CLIENT_SECRET"] = "azure-client-secret-789",
            ["AZURE_STORAGE_CONNECTION_STRING"] = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=azure-account-key==;EndpointSuffix=core.windows.net",
            ["GOOGLE_APPLICATION_CREDENTIALS"] = google,
            ["DOCKER_CONFIG"] = dir.Path,
            ["PATH"] = "/usr/bin",
        };
        dir.Write("config.json", new JsonObject
        {
            ["auths"] = new JsonObject
            {
                ["registry.example.com"] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("robot:docker-config-password")) },
            },
        }.ToJsonString());
        var redactor = SecretRedactor.FromEnvironment(n => env.GetValueOrDefault(n), new RegistryCredential("user", "registry-parameter-password"));
        var text = string.Join(" | ", ApiKey, "aws-secret-value-123", "aws-session-token-456", "azure-client-secret-789", "key=azure-account-key==",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "docker-config-password", "registry-parameter-password", "/usr/bin");
        var redacted = redactor.Redact(text);
        Assert.Equal("*** | *** | *** | *** | key=*** | *** | *** | *** | /usr/bin", redacted);
    }

    [Fact]
    public void A_spec_s_own_api_key_is_a_secret_for_its_job()
    {
        var spec = LaunchSpec.Parse(new JsonObject { ["_wandb_api_key"] = "spec-level-key-0001" });
        Assert.Equal("k=***", SecretRedactor.None.WithSpec(spec).Redact("k=spec-level-key-0001"));
    }

    [Fact]
    public void The_job_log_masks_secrets_in_output_and_notes_and_is_private_on_unix()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "logs", "job.log");
        using (var log = new JobLog(path, SecretRedactor.Of([ApiKey])))
        {
            log.Output("token is --token=abc" + ApiKey + "xyz");
            log.Agent("starting with " + ApiKey);
            Assert.All(log.Tail(), line => Assert.DoesNotContain(ApiKey, line));
        }
        var text = File.ReadAllText(path);
        Assert.DoesNotContain(ApiKey, text);
        Assert.Contains("--token=abc***xyz", text);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(path));
            Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(path + ".cursor"));
            Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        }
    }

    [Theory]
    [InlineData(LaunchResource.LocalProcess, """{"env": {"TOKEN": "--token=abc${WANDB_API_KEY}xyz"}}""")]
    [InlineData(LaunchResource.LocalContainer, """{"env": ["TOKEN=--token=abc${WANDB_API_KEY}xyz"]}""")]
    [InlineData(LaunchResource.Kubernetes, """{"spec": {"template": {"spec": {"containers": [{"args": ["--token=abc${WANDB_API_KEY}xyz"], "env": [{"name": "TOKEN", "value": "Bearer ${WANDB_API_KEY}"}]}]}}}}""")]
    public async Task A_preview_never_shows_the_api_key_even_when_a_macro_puts_it_inside_a_longer_value(string resource, string config)
    {
        using var dir = new TempDirectory();
        using var backend = new SqliteLaunchBackend(dir.File("launch.db"), "ent");
        var queue = await CreateQueueAsync(backend, resource, config);
        var env = new Dictionary<string, string> { ["WANDB_API_KEY"] = ApiKey, ["KUBECONFIG"] = dir.File("no-kubeconfig"), ["HOME"] = dir.Path };
        var spec = new JsonObject
        {
            ["entity"] = "ent", ["project"] = "p",
            ["docker"] = new JsonObject { ["docker_image"] = "registry.example.com/team/train:1" },
            ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("python3", "train.py") },
        };
        if (resource == LaunchResource.LocalProcess)
        {
            spec.Remove("docker");
            spec["uri"] = dir.Path;
        }
        var job = JobPreview.ForPush(queue, new PushRequest { Spec = spec });
        var rendered = JobPreview.Render(job, new LaunchAgentConfig(), n => env.GetValueOrDefault(n), predictImage: false);
        Assert.DoesNotContain(ApiKey, rendered.Text);
        Assert.DoesNotContain(ApiKey, rendered.Summary);
        Assert.Contains("abc***xyz", rendered.Text);
    }

    [Fact]
    public async Task A_preview_of_additional_services_never_shows_the_api_key()
    {
        using var dir = new TempDirectory();
        using var backend = new SqliteLaunchBackend(dir.File("launch.db"), "ent");
        var queue = await CreateQueueAsync(backend, LaunchResource.Kubernetes, "{}");
        var env = new Dictionary<string, string> { ["WANDB_API_KEY"] = ApiKey, ["KUBECONFIG"] = dir.File("no-kubeconfig"), ["HOME"] = dir.Path };
        var spec = new JsonObject
        {
            ["entity"] = "ent", ["project"] = "p",
            ["docker"] = new JsonObject { ["docker_image"] = "registry.example.com/team/train:1" },
            // kubernetes_runner.py substitutes the agent's environment in additional_services too.
            ["additional_services"] = JsonNode.Parse("""
                [{"config": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"token": "Bearer ${WANDB_API_KEY}"}}},
                 {"config": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i", "args": ["--key=${WANDB_API_KEY}"]}]}}}]
                """),
        };
        var job = JobPreview.ForPush(queue, new PushRequest { Spec = spec });
        var rendered = JobPreview.Render(job, new LaunchAgentConfig(), n => env.GetValueOrDefault(n), predictImage: false);
        Assert.DoesNotContain(ApiKey, rendered.Text);
        Assert.Contains("Bearer ***", rendered.Text);
        Assert.Contains("--key=***", rendered.Text);
        // The services' own key is a reference to the run's Secret.
        Assert.Contains("secretKeyRef:", rendered.Text);
    }

    [Fact]
    public async Task A_preview_error_naming_the_key_is_redacted()
    {
        using var dir = new TempDirectory();
        using var backend = new SqliteLaunchBackend(dir.File("launch.db"), "ent");
        // The key, expanded into the manifest's apiVersion, makes rendering fail with a message that quotes it.
        var queue = await CreateQueueAsync(backend, LaunchResource.Kubernetes, """{"apiVersion": "x${WANDB_API_KEY}/v1", "kind": "${WANDB_API_KEY}"}""");
        var env = new Dictionary<string, string> { ["WANDB_API_KEY"] = ApiKey, ["KUBECONFIG"] = dir.File("none"), ["HOME"] = dir.Path };
        var spec = new JsonObject { ["docker"] = new JsonObject { ["docker_image"] = "img:1" } };
        var job = JobPreview.ForPush(queue, new PushRequest { Spec = spec });
        try
        {
            var rendered = JobPreview.Render(job, new LaunchAgentConfig(), n => env.GetValueOrDefault(n), predictImage: false);
            Assert.DoesNotContain(ApiKey, rendered.Text);
        }
        catch (LaunchException e)
        {
            Assert.DoesNotContain(ApiKey, e.Message);
            Assert.DoesNotContain(ApiKey, e.ToString());
        }
    }

    [Fact]
    public async Task An_agent_stores_no_secret_in_a_failure_message_and_writes_none_to_the_log()
    {
        if (OperatingSystem.IsWindows()) return;
        using var dir = new TempDirectory();
        var db = dir.File("launch.db");
        using var backend = new SqliteLaunchBackend(db, "ent");
        var queue = await CreateQueueAsync(backend, LaunchResource.LocalProcess, """{"env": {"TOKEN": "--token=abc${WANDB_API_KEY}xyz"}}""");
        var job = await backend.PushAsync(new QueueKey("ent", LaunchDefaults.Project, queue.Name), new PushRequest
        {
            Spec = new JsonObject
            {
                ["entity"] = "ent", ["project"] = "p", ["uri"] = dir.Path,
                // Prints the token and fails: the failure message quotes the job's last output.
                ["overrides"] = new JsonObject { ["entry_point"] = new JsonArray("/bin/sh", "-c", "echo \"$TOKEN\"; echo \"key $WANDB_API_KEY\" >&2; exit 3") },
            },
        }, CancellationToken.None);

        var env = new Dictionary<string, string> { ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin" };
        using var agentBackend = new SqliteLaunchBackend(db, "ent");
        var events = new RecordingAgentEvents();
        var agent = new LaunchAgent(agentBackend, new AgentOptions
        {
            Config = new LaunchAgentConfig { Queues = [queue.Name], Entity = "ent" },
            Name = "secrets-agent",
            Environment = n => env.GetValueOrDefault(n),
            WorkDirectory = dir.File("runs"),
            PollingInterval = TimeSpan.FromMilliseconds(100),
        }, events);
        // Set after the agent was made, as a session sets $env:WANDB_API_KEY after starting an agent job: it reaches
        // the job, so the agent must know it too.
        env["WANDB_API_KEY"] = ApiKey;
        using var cts = new CancellationTokenSource();
        var run = Task.Run(() => agent.RunAsync(cts.Token));
        try
        {
            var ended = await WaitForJob.EndAsync(backend, job.Id, TimeSpan.FromSeconds(60));
            Assert.Equal(LaunchJobState.Failed, ended.State);
            var stored = string.Join("\n", [ended.FailureMessage, .. ended.Warnings.Select(w => w.Message), ended.GetSpec().ToJson()]);
            Assert.DoesNotContain(ApiKey, stored);
            Assert.Contains("***", ended.FailureMessage ?? "");
            var log = File.ReadAllText(ended.LogPath!);
            Assert.Contains("--token=abc***xyz", log);
            Assert.DoesNotContain(ApiKey, log);
            Assert.DoesNotContain(events.All, e => e.Message.Contains(ApiKey, StringComparison.Ordinal));
            Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(ended.LogPath!));
            Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(agentBackend.LogDirectory));
            Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(dir.File("runs")));
        }
        finally
        {
            cts.Cancel();
            await run.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public void A_new_store_its_wal_and_shm_are_private_and_an_open_store_is_tightened()
    {
        if (OperatingSystem.IsWindows()) return;
        using var dir = new TempDirectory();
        var storeDir = Path.Combine(dir.Path, "new", "store");
        var db = Path.Combine(storeDir, "launch.db");
        using (var backend = new SqliteLaunchBackend(db, "ent"))
        {
            backend.EnsureOpen();
            Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(storeDir));
            foreach (var file in new[] { db, db + "-wal", db + "-shm" })
            {
                Assert.True(File.Exists(file), $"{file} exists while the store is open");
                Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(file));
            }
        }
        const UnixFileMode open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        File.SetUnixFileMode(db, open);
        using (var again = new SqliteLaunchBackend(db, "ent"))
        {
            again.EnsureOpen();
            Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(db));
        }
    }

    [Fact]
    public void A_folder_the_user_chose_is_not_changed_but_the_module_s_own_are_created_private()
    {
        if (OperatingSystem.IsWindows()) return;
        using var dir = new TempDirectory();
        const UnixFileMode shared = PrivateFiles.DirectoryMode | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;
        File.SetUnixFileMode(dir.Path, shared);
        using (var backend = new SqliteLaunchBackend(Path.Combine(dir.Path, "launch.db"), "ent")) backend.EnsureOpen();
        Assert.Equal(shared, File.GetUnixFileMode(dir.Path));
        Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(Path.Combine(dir.Path, "launch.db")));
    }

    private static async Task<LaunchQueue> CreateQueueAsync(SqliteLaunchBackend backend, string resource, string config)
    {
        var name = "q-" + resource;
        await backend.CreateQueueAsync(new QueueDefinition
        {
            Name = name, Entity = "ent", Project = LaunchDefaults.Project, Resource = resource, Configuration = JsonNode.Parse(config),
        }, CancellationToken.None);
        return (await backend.GetQueueAsync(new QueueKey("ent", LaunchDefaults.Project, name), CancellationToken.None))!;
    }
}
