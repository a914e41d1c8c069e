using System.Net;
using System.Xml.Linq;
using WandbLaunch.Engine.Errors;

namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>Who the credentials are (STS GetCallerIdentity): the account, the caller's ARN and the partition taken from it.</summary>
public sealed record AwsIdentity(string Account, string Arn, string Partition)
{
    public static async Task<AwsIdentity> GetAsync(AwsClient client, CancellationToken cancellationToken)
    {
        var root = await client.CallQueryAsync(AwsService.Sts, "GetCallerIdentity", [], cancellationToken).ConfigureAwait(false);
        string? Value(string name) => root.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
        var account = Value("Account");
        var arn = Value("Arn");
        if (account is null || arn is null || arn.Split(':') is not { Length: >= 6 } parts || !parts[0].Equals("arn", StringComparison.Ordinal))
        {
            throw new AwsException("AwsMalformedAnswer", LaunchErrorCategory.InvalidData,
                $"AWS STS GetCallerIdentity answered without an account and caller ARN: {Text.Printable.Escape(root.ToString(SaveOptions.DisableFormatting)[..Math.Min(300, root.ToString().Length)])}",
                AwsService.Sts, "GetCallerIdentity", null, null, HttpStatusCode.OK, null);
        }
        return new AwsIdentity(account, arn, parts[1]);
    }
}
