using System.Text;
using System.Text.RegularExpressions;
using WandbLaunch.Engine.Code;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Specs;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>
/// The git side of <c>wandb job create git</c> (W&amp;B: <c>sdk/launch/git_reference.py</c>): which URIs are
/// accepted, and the commit a branch, tag or hash resolves to, fetched with the git command line (an argument
/// vector, no shell, never prompting). Only the commit and two small files (runtime.txt, .python-version) are read,
/// from git's objects: nothing of the repository is checked out, so its links and hooks never touch the host.
/// </summary>
internal static partial class JobGitSource
{
    /// <summary>The opt-in the agent reads too (<see cref="GitCheckout.AllowLocalVariable"/>): a local path or file:// URI as a job's git source.</summary>
    public const string AllowLocalVariable = GitCheckout.AllowLocalVariable;

    /// <summary>The largest runtime.txt / .python-version read.</summary>
    private const int MaxVersionFileBytes = 4096;

    // W&B's _GIT_URI_REGEX (sdk/launch/utils.py): what `wandb job create git` takes for a git URI.
    [GeneratedRegex(@"^[^/|^~|^\.].*(git|bitbucket|dev\.azure\.com|\.visualstudio\.com)")]
    private static partial Regex WandbGitUri();

    // W&B's _SCP_LIKE_REMOTE (git_reference.py).
    [GeneratedRegex(@"^[\w.+-]+@[\w.-]+:.+", RegexOptions.CultureInvariant)]
    private static partial Regex ScpLike();

    /// <summary>
    /// The project W&amp;B gives a run of a git URI when none is named: the repository's name, the URI's last segment
    /// without its extension (<c>utils.py</c> <c>set_project_entity_defaults</c>: <c>os.path.splitext(os.path.basename(uri))[0]</c>
    /// for a URI matching <c>_GIT_URI_REGEX</c>); null for other URIs and for a name that is not a valid project name.
    /// </summary>
    public static string? ProjectOf(string uri)
    {
        if (!WandbGitUri().IsMatch(uri)) return null;
        var name = uri[(uri.LastIndexOf('/') + 1)..];
        var dot = name.LastIndexOf('.');
        if (dot > 0) name = name[..dot];
        return Specs.SpecNames.IsValidProject(name) ? name : null;
    }

    /// <summary>A fetched source: the resolved commit and the Python version files at its root (null when absent).</summary>
    public sealed record Fetched(string Commit, string? RuntimeTxt, string? PythonVersionFile, IReadOnlyList<string> Warnings);

