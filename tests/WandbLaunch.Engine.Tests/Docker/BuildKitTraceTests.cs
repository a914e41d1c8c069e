using System.Text;
using WandbLaunch.Engine.Docker;

namespace WandbLaunch.Engine.Tests.Docker;

/// <summary>
/// Reading BuildKit's answer to <c>POST /build?version=2</c>. The .jsonl files are answers recorded from Docker
/// 20.10.24's engine: a build that succeeded, and one whose RUN printed a line, a partial line, and exited 3.
/// </summary>
public sealed class BuildKitTraceTests
{
    private static async Task<(BuildKitResult Result, List<string> Steps, List<string> Output)> ReadAsync(string file)
    {
        var steps = new List<string>();
        var output = new List<string>();
        await using var stream = File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Docker", file));
        var result = await BuildKitBuild.ReadAsync(stream, steps.Add, output.Add, CancellationToken.None);
        return (result, steps, output);
    }

    [Fact]
    public async Task A_built_image_gives_its_id_every_step_once_and_the_step_output_as_lines()
    {
        var (result, steps, output) = await ReadAsync("buildkit-built.jsonl");

        Assert.Null(result.Error);
        Assert.Equal("sha256:419507ede23d4d4d6674fcd3702a16cb24c41961791a29bc1460fec5a2855c5c", result.ImageId);
        Assert.Contains("[stage-0 2/2] RUN --mount=type=cache,target=/root/.cache echo hello-from-buildkit2 && ls /root/.cache", steps);
        Assert.Equal(steps.Count, steps.Distinct().Count());
        Assert.Contains("hello-from-buildkit2", output);
        Assert.Contains("Successfully tagged bktest:1", output);
    }

    [Fact]
    public async Task A_failed_step_gives_the_engine_error_the_step_and_its_output_including_a_last_partial_line()
    {
        var (result, _, output) = await ReadAsync("buildkit-failed-step.jsonl");

        Assert.Null(result.ImageId);
        Assert.Equal("executor failed running [/bin/sh -c echo partial-line-no-newline && printf \"a\\nb\" && exit 3]: exit code: 3", result.Error);
        Assert.Equal("[2/2] RUN echo partial-line-no-newline && printf \"a\\nb\" && exit 3", result.FailedStep);
        Assert.Equal(["partial-line-no-newline", "a", "b"], output.Where(l => l is "partial-line-no-newline" or "a" or "b"));
    }

    [Theory]
    [InlineData("CgE=")] // field 1 says 1 byte follows; none does
    [InlineData("CP///////////////wE=")] // a varint of 11 bytes
    [InlineData("Bw==")] // field 0
    [InlineData("Cw==")] // wire type 3 (groups), not sent by BuildKit
    public void A_malformed_trace_message_is_a_format_error_not_a_crash(string base64)
    {
        Assert.Throws<FormatException>(() => BuildKitTrace.Decode(base64));
    }

    [Fact]
    public async Task Malformed_lines_and_trace_messages_are_skipped_and_the_error_still_read()
    {
        var answer = "not json\n{\"id\":\"moby.buildkit.trace\",\"aux\":\"CgE=\"}\n{\"id\":\"moby.buildkit.trace\",\"aux\":\"%%%\"}\n[1,2]\n{\"error\":\"boom\"}\n";
        var result = await BuildKitBuild.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes(answer)), _ => { }, _ => { }, CancellationToken.None);

        Assert.Equal("boom", result.Error);
    }
}
