using System.Security.Cryptography;

namespace WandbLaunch.Engine.Identifiers;

/// <summary>Short random identifiers for queue items and agents; run ids follow W&amp;B's form (8 lowercase letters and digits).</summary>
public static class Ids
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    public static string New(string prefix) => $"{prefix}-{Random(12)}";

    public static string NewRunId() => Random(8);

    private static string Random(int length) => RandomNumberGenerator.GetString(Alphabet, length);
}
