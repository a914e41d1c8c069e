using System.Security.Cryptography;
using System.Text;

namespace WandbLaunch.Engine.Artifacts;

/// <summary>W&amp;B's digests: a file's is the base64 of its MD5; an artifact's is the hex MD5 over its sorted manifest entries.</summary>
public static class ArtifactDigest
{
    public static async Task<string> OfFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return Convert.ToBase64String(await MD5.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }

    public static string OfBytes(ReadOnlySpan<byte> content) => Convert.ToBase64String(MD5.HashData(content));

    /// <summary>The hex form W&amp;B uses in cache paths and V1 file URLs (<c>obj/md5/&lt;2 hex&gt;/&lt;rest&gt;</c>).</summary>
    public static string ToHex(string base64Digest) => Convert.ToHexString(Convert.FromBase64String(base64Digest)).ToLowerInvariant();

    /// <summary>Whether <paramref name="digest"/> is a base64 MD5 (16 bytes), the only form a manifest may give.</summary>
    public static bool IsMd5(string? digest)
    {
        if (digest is not { Length: 24 }) return false;
        Span<byte> bytes = stackalloc byte[18];
        return Convert.TryFromBase64String(digest, bytes, out var written) && written == 16;
    }

    /// <summary>The artifact digest: <c>md5("wandb-artifact-manifest-v1\n" + "path:digest\n" for each entry by path)</c>, hex.</summary>
    public static string OfManifest(ArtifactManifest manifest)
    {
        var text = new StringBuilder("wandb-artifact-manifest-v1\n");
        foreach (var entry in manifest.Entries.OrderBy(e => e.Path, StringComparer.Ordinal)) text.Append(entry.Path).Append(':').Append(entry.Digest).Append('\n');
        return Convert.ToHexString(MD5.HashData(Encoding.UTF8.GetBytes(text.ToString()))).ToLowerInvariant();
    }
}
