using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace WandbLaunch.Engine.Documents;

/// <summary>Writes a <see cref="JsonNode"/> tree as block-style YAML that reads back to the same tree.</summary>
public static partial class YamlWriter
{
    public static string Write(JsonNode? root)
    {
        var writer = new StringWriter();
        var emitter = new Emitter(writer, bestIndent: 2, bestWidth: int.MaxValue);
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart(null, null, isImplicit: true));
        Emit(emitter, root);
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    private static void Emit(IEmitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                emitter.Emit(new Scalar(null, null, "null", ScalarStyle.Plain, true, false));
                break;
            case JsonObject obj:
                emitter.Emit(new MappingStart(null, null, true, obj.Count == 0 ? MappingStyle.Flow : MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    EmitString(emitter, key);
                    Emit(emitter, value);
                }
                emitter.Emit(new MappingEnd());
                break;
            case JsonArray arr:
                emitter.Emit(new SequenceStart(null, null, true, arr.Count == 0 ? SequenceStyle.Flow : SequenceStyle.Block));
                foreach (var item in arr) Emit(emitter, item);
                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                EmitString(emitter, value.GetValue<string>());
                break;
            case JsonValue value:
                emitter.Emit(new Scalar(null, null, value.ToJsonString(), ScalarStyle.Plain, true, false));
                break;
        }
    }

    /// <summary>
    /// Strings that a YAML reader would take for something else when written plain: YAML 1.2 core-schema nulls,
    /// booleans and numbers (how this module reads), and YAML 1.1's (how W&amp;B's agent reads, with PyYAML):
    /// yes/no/on/off (and y/n), numbers with '_', 0b/0o/0x/leading-0 integers, sexagesimal 12:30, timestamps,
    /// '=' and '&lt;&lt;'. Such strings are written double-quoted.
    /// </summary>
    [GeneratedRegex(@"^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|=|<<" +
                    @"|[-+]?(0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(:[0-5]?[0-9])*(\.[0-9_]*)?([eE][-+]?[0-9]+)?|\.[0-9_]+([eE][-+]?[0-9]+)?)" +
                    @"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)" +
                    @"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt \t].*)?)$")]
    private static partial Regex LooksTyped();

    private static void EmitString(IEmitter emitter, string text)
    {
        var style = text.Length == 0 || LooksTyped().IsMatch(text) ? ScalarStyle.DoubleQuoted : ScalarStyle.Any;
        emitter.Emit(new Scalar(null, null, text, style, true, true));
    }
}
