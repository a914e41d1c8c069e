using System.Text.Json.Nodes;
using Docker.DotNet.Models;
using WandbLaunch.Engine.Docker;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.DockerTests.Runners;

public class ContainerArgsTests
{
    private static CreateContainerParameters Apply(string json)
    {
        var container = new CreateContainerParameters { Env = ["WANDB_RUN_ID=abc"] };
        ContainerArgs.Apply((JsonObject)JsonNode.Parse(json)!, container);
        return container;
    }

    private static LaunchException Refused(string json) =>
        Assert.ThrowsAny<LaunchException>(() => Apply(json));

    [Theory]
    [InlineData("\"512m\"", 512L << 20)]
    [InlineData("\"512M\"", 512L << 20)]
    [InlineData("\"512mb\"", 512L << 20)]
    [InlineData("\"2g\"", 2L << 30)]
    [InlineData("\"1.5g\"", 3L << 29)]
    [InlineData("\"100k\"", 100L << 10)]
    [InlineData("\"1t\"", 1L << 40)]
    [InlineData("\"4096\"", 4096L)]
    [InlineData("\"4096b\"", 4096L)]
    [InlineData("67108864", 67108864L)]
    public void Sizes_are_read_as_docker_reads_them(string value, long bytes)
    {
        var container = Apply($$"""{"memory": {{value}}, "shm-size": {{value}}, "memory-reservation": {{value}}}""");
        Assert.Equal(bytes, container.HostConfig.Memory);
        Assert.Equal(bytes, container.HostConfig.ShmSize);
        Assert.Equal(bytes, container.HostConfig.MemoryReservation);
    }

    [Fact]
    public void M_is_memory()
    {
        Assert.Equal(64L << 20, Apply("""{"m": "64m"}""").HostConfig.Memory);
    }

    [Theory]
    [InlineData("\"1g\"", 1L << 30)]
    [InlineData("2147483648", 2L << 30)]
    [InlineData("-1", -1L)]
    [InlineData("\"-1\"", -1L)]
    public void Memory_swap_is_a_size_or_minus_one_for_unlimited(string value, long bytes)
    {
        Assert.Equal(bytes, Apply($$"""{"memory": "512m", "memory-swap": {{value}}}""").HostConfig.MemorySwap);
    }

    [Fact]
    public void Cpu_settings_become_the_engine_api_numbers()
    {
        var host = Apply("""
            {"cpus": 1.5, "cpu-period": 100000, "cpu-quota": 50000, "cpu-shares": 512, "cpuset-cpus": "0-1", "cpuset-mems": "0",
             "cpu-rt-period": 1000000, "cpu-rt-runtime": 950000, "pids-limit": 50, "memory-swappiness": 10}
            """).HostConfig;
        Assert.Equal(1_500_000_000L, host.NanoCPUs);
        Assert.Equal(100000L, host.CPUPeriod);
        Assert.Equal(50000L, host.CPUQuota);
        Assert.Equal(512L, host.CPUShares);
        Assert.Equal("0-1", host.CpusetCpus);
        Assert.Equal("0", host.CpusetMems);
        Assert.Equal(1000000L, host.CPURealtimePeriod);
        Assert.Equal(950000L, host.CPURealtimeRuntime);
        Assert.Equal(50L, host.PidsLimit);
        Assert.Equal(10L, host.MemorySwappiness);
    }

    [Fact]
    public void Cpus_may_be_a_string()
    {
        Assert.Equal(500_000_000L, Apply("""{"cpus": "0.5"}""").HostConfig.NanoCPUs);
    }

    [Fact]
    public void Gpus_all_is_a_device_request_for_every_gpu()
    {
        var request = Assert.Single(Apply("""{"gpus": "all"}""").HostConfig.DeviceRequests);
        Assert.Equal(-1L, request.Count);
        Assert.Equal(["gpu"], Assert.Single(request.Capabilities));
        Assert.Equal("", request.Driver);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("\"2\"")]
    public void Gpus_as_a_number_asks_for_that_many(string value)
    {
        var request = Assert.Single(Apply($$"""{"gpus": {{value}}}""").HostConfig.DeviceRequests);
        Assert.Equal(2L, request.Count);
        Assert.Equal(["gpu"], Assert.Single(request.Capabilities));
    }

