namespace WandbLaunch.Engine.Cloud.Aws;

/// <summary>
/// What a client needs to know of one AWS service, from its botocore model's metadata: the service id (which names
/// its <c>AWS_ENDPOINT_URL_&lt;ID&gt;</c> variable), the SigV4 signing name, the endpoint prefix, and its protocol:
/// JSON 1.1 with a target prefix, or the query protocol with an API version.
/// </summary>
public sealed record AwsService(string ServiceId, string SigningName, string EndpointPrefix, string? JsonTargetPrefix = null, string? QueryVersion = null)
{
    public static readonly AwsService SageMaker = new("SageMaker", "sagemaker", "api.sagemaker", JsonTargetPrefix: "SageMaker");

    public static readonly AwsService Ecr = new("ECR", "ecr", "api.ecr", JsonTargetPrefix: "AmazonEC2ContainerRegistry_V20150921");

    public static readonly AwsService CloudWatchLogs = new("CloudWatch Logs", "logs", "logs", JsonTargetPrefix: "Logs_20140328");

    public static readonly AwsService Sts = new("STS", "sts", "sts", QueryVersion: "2011-06-15");

    /// <summary>The service-specific endpoint variable as the AWS SDKs name it: the service id upper-cased, spaces as underscores.</summary>
    public string EndpointVariable => "AWS_ENDPOINT_URL_" + ServiceId.Replace(' ', '_').ToUpperInvariant();

    public override string ToString() => ServiceId;
}
