using System.Management.Automation;
using WandbLaunch.Engine.Jobs;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Jobs;

/// <summary>
/// <para type="synopsis">Reads a launch job's log: the agent's notes and the job's own output.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "WandbLaunchJobLog")]
[OutputType(typeof(string))]
public sealed class GetWandbLaunchJobLogCommand : JobCmdlet
{
    /// <summary>Only the last N lines.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Tail { get; set; } = -1;

    /// <summary>Keep reading new lines until the job ends (Ctrl+C to stop following).</summary>
    [Parameter]
    [Alias("Wait")]
    public SwitchParameter Follow { get; set; }

    /// <summary>
    /// The lines exactly as the job wrote them. Without it, escape sequences and other control characters (except
    /// tab) are shown escaped (<c>\e[31m</c>, <c>\r</c>, <c>\x00</c>), so a job's output cannot rewrite the terminal.
    /// </summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    /// <inheritdoc />
    private protected override void ProcessRecordCore()
    {
        foreach (var (job, backend) in FindJobs()) Read(job, backend);
    }

    private void Read(LaunchJob job, Engine.Storage.ILaunchBackend backend)
    {
        var reader = new JobLogReader(backend);
        if (!Follow && job.State == LaunchJobState.Pending && !reader.HasLog(job))
        {
            WriteVerbose($"Job {job.Id} is pending: it has no log until an agent takes it.");
            return;
        }
        // On a W&B server a job run by an agent on another host has no log here: JobLogNotOnHost says where it is.
        TryRun(() =>
        {
            foreach (var line in Each(reader.ReadAsync(job, Tail >= 0 ? Tail : null, Follow, StopToken))) WriteObject(Shown(line));
        });
    }

    private string Shown(string line) => Raw ? line : Printable.EscapeControls(line, keepTab: true);
}
