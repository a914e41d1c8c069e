namespace WandbLaunch.Engine.Registries;

/// <summary>Credentials for a registry. <see cref="ToString"/> never shows the secret.</summary>
public sealed class RegistryCredential(string username, string password)
{
    public string Username { get; } = username;

    public string Password { get; } = password;

    /// <summary>Where the credential came from (a Docker config file, a credential helper, a parameter).</summary>
    public string Source { get; init; } = "parameter";

    public override string ToString() => $"{Username} (from {Source})";
}
