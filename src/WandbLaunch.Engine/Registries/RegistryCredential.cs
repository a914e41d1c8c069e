namespace WandbLaunch.Engine.Registries;

/// <summary>Credentials for a registry. <see cref="ToString"/> never shows the secret.</summary>
public sealed class RegistryCredential(string username, string password)
{
    public string Username { get; } = username;

    public string Password { get; } = password;

    /// <summary>Where the credential came from (a Docker config file, a credential helper, a parameter).</summary>
    public string Source { get; init; } = "parameter";

    public override string ToString() => $"{Username} (from {Source})";

    /// <summary>
    /// The credential an agent uses for <paramref name="registry"/>: <paramref name="given"/> (-RegistryCredential)
    /// for the registry of <paramref name="destination"/> (builder.destination; for any registry when there is
    /// none), otherwise the Docker config file's. A credential given for the destination is never sent to another
    /// registry, such as the one a base image comes from.
    /// </summary>
    public static RegistryCredential? Resolve(string registry, RegistryCredential? given, string? destination, Func<string, string?> environment) =>
        given is not null && (destination is null || ImageReference.Parse(destination).Registry == registry)
            ? given
            : DockerConfigCredentials.Find(registry, environment);
}
