using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace WandbLaunch.Engine.KanikoTests;

/// <summary>Reads a gzip-compressed tar back: path → contents.</summary>
internal static class Tgz
{
    public static Dictionary<string, string> Read(byte[] data)
    {
        Assert.True(data.Length > 2 && data[0] == 0x1f && data[1] == 0x8b, "the object is not gzip-compressed");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        using var gzip = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
            using var reader = new StreamReader(entry.DataStream!, Encoding.UTF8);
            files[entry.Name] = reader.ReadToEnd();
        }
        return files;
    }
}
