namespace WandbLaunch.TestSupport;

/// <summary>What the tests ask of a process they did not start themselves (a job's process, a process group member).</summary>
public static class ProcessState
{
    /// <summary>Whether the process is gone, or a zombie waiting for whoever inherited it to reap it (Linux).</summary>
    public static bool IsGone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: the state follows its closing one.
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
