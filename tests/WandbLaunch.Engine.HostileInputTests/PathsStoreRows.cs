using Microsoft.Data.Sqlite;

namespace WandbLaunch.Engine.HostileInputTests;

/// <summary>Writes store rows directly with SQLite, as an older version (or anyone who can write the file) could, past every Submit check.</summary>
internal static class StoreRows
{
    /// <param name="set">The SET clause; <c>$v</c> is <paramref name="value"/>.</param>
    public static async Task UpdateAsync(string dbPath, string jobId, string set, string value)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = dbPath, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"UPDATE items SET {set} WHERE id = $id";
        command.Parameters.AddWithValue("$id", jobId);
        command.Parameters.AddWithValue("$v", value);
        if (await command.ExecuteNonQueryAsync() != 1) throw new InvalidOperationException($"no job {jobId} to update");
    }

    /// <summary>Gives a stored job another run id, in its column and its spec.</summary>
    public static Task SetRunIdAsync(string dbPath, string jobId, string runId) =>
        UpdateAsync(dbPath, jobId, "run_id = $v, spec = json_set(spec, '$.run_id', $v)", runId);
}