    /// <summary>
    /// Checks a git URI as W&amp;B does (it names a git host; https://, ssh:// or user@host:path), refusing local paths
    /// and file:// unless <see cref="AllowLocalVariable"/> is 1, and URIs that carry a password (it would be stored in the
    /// job for everyone who can read the project). Returns whether the URI is local.
    /// </summary>
    public static bool Check(string uri, bool allowLocal)
    {
        if (uri.Length == 0 || uri.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)) || uri.StartsWith('-'))
        {
            throw Refuse(uri, "it is empty, starts with '-' or has a space or control character");
        }
        var local = uri.StartsWith("file://", StringComparison.OrdinalIgnoreCase) || Path.IsPathFullyQualified(uri);
        if (local)
        {
            if (!allowLocal)
            {
                throw Refuse(uri, $"it is a local repository; W&B only takes https://, ssh:// and user@host:path remotes (set {AllowLocalVariable}=1 to allow local repositories, here and on the agent)");
            }
            return true;
        }
        var remote = uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("ssh://", StringComparison.OrdinalIgnoreCase) || ScpLike().IsMatch(uri);
        if (!remote || !WandbGitUri().IsMatch(uri))
        {
            throw Refuse(uri, "W&B takes a git URI: an https://, ssh:// or user@host:path remote whose address names a git host (github, gitlab, bitbucket, dev.azure.com...)");
        }
        // A password, or (over https) a user name, which is where hosts take access tokens, would be stored in the job
        // for everyone who can read the project.
        if (uri.Contains("://", StringComparison.Ordinal) && System.Uri.TryCreate(uri, UriKind.Absolute, out var parsed) &&
            (parsed.UserInfo.Contains(':') || (parsed.Scheme == "https" && parsed.UserInfo.Length > 0)))
        {
            throw Refuse("<uri with credentials>", "it carries credentials (a password, or a user name or token before '@' in an https URI), which would be stored in the job for everyone who can read the project; use a git credential helper or an SSH key instead");
        }
        return false;
    }

    /// <summary>
    /// Fetches <paramref name="uri"/> into a scratch repository and resolves <paramref name="reference"/> as W&amp;B's
    /// GitReference does: a branch of the remote, else a tag or commit; none given: <c>main</c>, else <c>master</c>.
    /// </summary>
    public static async Task<Fetched> FetchAsync(string uri, string? reference, bool local, CancellationToken cancellationToken)
    {
        if (reference is not null) SpecNames.GitVersion(reference, "-GitHash");
        var scratch = Directory.CreateTempSubdirectory("wandb-job-git-").FullName;
        try
        {
            await GitAsync(["init", "--quiet", "--", scratch], null, "init", uri, cancellationToken).ConfigureAwait(false);
            await GitAsync(["remote", "add", "origin", "--", uri], scratch, "remote add", uri, cancellationToken).ConfigureAwait(false);
            // As W&B: no file:// or ext:: transport for the fetch (nor for what the remote could redirect to),
            // except that a local repository the user opted in to is read over the file transport.
            string[] hardening = local ? ["-c", "protocol.ext.allow=never"] : ["-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never"];
            await GitAsync([.. hardening, "fetch", "--quiet", "origin"], scratch, "fetch", uri, cancellationToken).ConfigureAwait(false);
            string? commit;
            if (reference is not null)
            {
                commit = await RevParseAsync($"refs/remotes/origin/{reference}", scratch, cancellationToken).ConfigureAwait(false)
                    ?? await RevParseAsync(reference, scratch, cancellationToken).ConfigureAwait(false)
                    ?? throw LaunchException.NotFound("GitReferenceNotFound",
                        $"The git repository {Printable.Quote(uri)} has no branch, tag or commit {Printable.Quote(reference)}.", reference);
            }
            else
            {
                commit = await RevParseAsync("refs/remotes/origin/main", scratch, cancellationToken).ConfigureAwait(false)
                    ?? await RevParseAsync("refs/remotes/origin/master", scratch, cancellationToken).ConfigureAwait(false)
                    ?? throw LaunchException.NotFound("GitReferenceNotFound",
                        $"Unable to determine branch or commit to checkout from {Printable.Quote(uri)}: it has neither 'main' nor 'master'; give one with -GitHash.", uri);
            }
            var warnings = new List<string>();
            var runtimeTxt = await ReadRootFileAsync(commit, "runtime.txt", scratch, warnings, cancellationToken).ConfigureAwait(false);
            var pythonVersion = runtimeTxt is null ? await ReadRootFileAsync(commit, ".python-version", scratch, warnings, cancellationToken).ConfigureAwait(false) : null;
            return new Fetched(commit, runtimeTxt, pythonVersion, warnings);
        }
        finally
        {
            DeleteScratch(scratch);
        }
    }

    private static async Task<string?> RevParseAsync(string reference, string repository, CancellationToken cancellationToken)
    {
        var (exit, output, _) = await RunAsync(["rev-parse", "--verify", "--quiet", reference + "^{commit}"], repository, cancellationToken).ConfigureAwait(false);
        var commit = output.Trim();
        return exit == 0 && commit.Length >= 40 ? commit : null;
    }

    /// <summary>A regular file at the commit's root, as text; a link or a file too large is left out with a warning.</summary>
    private static async Task<string?> ReadRootFileAsync(string commit, string name, string repository, List<string> warnings, CancellationToken cancellationToken)
    {
        var (exit, listing, _) = await RunAsync(["ls-tree", "--full-tree", commit, "--", name], repository, cancellationToken).ConfigureAwait(false);
        if (exit != 0 || listing.Trim().Length == 0) return null;
        // "<mode> <type> <object>\t<name>"
        var fields = listing.Split('\t')[0].Split(' ');
        if (fields.Length != 3 || fields[1] != "blob" || fields[0] is not ("100644" or "100755"))
        {
            warnings.Add($"The repository's {name} is not a regular file (mode {fields[0]}); it is not read for the Python version.");
            return null;
        }
        var (sizeExit, size, _) = await RunAsync(["cat-file", "-s", fields[2]], repository, cancellationToken).ConfigureAwait(false);
        if (sizeExit != 0 || !long.TryParse(size.Trim(), out var bytes) || bytes > MaxVersionFileBytes)
        {
            warnings.Add($"The repository's {name} is larger than {MaxVersionFileBytes} bytes; it is not read for the Python version.");
            return null;
        }
        var (catExit, text, _) = await RunAsync(["cat-file", "blob", fields[2]], repository, cancellationToken).ConfigureAwait(false);
        return catExit == 0 ? text : null;
    }

    private static async Task GitAsync(string[] arguments, string? directory, string what, string uri, CancellationToken cancellationToken)
    {
        var (exit, _, error) = await RunAsync(arguments, directory, cancellationToken).ConfigureAwait(false);
        if (exit != 0)
        {
            throw new LaunchException("GitFetchFailed", LaunchErrorCategory.ResourceUnavailable,
                $"Unable to fetch from git remote repository {Printable.Quote(uri)}: git {what} failed (exit code {exit}): {Printable.EscapeControls(error.Trim(), keepTab: false, keepNewlines: true)}", uri);
        }
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string[] arguments, string? directory, CancellationToken cancellationToken)
    {
        var result = await GitCommand.RunAsync(arguments, directory, null, cancellationToken).ConfigureAwait(false);
        return (result.ExitCode, result.Output, result.Error);
    }

    private static void DeleteScratch(string directory)
    {
        try
        {
            // git's objects are read-only on some systems.
            foreach (var file in Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            {
                File.SetAttributes(file, FileAttributes.Normal);
            }
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static LaunchException Refuse(string uri, string why) =>
        LaunchException.Invalid("InvalidGitUri", $"The git URI {Printable.Quote(uri)} is refused: {why}.", uri);
}
