using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Registries;

/// <summary>
/// Registry credentials from the Docker config file (<c>$DOCKER_CONFIG/config.json</c> or
/// <c>~/.docker/config.json</c>), as the docker CLI finds them: <c>credHelpers</c> for the host, then <c>auths</c>,
/// then <c>credsStore</c>. Helpers are run as <c>docker-credential-&lt;name&gt; get</c>.
/// </summary>
public static class DockerConfigCredentials
{
    public static string ConfigPath(Func<string, string?> environment) =>
        Path.Combine(environment("DOCKER_CONFIG") is { Length: > 0 } dir ? dir : Path.Combine(FileSystem.UserHome.Directory(), ".docker"), "config.json");

    public static RegistryCredential? Find(string registry, Func<string, string?> environment)
    {
        var path = ConfigPath(environment);
        if (!File.Exists(path)) return null;
        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? new JsonObject();
        }
        catch (JsonException e)
        {
            throw LaunchException.InvalidData("InvalidDockerConfig", $"The Docker config file '{path}' is not valid JSON: {e.Message}", path);
        }
        var keys = HostKeys(registry);
        if (config["credHelpers"] is JsonObject helpers)
        {
            foreach (var key in keys)
            {
                if (helpers[key]?.GetValue<string>() is { Length: > 0 } helper) return FromHelper(helper, key);
            }
        }
        if (config["auths"] is JsonObject auths)
        {
            foreach (var key in keys)
            {
                if (auths[key] is JsonObject entry && FromEntry(entry, path) is { } credential) return credential;
            }
        }
        if (config["credsStore"]?.GetValue<string>() is { Length: > 0 } store)
        {
            foreach (var key in keys)
            {
                if (FromHelper(store, key, optional: true) is { } credential) return credential;
            }
        }
        return null;
    }

    /// <summary>
    /// The passwords, tokens and <c>auth</c> values of every <c>auths</c> entry of the Docker config file, for
    /// redaction (credential helpers are not run for this). Nothing when there is no readable config.
    /// </summary>
    public static IReadOnlyList<string> KnownSecrets(Func<string, string?> environment)
    {
        var found = new List<string>();
        try
        {
            var file = new FileInfo(ConfigPath(environment));
            if (!file.Exists || file.Length > 1 << 20) return found;
            if (JsonNode.Parse(File.ReadAllText(file.FullName)) is not JsonObject { } config || config["auths"] is not JsonObject auths) return found;
            foreach (var (_, node) in auths)
            {
                if (node is not JsonObject entry) continue;
                foreach (var key in new[] { "auth", "password", "identitytoken", "registrytoken" })
                {
                    if (entry[key] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0) found.Add(s);
                }
                if (entry["auth"] is JsonValue a && a.TryGetValue<string>(out var auth) && TryDecode(auth) is { } decoded && decoded.IndexOf(':') is var colon and > 0)
                {
                    found.Add(decoded[(colon + 1)..]);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            // An unreadable config holds nothing this process could leak either.
        }
        return found;
    }

    private static string? TryDecode(string base64)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static IEnumerable<string> HostKeys(string registry) => registry == ImageReference.DockerHub
        ? ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
        : [registry, $"https://{registry}", $"http://{registry}", $"https://{registry}/v1/", $"https://{registry}/v2/"];

    private static RegistryCredential? FromEntry(JsonObject entry, string path)
    {
        if (entry["auth"]?.GetValue<string>() is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                throw LaunchException.InvalidData("InvalidDockerConfig", $"An 'auth' entry in '{path}' is not base64 of user:password.", path);
            }
            var colon = decoded.IndexOf(':');
            if (colon > 0) return new RegistryCredential(decoded[..colon], decoded[(colon + 1)..]) { Source = path };
        }
        if (entry["username"]?.GetValue<string>() is { } user && entry["password"]?.GetValue<string>() is { } password)
        {
            return new RegistryCredential(user, password) { Source = path };
        }
        if (entry["identitytoken"]?.GetValue<string>() is { Length: > 0 } token)
        {
            return new RegistryCredential("<token>", token) { Source = path };
        }
        return null;
    }

    private static RegistryCredential? FromHelper(string helper, string serverUrl, bool optional = false)
    {
        var program = "docker-credential-" + helper;
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("get");
        try
        {
            using var process = Process.Start(info)!;
            process.StandardInput.Write(serverUrl);
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEnd();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                if (optional) return null;
                throw new LaunchException("CredentialHelperFailed", LaunchErrorCategory.PermissionDenied,
                    $"The Docker credential helper '{program}' found no credentials for {serverUrl}: {(output + error).Trim()}", serverUrl);
            }
            var json = JsonNode.Parse(output) as JsonObject;
            var user = json?["Username"]?.GetValue<string>();
            var secret = json?["Secret"]?.GetValue<string>();
            return user is null || secret is null ? null : new RegistryCredential(user, secret) { Source = program };
        }
        catch (System.ComponentModel.Win32Exception)
        {
            if (optional) return null;
            throw new LaunchException("CredentialHelperNotFound", LaunchErrorCategory.ObjectNotFound,
                $"The Docker config names the credential helper '{helper}', but '{program}' is not on PATH.", program);
        }
    }
}
