using System.Security.Cryptography;
using System.Text;

namespace WandbLaunch.Engine.Identifiers;

/// <summary>
/// The form of a run id used wherever it becomes a name or a label value: a directory under the agent's work directory,
/// Kubernetes object names (<c>launch-&lt;run&gt;</c>, <c>wandb-api-key-&lt;run&gt;</c>, <c>regcred-&lt;run&gt;</c>, the
/// kaniko build), the <c>wandb.ai/run-id</c> label, the Vertex <c>wandb-run-id</c> label, a SageMaker training job's
/// default name and a build context's object key. A run id W&amp;B makes (lowercase letters, digits, '-') is its own
/// name, so names are W&amp;B's; any other (capitals, '_', as <c>Specs.SpecNames.RunId</c> allows) becomes its lowercase
/// form with '_' as '-', cut to 23 characters, plus '-' and 8 hex digits of its SHA-256: at most 32 characters of
/// [a-z0-9-], starting and ending with a letter or digit, distinct for ids that differ only in case (one directory per
/// run on a case-insensitive file system).
/// </summary>
public static class RunNames
{
    /// <summary>The longest name: <c>wandb-launch-container-build-&lt;name&gt;</c> stays within Kubernetes' 63-character limit for labels.</summary>
    public const int MaxLength = 32;

    private const int HashLength = 8;

    public static string Of(string runId)
    {
        if (IsOwnName(runId)) return runId;
        var lowered = new string([.. runId.ToLowerInvariant().Select(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' ? c : '-')]);
        var prefix = lowered[..Math.Min(lowered.Length, MaxLength - HashLength - 1)].Trim('-');
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(runId))).ToLowerInvariant()[..HashLength];
        return prefix.Length == 0 ? hash : $"{prefix}-{hash}";
    }

    /// <summary>1–32 of [a-z0-9-], starting and ending with a letter or digit: valid as a DNS label, a label value and a file name.</summary>
    private static bool IsOwnName(string runId) =>
        runId.Length is > 0 and <= MaxLength && IsLowerAlnum(runId[0]) && IsLowerAlnum(runId[^1]) && runId.All(c => IsLowerAlnum(c) || c == '-');

    private static bool IsLowerAlnum(char c) => c is >= 'a' and <= 'z' or >= '0' and <= '9';
}
