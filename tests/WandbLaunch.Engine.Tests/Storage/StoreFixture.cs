using Microsoft.Data.Sqlite;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Tests.Storage;

/// <summary>Helpers for tests against real SQLite files.</summary>
internal static class Store
{
    public const string Entity = "team";
    public const string Project = "model-registry";

    public static QueueDefinition Queue(string name, string project = Project, string entity = Entity, string resource = "local-process",
        string? configJson = null, string? variablesJson = null, bool prioritization = false) =>
        TestQueues.Definition(name, entity, project, resource, configJson, prioritization, variablesJson, createdBy: "tester");

    public static QueueKey Key(string name, string project = Project, string entity = Entity) => new(entity, project, name);

    /// <summary>A connection of our own (not pooled, so it holds nothing open once disposed).</summary>
    public static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    public static object? Scalar(string path, string sql)
    {
        using var connection = Open(path);
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    public static void Exec(string path, string sql)
    {
        using var connection = Open(path);
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
