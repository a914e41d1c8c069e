namespace WandbLaunch.Backends.ContractTests.Wandb;

/// <summary>The backend contract, run against the W&amp;B server stand-in.</summary>
public sealed class WandbBackendContract : LaunchBackendContract<WandbBackendFactory>;
