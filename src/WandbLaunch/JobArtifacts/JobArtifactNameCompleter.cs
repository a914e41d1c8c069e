using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.WandbJobs;
using WandbLaunch.Infrastructure;

namespace WandbLaunch.JobArtifacts;

/// <summary>Completes W&amp;B job names of a project (the -Entity and -Project already typed, else WANDB_ENTITY/WANDB_PROJECT).</summary>
public sealed class JobArtifactNameCompleter : IArgumentCompleter
{
    /// <inheritdoc />
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = wordToComplete.Trim('\'', '"');
        IReadOnlyList<Engine.Artifacts.ArtifactVersion> jobs;
        try
        {
            jobs = new JobArtifactQuery(LaunchSession.Current)
                .ListAsync(fakeBoundParameters["Entity"] as string, fakeBoundParameters["Project"] as string, null, false, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (LaunchException)
        {
            yield break;
        }
        foreach (var name in jobs.Select(j => j.Name).Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
        {
            yield return new CompletionResult(name, name, CompletionResultType.ParameterValue, name);
        }
    }
}
