using System.Text.Json.Nodes;
using GraphQL;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// The artifact part of the schema. Relations (an artifact's sequence, a sequence's latest version, aliases, files,
/// manifests) have resolvers, so that objects are built as far as a query reads them and no further; signed URLs
/// (<paramref name="fileUrl"/>: <c>upload/&lt;token&gt;</c> or <c>download/&lt;token&gt;</c> on the file host) are
/// issued when a query reads them.
/// </summary>
internal static partial class StandInSchema
{
    private delegate void Resolve(string type, string field, Func<IResolveFieldContext, Account, object?> resolve);

    private static void AddArtifacts(Resolve on, StandInState state, Func<string, string> fileUrl)
    {
        on("Query", "artifact", (ctx, caller) => state.FindArtifact(caller, Id(ctx, "id")) is { } a ? Artifact(a) : null);

        on("Project", "artifactType", (ctx, _) =>
            state.FindArtifactType((ProjectRecord)Parent(ctx), ctx.GetArgument<string>("name")) is { } t ? ArtifactType(t) : null);
        on("Project", "artifactCollection", (ctx, _) =>
        {
            var p = (ProjectRecord)Parent(ctx);
            return state.FindSequence(p.Entity, p.Name, ctx.GetArgument<string>("name")) is { } s ? Sequence(s) : null;
        });
        on("Project", "artifactCollectionMembership", (ctx, _) =>
            state.Membership((ProjectRecord)Parent(ctx), ctx.GetArgument<string>("name")) is var (s, a) ? Membership(s, a) : null);

        on("Project", "artifact", (ctx, _) =>
            state.Membership((ProjectRecord)Parent(ctx), ctx.GetArgument<string>("name")) is var (_, a) ? Artifact(a) : null);

        on("ArtifactType", "artifactCollections", (ctx, _) =>
        {
            var sequences = state.SequencesOf((ArtifactTypeRecord)Parent(ctx));
            return Page(ctx, sequences, s => new Dictionary<string, object?> { ["node"] = Sequence(s) });
        });
        on("ArtifactType", "artifactCollection", (ctx, _) =>
        {
            var t = (ArtifactTypeRecord)Parent(ctx);
            return state.FindSequence(t.Entity, t.Project, ctx.GetArgument<string>("name")) is { } s && s.Type == t ? Sequence(s) : null;
        });

        on("ArtifactSequence", "project", (ctx, caller) =>
        {
            var s = (SequenceRecord)Parent(ctx);
            return state.FindProject(caller, s.Entity, s.Project) is { } p ? Project(p, state) : null;
        });
        on("ArtifactSequence", "latestArtifact", (ctx, _) => ((SequenceRecord)Parent(ctx)).Latest is { } a ? Artifact(a) : null);
        on("ArtifactSequence", "aliases", (ctx, _) =>
        {
            var s = (SequenceRecord)Parent(ctx);
            var aliases = state.Locked(() => s.Aliases.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => Alias(a.Value.Id, a.Key, s)).ToList());
            return Page(ctx, aliases, a => new Dictionary<string, object?> { ["node"] = a }, withTotal: false);
        });
        on("ArtifactSequence", "artifactMembership", (ctx, _) =>
        {
            var s = (SequenceRecord)Parent(ctx);
            return state.Resolve(s, ctx.GetArgument<string>("aliasName")) is { } a ? Membership(s, a) : null;
        });
        on("ArtifactSequence", "artifacts", (ctx, _) =>
        {
            var s = (SequenceRecord)Parent(ctx);
            var filters = ctx.GetArgument<string?>("filters") is { } f ? JsonNode.Parse(f) as JsonObject : null;
            var wanted = filters?["state"]?.GetValue<string>();
            var versions = state.Locked(() => s.Versions.Where(v => wanted is null || v.State == wanted).Where(v => v.VersionIndex is not null)
                .OrderByDescending(v => v.VersionIndex).ToList());
            return Page(ctx, versions, v => new Dictionary<string, object?> { ["version"] = $"v{v.VersionIndex}", ["node"] = Artifact(v) });
        });

