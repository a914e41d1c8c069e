using WandbLaunch.Engine.Secrets;

namespace WandbLaunch.Engine.Specs;

/// <summary>The secret a launch spec carries: its API key (<c>_wandb_api_key</c>).</summary>
public static class SpecSecrets
{
    /// <summary><paramref name="redactor"/> plus the API key <paramref name="spec"/> carries, if any.</summary>
    public static SecretRedactor WithSpec(this SecretRedactor redactor, LaunchSpec? spec) => redactor.With(spec?.ApiKey);
}
