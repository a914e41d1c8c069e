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
        if (Tail >= 0)
        {
            // Read from the end: -Tail costs what it returns, however large the log.
            WriteObject(JobLog.ReadTail(path, Tail).Select(Shown), enumerateCollection: true);
        }
        else
        {
            foreach (var file in JobLog.Files(path).Where(f => f != path)) WriteLines(file);
        }
        var stream = OpenShared(path);
        var reader = new StreamReader(stream, Encoding.UTF8);
        try
        {
            if (Tail >= 0) stream.Seek(0, SeekOrigin.End);
            else
            {
                while (reader.ReadLine() is { } line) WriteObject(Shown(line));
            }
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
                if (WasRotated(path, stream))
                {
                    // The log reached its size cap and was moved to <log>.1: follow the new one from its start.
                    reader.Dispose();
                    stream = OpenShared(path);
                    reader = new StreamReader(stream, Encoding.UTF8);
                    continue;
                }
                if (current.State.IsTerminal()) break;
                Thread.Sleep(100);
                current = Await(Backend.GetJobAsync(job.Id, StopToken)) ?? current;
            }
            if (partial.Length > 0) WriteObject(Shown(partial.ToString()));
        }
        finally
        {
            reader.Dispose();
        }
    }

    private static FileStream OpenShared(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    /// <summary>Whether the file now at <paramref name="path"/> is a new one, shorter than what was read of the old.</summary>
    private static bool WasRotated(string path, FileStream reading)
    {
        try
        {
            return File.Exists(path) && new FileInfo(path).Length < reading.Position;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void WriteLines(string file)
    {
        using var stream = OpenShared(file);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } line) WriteObject(Shown(line));
    }

    private string Shown(string line) => Raw ? line : Printable.EscapeControls(line, keepTab: true);
}