        on("ArtifactCollectionMembership", "files", (ctx, _) => Files(ctx, state, fileUrl));
        on("Artifact", "files", (ctx, _) => Files(ctx, state, fileUrl));
        on("Artifact", "artifactSequence", (ctx, _) => Sequence(((ArtifactRecord)Parent(ctx)).Sequence));
        on("Artifact", "aliases", (ctx, _) =>
        {
            var a = (ArtifactRecord)Parent(ctx);
            return state.Locked(() => a.Sequence.AliasesOf(a).Select(x => Alias(x.Id, x.Alias, a.Sequence)).ToList());
        });
        on("Artifact", "currentManifest", (ctx, _) =>
        {
            var a = (ArtifactRecord)Parent(ctx);
            if (a.Manifest is not { Content: not null } m) return null;
            return new Dictionary<string, object?>
            {
                ["id"] = m.Id,
                ["file"] = new Dictionary<string, object?>
                {
                    ["id"] = m.FileId, ["name"] = m.Name, ["displayName"] = m.Name, ["sizeBytes"] = (long)m.Content.Length, ["md5"] = m.Digest,
                    ["digest"] = m.Digest, ["directUrl"] = fileUrl("download/" + state.IssueDownload(a, null)), ["uploadHeaders"] = new List<string>(),
                },
            };
        });

