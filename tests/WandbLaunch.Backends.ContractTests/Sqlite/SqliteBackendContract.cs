namespace WandbLaunch.Backends.ContractTests.Sqlite;

/// <summary>The backend contract, run against the local SQLite store.</summary>
public sealed class SqliteBackendContract : LaunchBackendContract<SqliteBackendFactory>;
