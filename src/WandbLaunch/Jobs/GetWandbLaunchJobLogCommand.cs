using System.Management.Automation;
using System.Text;
using WandbLaunch.Engine.Jobs;
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
    protected override void ProcessRecord()
    {
        foreach (var job in FindJobs()) Read(job);
    }

    private void Read(LaunchJob job)
    {
        var current = job;
        string? path;
        while ((path = JobLogPath.Trusted(current, Backend.LogDirectory)) is null || !File.Exists(path))
        {
            if (!Follow || current.State.IsTerminal())
            {
                if (current.State == LaunchJobState.Pending) WriteVerbose($"Job {job.Id} is pending: it has no log until an agent takes it.");
                return;
            }
            Await(Backend.WaitForChangeAsync(TimeSpan.FromMilliseconds(500), StopToken));
            if (StopToken.IsCancellationRequested) return;
            current = Await(Backend.GetJobAsync(job.Id, StopToken)) ?? current;
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        WriteObject((Tail >= 0 ? lines.Skip(Math.Max(0, lines.Count - Tail)) : lines).Select(Shown), enumerateCollection: true);
        if (!Follow) return;
        var partial = new StringBuilder();
        while (!StopToken.IsCancellationRequested)
        {
            var text = reader.ReadToEnd();
            foreach (var ch in text)
            {
                if (ch == '\n')
                {
                    WriteObject(Shown(partial.ToString().TrimEnd('\r')));
                    partial.Clear();
                }
                else
                {
                    partial.Append(ch);
                }
            }
            if (text.Length > 0) continue;
            if (current.State.IsTerminal()) break;
            Thread.Sleep(100);
            current = Await(Backend.GetJobAsync(job.Id, StopToken)) ?? current;
        }
        if (partial.Length > 0) WriteObject(Shown(partial.ToString()));
    }

    private string Shown(string line) => Raw ? line : Printable.EscapeControls(line, keepTab: true);
}