    [Theory]
    [InlineData("\\\"device=0,2\\\"")]
    [InlineData("\\\"device=0,2\\\",driver=nvidia")]
    public void Gpus_device_list_asks_for_those_devices(string value)
    {
        var request = Assert.Single(Apply($$"""{"gpus": "{{value}}"}""").HostConfig.DeviceRequests);
        Assert.Equal(["0", "2"], request.DeviceIDs);
        Assert.Equal(0L, request.Count);
        Assert.Equal(["gpu"], Assert.Single(request.Capabilities));
    }

    // W&B (runner/local_container.py get_docker_command) hands the value to `docker run --gpus`; docker/cli
    // opts/gpus.go reads it as one CSV record, so an unquoted device list is a device and a count, which the
    // engine refuses when the container starts. We refuse it when the job is submitted, naming the quoting.
    [Fact]
    public void Gpus_unquoted_device_list_is_refused_as_docker_would_read_it()
    {
        var e = Refused("""{"gpus": "device=0,2"}""");
        Assert.Equal("gpus", e.Target);
        Assert.Contains("quote a device list", e.Message);
    }

    [Fact]
    public void Gpus_takes_dockers_fields_count_driver_capabilities_and_options()
    {
        var request = Assert.Single(Apply("""{"gpus": "count=2,driver=nvidia,capabilities=compute,\"options=a=1,b=2\""}""").HostConfig.DeviceRequests);
        Assert.Equal(2L, request.Count);
        Assert.Equal("nvidia", request.Driver);
        Assert.Equal(["compute", "gpu"], Assert.Single(request.Capabilities));
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" }, request.Options);
        Assert.Equal(1L, Assert.Single(Apply("""{"gpus": "driver=nvidia"}""").HostConfig.DeviceRequests).Count);
    }

    [Theory]
    [InlineData("count=1,count=2")]
    [InlineData("2,count=2")]
    [InlineData("colour=red")]
    [InlineData("\\\"device=0")]
    public void Gpus_fields_docker_refuses_are_refused(string value)
    {
        Assert.Equal("gpus", Refused($$"""{"gpus": "{{value}}"}""").Target);
    }

    // W&B utils.py _docker_arg_name: strip, drop leading dashes, '_' as '-', lower case, before the allow-list.
    [Theory]
    [InlineData("memory", "memory")]
    [InlineData("--memory", "memory")]
    [InlineData("-m", "m")]
    [InlineData(" --Shm_Size ", "shm-size")]
    [InlineData("CPU_SHARES", "cpu-shares")]
    [InlineData("pids_limit", "pids-limit")]
    public void Keys_are_normalised_as_wandb_normalises_them(string key, string normalised)
    {
        Assert.Equal(normalised, ContainerArgs.Normalise(key));
    }

    [Fact]
    public void Normalised_keys_are_applied_as_their_docker_option()
    {
        var container = Apply("""{"--memory": "1g", "Shm_Size": "64m", "-e": "A=1", "CPU_SHARES": 512, "--WORKDIR": "/w"}""");
        Assert.Equal(1L << 30, container.HostConfig.Memory);
        Assert.Equal(64L << 20, container.HostConfig.ShmSize);
        Assert.Equal(512, container.HostConfig.CPUShares);
        Assert.Equal("/w", container.WorkingDir);
        Assert.Contains("A=1", container.Env);
    }

