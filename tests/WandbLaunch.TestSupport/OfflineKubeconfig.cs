namespace WandbLaunch.TestSupport;

/// <summary>
/// A kubeconfig whose current context (<c>work</c>) names a namespace and a server that is never contacted: for
/// rendering manifests, which reads the kube context's namespace and nothing else.
/// </summary>
public static class OfflineKubeconfig
{
    /// <summary>Writes it to <paramref name="path"/> (creating its folder) and returns the path.</summary>
    public static string Write(string path, string? @namespace)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: nowhere
              cluster:
                server: http://127.0.0.1:9
            users:
            - name: someone
              user:
                token: not-used
            contexts:
            - name: work
              context:
                cluster: nowhere
                user: someone
            {(@namespace is null ? "" : $"    namespace: {@namespace}")}
            current-context: work
            """);
        return path;
    }
}
