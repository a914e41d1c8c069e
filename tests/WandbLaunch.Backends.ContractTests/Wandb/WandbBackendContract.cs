namespace WandbLaunch.Backends.ContractTests.Wandb;

/// <summary>The backend contract, run against the W&amp;B backend on the W&amp;B stand-in server.</summary>
public sealed class WandbBackendContract : LaunchBackendContract<WandbBackendFactory>;