        // ---- mutations
        on("Mutation", "createArtifact", (ctx, caller) =>
        {
            // artifactSequence.latestArtifact is the latest committed version: a new version is PENDING, so not yet it.
            return new Dictionary<string, object?> { ["artifact"] = Artifact(state.CreateArtifact(caller, Input(ctx))) };
        });
        on("Mutation", "createArtifactManifest", (ctx, caller) =>
        {
            var (manifest, token) = state.CreateArtifactManifest(caller, Input(ctx));
            return new Dictionary<string, object?>
            {
                ["artifactManifest"] = new Dictionary<string, object?>
                {
                    ["id"] = manifest.Id,
                    ["file"] = new Dictionary<string, object?>
                    {
                        ["id"] = manifest.FileId, ["name"] = manifest.Name, ["displayName"] = manifest.Name, ["sizeBytes"] = 0L,
                        ["directUrl"] = "", ["uploadUrl"] = token is null ? null : fileUrl("upload/" + token),
                        ["uploadHeaders"] = token is null ? new List<string>() : new List<string> { "Content-MD5:" + manifest.Digest },
                    },
                },
            };
        });
        on("Mutation", "createArtifactFiles", (ctx, caller) =>
        {
            var input = Input(ctx);
            var files = state.CreateArtifactFiles(caller, input["artifactFiles"] as JsonArray ?? [], Text(input, "storageLayout")!);
            return new Dictionary<string, object?>
            {
                ["files"] = new Dictionary<string, object?>
                {
                    ["pageInfo"] = new Dictionary<string, object?> { ["endCursor"] = null, ["hasNextPage"] = false },
                    ["edges"] = files.Select(f => new Dictionary<string, object?>
                    {
                        ["node"] = new Dictionary<string, object?>
                        {
                            ["id"] = f.File.Id, ["name"] = f.File.Path, ["displayName"] = f.File.Path, ["sizeBytes"] = 0L, ["directUrl"] = "",
                            ["storagePath"] = $"wandb_artifacts/{f.File.Md5}", ["md5"] = f.File.Md5, ["digest"] = f.File.Md5,
                            ["uploadUrl"] = f.UploadToken is null ? null : fileUrl("upload/" + f.UploadToken),
                            ["uploadHeaders"] = f.UploadToken is null ? new List<string>() : new List<string> { "Content-MD5:" + f.File.Md5 },
                            ["uploadMultipartUrls"] = null,
                            ["artifact"] = new Dictionary<string, object?> { ["id"] = f.File.BirthArtifactId },
                        },
                    }).ToList(),
                },
            };
        });
        on("Mutation", "commitArtifact", (ctx, caller) =>
            new Dictionary<string, object?> { ["artifact"] = Artifact(state.CommitArtifact(caller, Text(Input(ctx), "artifactID")!)) });
        on("Mutation", "deleteRun", (ctx, caller) =>
        {
            var input = Input(ctx);
            state.DeleteRun(caller, Text(input, "id")!);
            return new Dictionary<string, object?> { ["clientMutationId"] = Text(input, "clientMutationId") };
        });
    }

    private static Dictionary<string, object?> ArtifactType(ArtifactTypeRecord t) => new()
    {
        ["id"] = t.Id, ["name"] = t.Name, ["description"] = null, ["createdAt"] = t.CreatedAt, [Record] = t,
    };

    private static Dictionary<string, object?> Sequence(SequenceRecord s) => new()
    {
        ["id"] = s.Id, ["name"] = s.Name, ["description"] = null, ["createdAt"] = s.CreatedAt, ["updatedAt"] = s.UpdatedAt,
        ["defaultArtifactType"] = ArtifactType(s.Type), ["tags"] = new Dictionary<string, object?> { ["edges"] = new List<object?>() }, [Record] = s,
    };

    private static Dictionary<string, object?> Alias(string id, string alias, SequenceRecord s) => new()
    {
        ["id"] = id, ["alias"] = alias, ["artifactCollection"] = Sequence(s),
    };

    private static Dictionary<string, object?> Membership(SequenceRecord s, ArtifactRecord a) => new()
    {
        ["id"] = $"{s.Id}:{a.Id}", ["versionIndex"] = a.VersionIndex, ["artifactCollection"] = Sequence(s), ["artifact"] = Artifact(a),
        ["aliases"] = s.AliasesOf(a).Select(x => Alias(x.Id, x.Alias, s)).ToList(), [Record] = a,
    };

    /// <summary>An artifact's scalar fields; TTL as W&B reports an artifact without one (-1, inherited).</summary>
    private static Dictionary<string, object?> Artifact(ArtifactRecord a) => new()
    {
        ["id"] = a.Id, ["versionIndex"] = a.VersionIndex, ["artifactType"] = ArtifactType(a.Sequence.Type), ["description"] = a.Description,
        ["metadata"] = a.Metadata, ["ttlDurationSeconds"] = -1L, ["ttlIsInherited"] = true, ["tags"] = new List<object?>(), ["historyStep"] = null,
        ["state"] = a.State, ["size"] = a.Size, ["digest"] = a.Digest, ["commitHash"] = null, ["fileCount"] = (long)a.Files.Count,
        ["createdAt"] = a.CreatedAt, ["updatedAt"] = a.UpdatedAt, [Record] = a,
    };

    /// <summary>A version's files (ordered by name), a page at a time, each with a signed download URL.</summary>
    private static object Files(IResolveFieldContext ctx, StandInState state, Func<string, string> fileUrl)
    {
        var a = (ArtifactRecord)Parent(ctx);
        var names = ctx.GetArgument<List<string>?>("names");
        var files = state.Locked(() => a.Files.Values.Where(f => names is null || names.Contains(f.Path)).OrderBy(f => f.Path, StringComparer.Ordinal).ToList());
        return Page(ctx, files, f => new Dictionary<string, object?>
        {
            ["node"] = new Dictionary<string, object?>
            {
                ["id"] = f.Id, ["name"] = f.Path, ["displayName"] = f.Path, ["url"] = null, ["sizeBytes"] = (long)(f.Content?.Length ?? 0),
                ["storagePath"] = $"wandb_artifacts/{f.Md5}", ["mimetype"] = null, ["updatedAt"] = f.UpdatedAt, ["digest"] = f.Md5, ["md5"] = f.Md5,
                ["directUrl"] = fileUrl("download/" + state.IssueDownload(a, f.Path)), ["uploadHeaders"] = new List<string>(),
            },
        });
    }

    /// <summary>A relay connection over <paramref name="items"/>: <c>after</c> is the index cursor of the last item seen.</summary>
    private static Dictionary<string, object?> Page<T>(IResolveFieldContext ctx, IReadOnlyList<T> items, Func<T, Dictionary<string, object?>> edge, bool withTotal = true)
    {
        var start = ctx.GetArgument<string?>("after") is { } after && int.TryParse(after, out var seen) ? seen + 1 : 0;
        var first = ctx.GetArgument<int?>("first") ?? 50;
        if (first < 0) throw StandInError.Invalid("first must not be negative");
        var page = items.Skip(start).Take(first).ToList();
        var edges = page.Select((item, i) =>
        {
            var e = edge(item);
            e["cursor"] = (start + i).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return e;
        }).ToList();
        var result = new Dictionary<string, object?>
        {
            ["pageInfo"] = new Dictionary<string, object?>
            {
                ["endCursor"] = page.Count == 0 ? null : (start + page.Count - 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["hasNextPage"] = start + page.Count < items.Count,
            },
            ["edges"] = edges,
        };
        if (withTotal) result["totalCount"] = items.Count;
        return result;
    }
}
