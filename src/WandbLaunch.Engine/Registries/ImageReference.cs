using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Registries;

/// <summary>An image name split the way Docker splits it: registry host, repository path and tag.</summary>
public sealed record ImageReference(string Registry, string Repository, string Tag)
{
    public const string DockerHub = "docker.io";

    /// <summary>The name as Docker writes it (Docker Hub's host and library/ prefix left implicit; a digest after '@').</summary>
    public override string ToString() =>
        (Registry == DockerHub ? (Repository.StartsWith("library/", StringComparison.Ordinal) ? Repository["library/".Length..] : Repository) : $"{Registry}/{Repository}") +
        (IsDigest ? "@" : ":") + Tag;

    /// <summary>True when <see cref="Tag"/> is a digest (sha256:...) rather than a tag.</summary>
    public bool IsDigest => Tag.Contains(':');

    /// <summary>The repository without the tag, as Docker names it (for pushing).</summary>
    public string Name => Registry == DockerHub ? Repository : $"{Registry}/{Repository}";

    /// <summary>True for registries Docker talks to over plain HTTP by default (loopback).</summary>
    public bool IsLoopback
    {
        get
        {
            var host = Registry.Split(':')[0];
            return host is "localhost" or "::1" || host.StartsWith("127.", StringComparison.Ordinal);
        }
    }

    public static ImageReference Parse(string image)
    {
        if (string.IsNullOrWhiteSpace(image) || image.Contains(' '))
        {
            throw LaunchException.Invalid("InvalidImageName", $"'{image}' is not an image name.", image);
        }
        var name = image;
        var tag = "latest";
        var at = name.IndexOf('@');
        if (at >= 0)
        {
            tag = name[(at + 1)..];
            name = name[..at];
        }
        var slash = name.LastIndexOf('/');
        var colon = name.LastIndexOf(':');
        if (colon > slash)
        {
            // name:tag@digest pulls the digest, as docker does.
            if (at < 0) tag = name[(colon + 1)..];
            name = name[..colon];
        }
        var first = name.Split('/')[0];
        var hasRegistry = name.Contains('/') && (first.Contains('.') || first.Contains(':') || first == "localhost");
        var registry = hasRegistry ? first : DockerHub;
        var repository = hasRegistry ? name[(first.Length + 1)..] : name.Contains('/') ? name : "library/" + name;
        return new ImageReference(registry, repository, tag);
    }
}
