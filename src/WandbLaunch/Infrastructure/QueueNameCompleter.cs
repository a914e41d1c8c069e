using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Infrastructure;

/// <summary>Completes queue names from the connected store (the -Entity and -Project already typed narrow the list).</summary>
public sealed class QueueNameCompleter : IArgumentCompleter
{
    /// <inheritdoc />
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = wordToComplete.Trim('\'', '"');
        var entity = fakeBoundParameters["Entity"] as string;
        var project = fakeBoundParameters["Project"] as string;
        IReadOnlyList<Engine.Queues.LaunchQueue> queues;
        try
        {
            queues = LaunchSession.Current.GetQueuesAsync(entity, project, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (LaunchException)
        {
            yield break;
        }
        foreach (var name in queues.Select(q => q.Name).Distinct().Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
        {
            var text = name.Any(c => char.IsWhiteSpace(c) || "'\"`$(){}[];,|&@#".Contains(c)) ? "'" + name.Replace("'", "''") + "'" : name;
            yield return new CompletionResult(text, name, CompletionResultType.ParameterValue, name);
        }
    }
}
