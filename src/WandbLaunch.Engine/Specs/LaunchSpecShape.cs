using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using static WandbLaunch.Engine.Specs.LaunchSpec;

namespace WandbLaunch.Engine.Specs;

/// <summary>
/// The kind of value each known key of a launch spec holds. A wrong kind is refused (InvalidLaunchSpec) with the
/// key's path as the target and what it must be; unknown keys may hold anything.
/// </summary>
internal static class LaunchSpecShape
{
    private const string Text = "a string";
    private const string Mapping = "a mapping";
    private const string TextList = "a list of strings";
    private const string MappingList = "a list of mappings";

    private static readonly (string Key, string Kind)[] TopLevel =
    [
        (Keys.Uri, Text), (Keys.Job, Text), (Keys.Entity, Text), (Keys.Project, Text), (Keys.Author, Text),
        (Keys.Name, Text), (Keys.Resource, Text), (Keys.RunId, Text), (Keys.SweepId, Text), (Keys.PythonVersion, Text),
        (Keys.BuildContext, Text), (Keys.ImageUri, Text),
        (Keys.Docker, Mapping), (Keys.Git, Mapping), (Keys.Overrides, Mapping), (Keys.ResourceArgs, Mapping),
        (Keys.TemplateVariables, Mapping), (Keys.Builder, Mapping), (Keys.AdditionalServices, MappingList),
    ];

    private static readonly (string Key, string Kind)[] InOverrides =
    [
        (Keys.Args, TextList), (Keys.EntryPoint, TextList), (Keys.RunConfig, Mapping), (Keys.Artifacts, Mapping), (Keys.Files, Mapping),
        (Keys.Dockerfile, Text), (Keys.WorkingDir, Text),
    ];

    public static void Check(JsonObject spec)
    {
        CheckKeys(spec, "", TopLevel);
        if (spec[Keys.Docker] is JsonObject docker) CheckKeys(docker, Keys.Docker + ".", [(Keys.DockerImage, Text)]);
        if (spec[Keys.Git] is JsonObject git) CheckKeys(git, Keys.Git + ".", [(Keys.Version, Text)]);
        if (spec[Keys.Builder] is JsonObject builder) CheckKeys(builder, Keys.Builder + ".", [(Keys.BaseImage, Text)]);
        if (spec[Keys.Overrides] is JsonObject overrides) CheckKeys(overrides, Keys.Overrides + ".", InOverrides);
        if (spec[Keys.ResourceArgs] is JsonObject args)
        {
            foreach (var (resource, value) in args)
            {
                if (value is not (JsonObject or null)) throw Wrong($"{Keys.ResourceArgs}.{resource}", Mapping, value);
            }
        }
    }

    private static void CheckKeys(JsonObject parent, string prefix, (string Key, string Kind)[] keys)
    {
        foreach (var (key, kind) in keys)
        {
            if (parent[key] is not { } value || Fits(value, kind)) continue;
            throw Wrong(prefix + key, kind, value);
        }
    }

    private static bool Fits(JsonNode value, string kind) => kind switch
    {
        Text => JsonTree.TryGetString(value, out _),
        Mapping => value is JsonObject,
        MappingList => value is JsonArray items && items.All(item => item is JsonObject),
        _ => value is JsonArray list && list.All(item => JsonTree.TryGetString(item, out _)),
    };

    private static LaunchException Wrong(string path, string kind, JsonNode? value) =>
        LaunchException.Invalid("InvalidLaunchSpec", $"The spec's {path} must be {kind}; it is {JsonTree.KindOf(value)} {JsonTree.Show(value)}.", path);
}