    // W&B utils.py allows `cpu`, but local_container.py get_docker_command passes it as `docker run --cpu`, which
    // docker does not have: the run fails. We refuse it when the job is submitted, listing cpus
    // (docs/differences-from-wandb.md).
    [Fact]
    public void Cpu_which_docker_run_does_not_have_is_refused_pointing_at_cpus()
    {
        var e = Refused("""{"cpu": 2}""");
        Assert.Equal("UnsupportedContainerArgument", e.ErrorId);
        Assert.Equal("cpu", e.Target);
        Assert.Contains("cpus", e.Message);
    }

    [Fact]
    public void Normalising_does_not_let_a_refused_option_through()
    {
        Assert.Equal("--Privileged", Refused("""{"--Privileged": "true"}""").Target);
        Assert.Equal("cap_add", Refused("""{"cap_add": "ALL"}""").Target);
    }

    // W&B utils.py _validate_local_container_resource_value: a single string or number, never a boolean;
    // lists only for e, env and ulimit, and not empty.
    [Theory]
    [InlineData("name", "true")]
    [InlineData("shm-size", "false")]
    [InlineData("memory", "[\"1g\"]")]
    [InlineData("gpus", "[\"all\"]")]
    [InlineData("env", "[]")]
    [InlineData("ulimit", "[]")]
    [InlineData("env", "[true]")]
    [InlineData("e", "[[\"A=1\"]]")]
    public void Values_wandb_refuses_are_refused(string key, string value)
    {
        var e = Refused($$"""{"{{key}}": {{value}}}""");
        Assert.Equal("InvalidContainerArgument", e.ErrorId);
        Assert.Equal(key, e.Target);
    }

    [Fact]
    public void Repeatable_options_take_lists_of_strings_and_numbers()
    {
        var container = Apply("""{"e": ["A=1", "B=2"], "ulimit": ["nofile=1024:2048", "nproc=64"]}""");
        Assert.Contains("A=1", container.Env);
        Assert.Contains("B=2", container.Env);
        Assert.Equal(2, container.HostConfig.Ulimits.Count);
    }

    [Fact]
    public void Gpus_with_anything_else_is_refused_with_the_accepted_forms()
    {
        var e = Refused("""{"gpus": "many"}""");
        Assert.Equal("InvalidContainerArgument", e.ErrorId);
        Assert.Equal("gpus", e.Target);
        Assert.Contains("device=0,1", e.Message);
    }

    [Fact]
    public void Ulimits_come_as_a_list_of_name_soft_hard()
    {
        var limits = Apply("""{"ulimit": ["nofile=512:1024", "nproc=100"]}""").HostConfig.Ulimits;
        Assert.Equal(2, limits.Count);
        Assert.Equal(("nofile", 512L, 1024L), (limits[0].Name, limits[0].Soft, limits[0].Hard));
        Assert.Equal(("nproc", 100L, 100L), (limits[1].Name, limits[1].Soft, limits[1].Hard));
    }

    [Fact]
    public void Ulimits_come_as_a_mapping()
    {
        var limits = Apply("""{"ulimit": {"nofile": "512:1024", "core": 0}}""").HostConfig.Ulimits;
        Assert.Equal(("nofile", 512L, 1024L), (limits[0].Name, limits[0].Soft, limits[0].Hard));
        Assert.Equal(("core", 0L, 0L), (limits[1].Name, limits[1].Soft, limits[1].Hard));
    }

    [Theory]
    [InlineData("""["nofile"]""")]
    [InlineData("""["nofile=many"]""")]
    [InlineData("""["nofile=1:lots"]""")]
    public void Bad_ulimits_are_refused(string value)
    {
        var e = Refused($$"""{"ulimit": {{value}}}""");
        Assert.Equal("InvalidContainerArgument", e.ErrorId);
        Assert.Equal("ulimit", e.Target);
        Assert.Contains("name=soft[:hard]", e.Message);
    }

    [Fact]
    public void Env_as_a_mapping_and_as_a_list_adds_to_the_jobs_environment()
    {
        var env = Apply("""{"env": {"A": "1", "B": 2, "C": true}, "e": ["D=4", "E=with = sign"]}""").Env;
        Assert.Equal(["WANDB_RUN_ID=abc", "A=1", "B=2", "C=true", "D=4", "E=with = sign"], env);
    }

