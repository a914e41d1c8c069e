namespace WandbLaunch.Engine.Runners.Vertex;

/// <summary>A CustomJob's resource name, <c>projects/&lt;project&gt;/locations/&lt;region&gt;/customJobs/&lt;id&gt;</c>.</summary>
internal readonly record struct VertexJobName(string Project, string Region, string Id)
{
    public static bool TryParse(string name, out VertexJobName parsed)
    {
        var parts = name.Split('/');
        parsed = default;
        if (parts is not ["projects", { Length: > 0 } project, "locations", { Length: > 0 } region, "customJobs", { Length: > 0 } id]) return false;
        if (!Valid(project) || !Valid(region) || !id.All(char.IsAsciiDigit)) return false;
        parsed = new VertexJobName(project, region, id);
        return true;
    }

    private static bool Valid(string segment) => segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':');
}
