using WandbLaunch.Engine.Config;
using WandbLaunch.Engine.Documents;

namespace WandbLaunch.Engine.Tests.Config;

public class AgentConfigValidatorTests
{
    private const string File = "/home/me/.config/wandb/launch-config.yaml";

    private static AgentConfigValidator.Result Validate(string yaml) =>
        AgentConfigValidator.Validate(StructuredText.Parse(yaml, File, "InvalidAgentConfigYaml"));

    private static LaunchAgentConfig Valid(string yaml)
    {
        var result = Validate(yaml);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Config!;
    }

    private static ConfigIssue SingleError(string yaml, string errorId)
    {
        var result = Validate(yaml);
        Assert.False(result.IsValid);
        Assert.Null(result.Config);
        var error = Assert.Single(result.Errors);
        Assert.Equal(errorId, error.ErrorId);
        Assert.Equal(ConfigIssueSeverity.Error, error.Severity);
        return error;
    }

    [Fact]
    public void A_realistic_launch_config_as_wandb_documents_it_reads_without_change()
    {
        const string yaml = """
            # W&B entity (i.e. user or team) name
            entity: my-team

            # Max number of concurrent runs to perform. -1 = no limit
            max_jobs: -1

            # List of queues to poll.
            queues:
              - gpu-queue
              - cpu-queue

            # Cloud environment config.
            environment:
              type: aws
              region: us-east-1

            builder:
              type: kaniko
              destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repository
              build-context-store: s3://my-bucket/build-contexts/
              build-job-name: wandb-image-build
              secret-name: regcred
              secret-key: .dockerconfigjson
              kaniko-image: gcr.io/kaniko-project/executor:v1.11.0
              kaniko-config:
                spec:
                  template:
                    spec:
                      containers:
                        - args:
                            - "--cache=false"
                          env:
                            - name: "MY_ENV_VAR"
                              value: "my-env-var-value"

            max_schedulers: 2
            secure_mode: true
            verbosity: 1
            stopped_run_timeout: 120
            """;

        var result = Validate(yaml);
        Assert.Empty(result.Issues);
        var config = result.Config!;

        Assert.Equal(File, config.Path);
        Assert.Equal("my-team", config.Entity);
        Assert.Equal(-1, config.MaxJobs);
        Assert.Equal(["gpu-queue", "cpu-queue"], config.Queues);
        Assert.Equal(2, config.MaxSchedulers);
        Assert.True(config.SecureMode);
        Assert.Equal(1, config.Verbosity);
        Assert.Equal(120, config.StoppedRunTimeout);
        Assert.Equal("aws", config.Environment.Type);
        Assert.Equal("us-east-1", config.Environment.Region);
        Assert.Equal("kaniko", config.Builder.Type);
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repository", config.Builder.Destination);
        Assert.Equal("s3://my-bucket/build-contexts/", config.Builder.BuildContextStore);
        Assert.Equal("wandb-image-build", config.Builder.BuildJobName);
        Assert.Equal("regcred", config.Builder.SecretName);
        Assert.Equal(".dockerconfigjson", config.Builder.SecretKey);
        Assert.Equal("gcr.io/kaniko-project/executor:v1.11.0", config.Builder.KanikoImage);
        Assert.NotNull(config.Builder.KanikoConfig);
        // The document keeps every key exactly as written.
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(StructuredText.Parse(yaml).Root, config.GetDocument()));
    }

    [Fact]
    public void Gcp_and_azure_examples_read_without_errors()
    {
        var gcp = Valid("""
            environment:
              type: gcp
              region: us-central1
              project: my-project
            builder:
              type: docker
              destination: us-central1-docker.pkg.dev/my-project/my-repo/my-image
              platform: linux/amd64
            """);
        Assert.Equal("my-project", gcp.Environment.Project);
        Assert.Equal("linux/amd64", gcp.Builder.Platform);

        var azure = Valid("""
            environment:
              type: azure
            builder:
              type: kaniko
              build-context-store: https://mystorageaccount.blob.core.windows.net/my-container/contexts
              destination: https://myregistry.azurecr.io/my-repository
            """);
        Assert.Equal("myregistry.azurecr.io/my-repository", azure.Builder.Destination);
        Assert.Null(azure.Environment.Region);
    }

    [Fact]
    public void An_empty_document_gives_wandbs_defaults()
    {
        var config = Valid("");
        Assert.Empty(config.Queues);
        Assert.Null(config.Entity);
        Assert.Equal(1, config.MaxJobs);
        Assert.Equal(1, config.MaxSchedulers);
        Assert.False(config.SecureMode);
        Assert.Equal(0, config.Verbosity);
        Assert.Equal(60, config.StoppedRunTimeout);
        Assert.Null(config.Builder.Type);
        Assert.Empty(config.GetDocument());
    }

    [Theory]
    [InlineData("max_jobs: -2", "InvalidMaxJobs", "max_jobs")]
    [InlineData("max_jobs: 0", "InvalidMaxJobs", "max_jobs")]
    [InlineData("max_jobs: abc", "InvalidMaxJobs", "max_jobs")]
    [InlineData("max_jobs: 1.5", "InvalidMaxJobs", "max_jobs")]
    [InlineData("max_jobs: [1]", "InvalidMaxJobs", "max_jobs")]
    [InlineData("max_schedulers: -2", "InvalidMaxSchedulers", "max_schedulers")]
    [InlineData("max_schedulers: many", "InvalidMaxSchedulers", "max_schedulers")]
    [InlineData("secure_mode: 1", "InvalidSecureMode", "secure_mode")]
    [InlineData("secure_mode: \"true\"", "InvalidSecureMode", "secure_mode")]
    [InlineData("verbosity: 3", "InvalidVerbosity", "verbosity")]
    [InlineData("verbosity: -1", "InvalidVerbosity", "verbosity")]
    [InlineData("stopped_run_timeout: 0", "InvalidStoppedRunTimeout", "stopped_run_timeout")]
    [InlineData("stopped_run_timeout: soon", "InvalidStoppedRunTimeout", "stopped_run_timeout")]
    [InlineData("entity: 5", "InvalidEntity", "entity")]
    [InlineData("entity: [a]", "InvalidEntity", "entity")]
    [InlineData("queues: gpu", "InvalidQueues", "queues")]
    [InlineData("queues: [7]", "InvalidQueues", "queues[0]")]
    [InlineData("queues: [ok, \"bad*\"]", "InvalidQueues", "queues[1]")]
    [InlineData("queue: [a]", "InvalidQueues", "queue")]
    [InlineData("queue: \"\"", "InvalidQueues", "queue")]
    [InlineData("builder: docker", "InvalidBuilder", "builder")]
    [InlineData("builder: {type: podman}", "InvalidBuilderType", "builder.type")]
    [InlineData("builder: {type: Docker}", "InvalidBuilderType", "builder.type")]
    [InlineData("builder: {platform: linux/386}", "InvalidPlatform", "builder.platform")]
    [InlineData("builder: {platform: amd64}", "InvalidPlatform", "builder.platform")]
    [InlineData("builder: {build-context-store: ftp://host/x}", "InvalidBuildContextStore", "builder.build-context-store")]
    [InlineData("builder: {build-context-store: s3://}", "InvalidBuildContextStore", "builder.build-context-store")]
    [InlineData("builder: {build-context-store: https://example.com/c}", "InvalidBuildContextStore", "builder.build-context-store")]
    [InlineData("builder: {type: kaniko}", "MissingBuildContextStore", "builder")]
    [InlineData("builder: {build-job-name: Build_Job}", "InvalidBuildJobName", "builder.build-job-name")]
    [InlineData("builder: {secret-name: regcred}", "SecretNameKeyMismatch", "builder.secret-name")]
    [InlineData("builder: {secret-key: .dockerconfigjson}", "SecretNameKeyMismatch", "builder.secret-key")]
    [InlineData("builder: {kaniko-image: 5}", "InvalidKanikoImage", "builder.kaniko-image")]
    [InlineData("builder: {kaniko-config: [1]}", "InvalidKanikoConfig", "builder.kaniko-config")]
    [InlineData("registry: ecr", "InvalidRegistry", "registry")]
    [InlineData("registry: {type: dockerhub}", "InvalidRegistryType", "registry.type")]
    [InlineData("environment: aws", "InvalidEnvironment", "environment")]
    [InlineData("environment: {type: oracle}", "InvalidEnvironmentType", "environment.type")]
    [InlineData("environment: {region: us-east-1}", "MissingEnvironmentType", "environment")]
    [InlineData("environment: {type: aws}", "MissingEnvironmentRegion", "environment")]
    [InlineData("environment: {type: gcp, project: p}", "MissingEnvironmentRegion", "environment")]
    [InlineData("environment: {type: aws, region: \" \"}", "MissingEnvironmentRegion", "environment")]
    [InlineData("environment: {type: azure, region: 5}", "InvalidEnvironmentRegion", "environment.region")]
    [InlineData("environment: {type: azure, project: [p]}", "InvalidEnvironmentProject", "environment.project")]
    [InlineData("registry: {type: ecr, uri: 5}", "InvalidRegistryUri", "registry.uri")]
    public void Each_key_is_checked_with_its_own_error_id(string yaml, string errorId, string key)
    {
        var error = SingleError(yaml, errorId);
        Assert.Equal(key, error.Key);
        Assert.Equal(File, error.File);
        Assert.Equal(1, error.Line);
        Assert.StartsWith($"{File}:1:", error.ToString());
    }

    [Theory]
    [InlineData("registry.example.com/team/images:v1", "tag")]
    [InlineData("localhost:5000/images:latest", "tag")]
    [InlineData("images:latest", "tag")]
    [InlineData("registry.example.com/team/images@sha256:0123456789abcdef", "digest")]
    [InlineData("123456789012.dkr.ecr.us-east-1.amazonaws.com", "ECR")]
    [InlineData("https://123456789012.dkr.ecr.eu-west-2.amazonaws.com/", "ECR")]
    [InlineData("us-central1-docker.pkg.dev/my-project/my-repo", "image name")]
    [InlineData("us-central1-docker.pkg.dev/my-project", "image name")]
    [InlineData("myregistry.azurecr.io", "Azure")]
    [InlineData("registry.example.com/Team/Images", "repository path")]
    [InlineData("  ", "empty")]
    public void Destinations_with_a_tag_digest_or_missing_repository_are_refused(string destination, string reason)
    {
        var error = SingleError($"builder:\n  destination: \"{destination}\"\n", "InvalidDestination");
        Assert.Equal("builder.destination", error.Key);
        Assert.Equal(2, error.Line);
        Assert.Equal(3, error.Column);
        Assert.Contains(reason, error.Message);
    }

    [Theory]
    [InlineData("https://registry.example.com/team/images", "registry.example.com/team/images")]
    [InlineData("HTTPS://registry.example.com/team/images/", "registry.example.com/team/images")]
    [InlineData("localhost:5000/images", "localhost:5000/images")]
    [InlineData("localhost:5000", "localhost:5000")]
    [InlineData("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo", "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo")]
    [InlineData("us-central1-docker.pkg.dev/my-project/my-repo/my-image", "us-central1-docker.pkg.dev/my-project/my-repo/my-image")]
    [InlineData("gcr.io/my-project/my-image", "gcr.io/my-project/my-image")]
    [InlineData("myregistry.azurecr.io/team/img", "myregistry.azurecr.io/team/img")]
    [InlineData("my-registry.example.com/my-repository", "my-registry.example.com/my-repository")]
    public void Valid_destinations_are_accepted_without_the_https_prefix(string destination, string expected)
    {
        Assert.Equal(expected, Valid($"builder:\n  destination: {destination}\n").Builder.Destination);
    }

    [Theory]
    [InlineData("s3://my-bucket")]
    [InlineData("s3://my-bucket/some/prefix")]
    [InlineData("gs://my_bucket/prefix")]
    [InlineData("https://account123.blob.core.windows.net/container/prefix")]
    public void Supported_build_context_stores_are_accepted(string store)
    {
        Assert.Equal(store, Valid($"builder:\n  type: kaniko\n  build-context-store: {store}\n").Builder.BuildContextStore);
    }

    [Theory]
    [InlineData("linux/amd64")]
    [InlineData("linux/arm64")]
    public void Supported_platforms_are_accepted(string platform)
    {
        Assert.Equal(platform, Valid($"builder:\n  platform: {platform}\n").Builder.Platform);
    }

    [Theory]
    [InlineData("docker")]
    [InlineData("noop")]
    public void Docker_and_noop_builders_need_no_store(string type)
    {
        Assert.Equal(type, Valid($"builder:\n  type: {type}\n").Builder.Type);
    }

    [Fact]
    public void Errors_carry_the_file_line_and_column_of_the_offending_key()
    {
        var result = Validate("""
            queues:
              - a
            max_jobs: -2
            builder:
              type: kaniko
              platform: windows/amd64
            """);

        var errors = result.Errors.ToList();
        Assert.Equal(["InvalidMaxJobs", "InvalidPlatform", "MissingBuildContextStore"], errors.Select(e => e.ErrorId).Order());
        var maxJobs = errors.Single(e => e.ErrorId == "InvalidMaxJobs");
        Assert.Equal(new SourcePosition(File, 3, 1), maxJobs.Position);
        Assert.Contains("-2", maxJobs.Message);
        var platform = errors.Single(e => e.ErrorId == "InvalidPlatform");
        Assert.Equal((File, 6, 3), (platform.File, platform.Line!.Value, platform.Column!.Value));
        Assert.Contains("linux/amd64, linux/arm64", platform.Message);
        Assert.Equal(4, errors.Single(e => e.ErrorId == "MissingBuildContextStore").Line);
    }

    [Fact]
    public void Unknown_top_level_keys_are_refused_with_the_list_of_valid_keys()
    {
        var error = SingleError("queues: [a]\nmax-jobs: 2\n", "UnknownAgentConfigKey");
        Assert.Equal("max-jobs", error.Key);
        Assert.Equal(2, error.Line);
        Assert.Contains("did you mean 'max_jobs'", error.Message);
        foreach (var key in AgentConfigValidator.TopLevelKeys) Assert.Contains(key, error.Message);
    }

    [Fact]
    public void A_document_that_is_not_a_mapping_is_refused()
    {
        var error = SingleError("- a\n- b\n", "AgentConfigNotMapping");
        Assert.Contains("list", error.Message);
    }

    [Fact]
    public void The_deprecated_registry_block_is_a_warning_that_suggests_builder_destination()
    {
        var result = Validate("registry:\n  type: ecr\n  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo\n");
        Assert.True(result.IsValid);
        var warning = Assert.Single(result.Issues);
        Assert.Equal(ConfigIssueSeverity.Warning, warning.Severity);
        Assert.Equal("DeprecatedRegistryKey", warning.ErrorId);
        Assert.Equal(1, warning.Line);
        Assert.Contains("builder.destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo", warning.Message);
        Assert.Same(warning, Assert.Single(result.Config!.Warnings));
        Assert.Equal("ecr", result.Config.Registry.Type);
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/repo", result.Config.Registry.Uri);
    }

    [Fact]
    public void An_empty_registry_block_is_not_deprecated_usage()
    {
        Assert.Empty(Validate("registry: {}\n").Issues);
    }

    // As W&B's loader (environment_from_config) takes them; W&B's pydantic AgentConfig is stricter (design-notes.md).
    [Theory]
    [InlineData("environment: {type: azure}\n")]
    [InlineData("environment: {type: local}\n")]
    [InlineData("environment: {type: aws, region: eu-west-1}\n")]
    [InlineData("environment: {type: gcp, region: us-central1}\n")]
    public void Environment_blocks_the_loader_accepts_have_no_issues(string yaml)
    {
        var result = Validate(yaml);
        Assert.True(result.IsValid);
        Assert.Empty(result.Issues);
    }

    [Fact]
    public void Unknown_environment_and_builder_keys_are_warnings()
    {
        var result = Validate("environment:\n  type: azure\n  zone: eu\nbuilder:\n  type: docker\n  cache: true\n");
        Assert.True(result.IsValid);
        Assert.Equal(["UnknownBuilderKey", "UnknownEnvironmentKey"], result.Issues.Select(i => i.ErrorId).Order());
        Assert.All(result.Issues, i => Assert.Equal(ConfigIssueSeverity.Warning, i.Severity));
        var env = result.Issues.Single(i => i.ErrorId == "UnknownEnvironmentKey");
        Assert.Equal("environment.zone", env.Key);
        Assert.Equal(3, env.Line);
        Assert.Equal(3, env.Column);
    }

    [Fact]
    public void A_build_context_store_with_the_docker_builder_is_ignored_with_a_warning()
    {
        var result = Validate("builder:\n  type: docker\n  build-context-store: s3://bucket\n");
        Assert.True(result.IsValid);
        Assert.Equal("BuildContextStoreIgnored", Assert.Single(result.Issues).ErrorId);
    }

    [Fact]
    public void Secret_name_and_key_together_are_fine()
    {
        var config = Valid("builder:\n  secret-name: regcred\n  secret-key: config.json\n");
        Assert.Equal("regcred", config.Builder.SecretName);
        Assert.Equal("config.json", config.Builder.SecretKey);
    }

    [Fact]
    public void The_queue_key_is_added_to_queues_once()
    {
        Assert.Equal(["a", "b"], Valid("queues: [a]\nqueue: b\n").Queues);
        Assert.Equal(["a"], Valid("queues: [a]\nqueue: a\n").Queues);
        Assert.Equal(["solo"], Valid("queue: solo\n").Queues);
        Assert.Equal(["a", "b"], Valid("queues: [a, b, a]\n").Queues);
    }

    [Theory]
    [InlineData("max_jobs: -1", -1)]
    [InlineData("max_jobs: 1", 1)]
    [InlineData("max_jobs: 50", 50)]
    [InlineData("max_jobs: \"5\"", 5)]
    public void Max_jobs_accepts_minus_one_and_positive_whole_numbers(string yaml, int expected)
    {
        Assert.Equal(expected, Valid(yaml).MaxJobs);
    }

    [Fact]
    public void Null_values_mean_not_set()
    {
        var config = Valid("entity:\nbuilder:\nenvironment:\nregistry:\nmax_jobs:\n");
        Assert.Null(config.Entity);
        Assert.Equal(1, config.MaxJobs);
        Assert.Null(config.Builder.Type);
        Assert.Null(config.Environment.Type);
    }

    [Fact]
    public void All_errors_are_reported_not_just_the_first()
    {
        var result = Validate("max_jobs: 0\nverbosity: 9\nbuilder: {type: x, platform: y}\nfoo: 1\n");
        Assert.Equal(5, result.Errors.Count());
    }

    // W&B's loader.py (registry_from_config) gives the builder the registry; docker_builder.py / kaniko_builder.py push
    // to its uri unless builder.destination is set, which wins.
    [Fact]
    public void Registry_uri_is_the_destination_when_builder_destination_is_absent_as_in_wandb_loader_and_docker_builder()
    {
        var config = Valid("registry: {type: ecr, uri: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com/repo'}\nbuilder: {type: docker}\n");
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/repo", config.Builder.Destination);
        Assert.Equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/repo", config.Registry.Uri);
        Assert.Equal("myreg.azurecr.io/repo", Valid("registry: {type: acr, uri: myreg.azurecr.io/repo}\n").Builder.Destination);

        var both = Valid("registry: {type: ecr, uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo}\nbuilder: {destination: registry.example.com/team/img}\n");
        Assert.Equal("registry.example.com/team/img", both.Builder.Destination);
    }

    // W&B's loader.py: a registry block without a type is LocalRegistry, which pushes nowhere, whatever its uri.
    [Fact]
    public void A_registry_uri_without_a_type_is_not_a_destination_and_says_so_as_wandb_loader_local_registry()
    {
        var result = Validate("registry: {uri: registry.example.com/team/img}\n");
        Assert.True(result.IsValid);
        Assert.Null(result.Config!.Builder.Destination);
        Assert.Contains(result.Issues, i => i.ErrorId == "RegistryUriIgnored" && i.Key == "registry.uri" && i.Severity == ConfigIssueSeverity.Warning);
    }

    // W&B's ElasticContainerRegistry / GoogleArtifactRegistry (registry/*.py) build the uri from their parts.
    [Theory]
    [InlineData("registry: {type: ecr, account_id: '123456789012', region: eu-west-1, repo_name: team/img}\n", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/img")]
    [InlineData("registry: {type: gcr, region: europe-west4, project: my-proj, repository: repo, image-name: img}\n", "europe-west4-docker.pkg.dev/my-proj/repo/img")]
    [InlineData("registry: {type: gcr, region: europe-west4, repository: repo, image-name: img}\nenvironment: {type: gcp, region: europe-west4, project: env-proj}\n", "europe-west4-docker.pkg.dev/env-proj/repo/img")]
    public void Registry_parts_make_the_uri_as_wandb_registry_classes_make_it(string yaml, string expected)
    {
        var config = Valid(yaml);
        Assert.Equal(expected, config.Registry.Uri);
        Assert.Equal(expected, config.Builder.Destination);
    }

    [Theory]
    [InlineData("registry: {type: ecr, uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo, region: us-east-1}\n", "RegistryUriAndParts", "registry.region")]
    [InlineData("registry: {type: ecr, account_id: '123456789012', region: eu-west-1}\n", "MissingRegistryUri", "registry.repo_name")]
    [InlineData("registry: {type: gcr, region: europe-west4, repository: repo, image-name: img}\n", "MissingRegistryUri", "registry.project")]
    [InlineData("registry: {type: acr}\n", "MissingRegistryUri", "azurecr.io")]
    [InlineData("registry: {type: ecr, uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo, repository: x}\n", "UnknownRegistryKey", "account_id, region, repo_name")]
    [InlineData("registry: {type: ecr, uri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:v1'}\n", "InvalidRegistryUri", "registry.uri")]
    [InlineData("registry: {type: ecr, uri: myreg.azurecr.io/repo}\n", "InvalidRegistryUri", "not an ECR repository")]
    [InlineData("registry: {type: acr, uri: registry.example.com/team/img}\n", "InvalidRegistryUri", "azurecr.io")]
    public void Registry_blocks_wandb_refuses_are_refused(string yaml, string errorId, string named)
    {
        var error = SingleError(yaml, errorId);
        Assert.Contains(named, error.Message);
    }
}