    [Fact]
    public void Env_list_entries_without_a_value_are_refused()
    {
        var e = Refused("""{"env": ["JUST_A_NAME"]}""");
        Assert.Equal("InvalidContainerArgument", e.ErrorId);
        Assert.Equal("env", e.Target);
        Assert.Contains("NAME=value", e.Message);
    }

    [Fact]
    public void Name_workdir_platform_and_command_are_set()
    {
        var container = Apply("""{"name": "trainer", "w": "/work", "platform": "linux/amd64", "command": ["python", "train.py"]}""");
        Assert.Equal("trainer", container.Name);
        Assert.Equal("/work", container.WorkingDir);
        Assert.Equal("linux/amd64", container.Platform);
        Assert.Equal(["python", "train.py"], container.Cmd);
        Assert.Equal("/srv", Apply("""{"workdir": "/srv"}""").WorkingDir);
        Assert.Equal(["run"], Apply("""{"command": "run"}""").Cmd);
    }

    [Theory]
    [InlineData("memory", "\"lots\"", "a size such as 512m")]
    [InlineData("shm-size", "\"12q\"", "a size such as 512m")]
    [InlineData("cpus", "\"fast\"", "a number")]
    [InlineData("pids-limit", "1.5", "a whole number")]
    [InlineData("cpu-shares", "{}", "a number")]
    [InlineData("command", "{}", "a list of strings")]
    public void Bad_values_are_refused_naming_the_key_and_what_it_must_be(string key, string value, string expected)
    {
        var e = Refused($$"""{"{{key}}": {{value}}}""");
        Assert.Equal("InvalidContainerArgument", e.ErrorId);
        Assert.Equal(key, e.Target);
        Assert.Contains($"resource_args.local-container.{key}", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Unsupported_keys_are_refused_listing_the_allowed_ones()
    {
        var e = Refused("""{"privileged": true, "memory": "1g", "volume": "/:/host"}""");
        Assert.Equal("UnsupportedContainerArgument", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidArgument, e.Category);
        Assert.Equal("privileged", e.Target);
        Assert.Contains("'privileged', 'volume'", e.Message);
        foreach (var key in ContainerArgs.Allowed.Where(k => k != "builder")) Assert.Contains(key, e.Message);
        Assert.Contains("builder.base_image", e.Message);
    }

    // W&B's _DOCKER_ALLOWED_RESOURCE_ARGS (utils.py) has no volume, mount or env-file option: a job reaches no host
    // path and no host file through them, whatever the key's spelling (validate_local_container_resource_args).
    [Theory]
    [InlineData("volume", "\"/:/host\"")]
    [InlineData("-v", "\"/etc:/etc\"")]
    [InlineData("--mount", "\"type=bind,src=/,dst=/host\"")]
    [InlineData("env-file", "\"/root/.aws/credentials\"")]
    [InlineData("ENV_FILE", "\"/etc/shadow\"")]
    [InlineData("volumes-from", "\"agent\"")]
    public void Volumes_mounts_and_env_files_are_refused_as_wandb_refuses_them(string key, string value)
    {
        var e = Refused($$"""{"{{key}}": {{value}}}""");
        Assert.Equal("UnsupportedContainerArgument", e.ErrorId);
    }

    [Fact]
    public void CheckKeys_names_where_the_keys_came_from_and_leaves_template_placeholders()
    {
        ContainerArgs.CheckKeys((JsonObject)JsonNode.Parse("""{"{{key}}": 1, "builder": {"base_image": "x"}}""")!, "The queue");
        var e = Assert.ThrowsAny<LaunchException>(() => ContainerArgs.CheckKeys((JsonObject)JsonNode.Parse("""{"network": "host"}""")!, "The queue"));
        Assert.StartsWith("The queue has 'network'", e.Message);
    }
}
