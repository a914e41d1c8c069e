namespace WandbLaunch.Tests.CloudStorage;

/// <summary>The CRC-32 (IEEE) and CRC-32C (Castagnoli) checksums storage services verify, big-endian as they send them.</summary>
public static class Checksums
{
    private static readonly uint[] Ieee = Table(0xEDB88320);
    private static readonly uint[] Castagnoli = Table(0x82F63B78);

    private static uint[] Table(uint polynomial)
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }

    private static uint Compute(uint[] table, ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }

    private static string Base64BigEndian(uint value) =>
        Convert.ToBase64String([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);

    public static string Crc32(ReadOnlySpan<byte> data) => Base64BigEndian(Compute(Ieee, data));

    public static string Crc32C(ReadOnlySpan<byte> data) => Base64BigEndian(Compute(Castagnoli, data));
}
