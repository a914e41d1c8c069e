using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Jobs;

namespace WandbLaunch.Engine.WandbJobs;

/// <summary>
/// A notebook job's entry point made a Python script, as W&amp;B's agent does with nbconvert
/// (<c>launch/utils.py</c> <c>convert_jupyter_notebook_to_script</c>): the code cells in order, their lines starting
/// with <c>!</c> (shell commands) dropped, IPython magics written as <c>get_ipython()</c> calls as nbconvert's
/// Python exporter writes them, markdown cells as comments. The script goes beside the notebook, <c>.ipynb</c> → <c>.py</c>.
/// </summary>
public static class NotebookScript
{
    /// <summary>Converts <paramref name="notebook"/> (a path in the job's code) and returns the script's path.</summary>
    public static string Convert(string notebook, string job)
    {
        if (!notebook.EndsWith(".ipynb", StringComparison.OrdinalIgnoreCase))
        {
            throw new JobFailedException(FailureStage.Agent, $"The job {job} is a notebook job, but its entry point ends with '{Path.GetFileName(notebook)}', not a .ipynb notebook.");
        }
        if (!File.Exists(notebook)) throw new JobFailedException(FailureStage.Agent, $"The job {job} is a notebook job, but its code has no notebook '{Path.GetFileName(notebook)}'.");
        if (new FileInfo(notebook).Length > DocumentLimits.MaxCharacters)
        {
            throw new JobFailedException(FailureStage.Agent, $"The notebook '{Path.GetFileName(notebook)}' of job {job} is larger than {DocumentLimits.MaxCharacters / (1024 * 1024)} MiB.");
        }
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(notebook), documentOptions: new JsonDocumentOptions { MaxDepth = DocumentLimits.MaxDepth }) as JsonObject
                   ?? throw new JsonException("not a JSON object");
        }
        catch (JsonException e)
        {
            throw new JobFailedException(FailureStage.Agent, $"The notebook '{Path.GetFileName(notebook)}' of job {job} is not a notebook: {e.Message}");
        }
        var script = new StringBuilder("#!/usr/bin/env python\n# coding: utf-8\n\n");
        foreach (var cell in (root["cells"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var source = Source(cell["source"]);
            switch (JsonTree.TryGetString(cell["cell_type"], out var type) ? type : "")
            {
                case "code":
                    var lines = source.Split('\n').Where(l => !l.StartsWith('!')).ToList();
                    script.Append("# In[ ]:\n\n\n").Append(Magics(lines)).Append("\n\n\n");
                    break;
                case "markdown":
                    foreach (var line in source.Split('\n')) script.Append(line.Length == 0 ? "#\n" : $"# {line}\n");
                    script.Append("\n\n");
                    break;
            }
        }
        var output = Path.ChangeExtension(notebook, ".py");
        File.WriteAllText(output, script.ToString());
        return output;
    }

    private static string Source(JsonNode? node) => node switch
    {
        JsonArray parts => string.Concat(parts.Select(p => JsonTree.TryGetString(p, out var s) ? s : "")),
        _ => JsonTree.TryGetString(node, out var text) ? text : "",
    };

    private static string Magics(List<string> lines)
    {
        if (lines.Count > 0 && lines[0].StartsWith("%%", StringComparison.Ordinal))
        {
            var (name, args) = Split(lines[0][2..]);
            return $"get_ipython().run_cell_magic({Quote(name)}, {Quote(args)}, {Quote(string.Join('\n', lines.Skip(1)))})";
        }
        return string.Join('\n', lines.Select(line =>
        {
            var indent = line[..(line.Length - line.TrimStart().Length)];
            var body = line.TrimStart();
            if (!body.StartsWith('%')) return line;
            var (name, args) = Split(body[1..]);
            return $"{indent}get_ipython().run_line_magic({Quote(name)}, {Quote(args)})";
        }));
    }

    private static (string Name, string Args) Split(string magic)
    {
        var space = magic.IndexOf(' ');
        return space < 0 ? (magic, "") : (magic[..space], magic[(space + 1)..]);
    }

    private static string Quote(string text) => "'" + text.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n") + "'";
}
