using System.Text.RegularExpressions;

namespace WandbLaunch.Engine.Config;

/// <summary>The forms of <c>builder.build-context-store</c>, where the kaniko builder uploads build contexts: S3, Google Cloud Storage or Azure Blob Storage.</summary>
public static partial class BuildContextStoreUri
{
    [GeneratedRegex(@"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")]
    private static partial Regex S3();

    [GeneratedRegex(@"^gs://[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9](/.*)?$")]
    private static partial Regex Gcs();

    [GeneratedRegex(@"^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9](/.*)?$")]
    private static partial Regex AzureBlob();

    public static bool IsValid(string uri) => S3().IsMatch(uri) || Gcs().IsMatch(uri) || AzureBlob().IsMatch(uri);
}
