using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Storage;
using WandbLaunch.Engine.Services;
using WandbLaunch.Engine.Storage.Sqlite;
using WandbLaunch.Engine.Storage.Wandb;

namespace WandbLaunch.Engine.Tests.Storage;

/// <summary>Choosing a backend: a typed connection, opened through the one entry point, one backend per connection.</summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class BackendConnectionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Equal_connections_share_one_backend_and_a_different_entity_is_another_connection()
    {
        var path = _dir.File("shared.db");
        var first = LaunchBackends.For(new LocalStoreConnection(path));
        var again = LaunchBackends.For(new LocalStoreConnection(Path.Combine(_dir.Path, ".", "shared.db")));
        var team = LaunchBackends.For(new LocalStoreConnection(path) { Entity = "team" });

        Assert.Same(first, again);
        Assert.NotSame(first, team);
        Assert.Equal(path, first.Location);
        Assert.Equal("team", team.DefaultEntity);
        Assert.False(File.Exists(path), "For contacts nothing: the store is created on first use or by ConnectAsync");
    }

    [Fact]
    public void A_session_stays_on_the_local_store_unless_WANDB_LAUNCH_BACKEND_picks_the_wandb_server_of_the_wandb_variables()
    {
        var db = _dir.File("env.db");
        using var dbVar = new EnvironmentVariableScope(LaunchDefaults.DatabaseVariable, db);
        using var url = new EnvironmentVariableScope("WANDB_BASE_URL", "https://wandb.example.com:8443/");
        using var key = new EnvironmentVariableScope("WANDB_API_KEY", "local-0123456789abcdef0123456789abcdef01234567");
        using var entity = new EnvironmentVariableScope("WANDB_ENTITY", "ml-team");

        // A W&B key alone (most W&B users have one set) does not move a session off its local store.
        using (new EnvironmentVariableScope(SessionDefaults.BackendVariable, null))
        {
            Assert.Equal(new LocalStoreConnection(db), SessionDefaults.Connection());
        }
        Assert.Equal(new LocalStoreConnection(db), SessionDefaults.Connection(" Local "));

        var server = Assert.IsType<WandbConnection>(SessionDefaults.Connection("wandb"));
        Assert.Equal("https://wandb.example.com:8443", server.Location);
        Assert.Equal("ml-team", server.Entity);
        Assert.Equal(WandbApiKey.Of("local-0123456789abcdef0123456789abcdef01234567", "test"), server.ApiKey);
        Assert.Equal(server, SessionDefaults.Connection("WANDB"));
        Assert.Equal("from WANDB_LAUNCH_BACKEND=wandb", SessionDefaults.ChosenBy(server));

        var e = Assert.ThrowsAny<LaunchException>(() => SessionDefaults.Connection("postgres"));
        Assert.Equal("InvalidLaunchBackend", e.ErrorId);
        Assert.Contains("'postgres'", e.Message);
        Assert.Contains("'local'", e.Message);
        Assert.Contains("'wandb'", e.Message);
    }

    [Fact]
    public async Task ConnectAsync_creates_the_store_and_refuses_a_file_that_is_not_one()
    {
        var good = await LaunchBackends.ConnectAsync(new LocalStoreConnection(_dir.File("new/folder/launch.db")), CancellationToken.None);
        Assert.True(File.Exists(good.Location));

        var text = _dir.Write("notes.db", "not a database\n");
        var e = await Assert.ThrowsAnyAsync<LaunchException>(() => LaunchBackends.ConnectAsync(new LocalStoreConnection(text), CancellationToken.None));
        Assert.Equal("StoreNotDatabase", e.ErrorId);
        Assert.Equal("not a database\n", File.ReadAllText(text));
    }

    [Fact]
    public void A_local_connection_is_a_full_path_with_home_expanded_and_prints_only_kind_and_location()
    {
        using var home = new EnvironmentVariableScope("HOME", _dir.Path);
        var connection = new LocalStoreConnection("~/stores/team.db") { Entity = "team" };

        Assert.Equal(Path.Combine(_dir.Path, "stores", "team.db"), connection.Location);
        Assert.Equal("Local", connection.Kind);
        Assert.Equal($"Local {connection.Location}", connection.ToString());
    }

    [Fact]
    public void The_default_connection_follows_WANDB_LAUNCH_DB_at_each_call()
    {
        using (new EnvironmentVariableScope("WANDB_LAUNCH_DB", _dir.File("a.db")))
        {
            Assert.Equal(_dir.File("a.db"), LocalStoreConnection.Default().Location);
        }
        using (new EnvironmentVariableScope("WANDB_LAUNCH_DB", _dir.File("b.db")))
        {
            Assert.Equal(new LocalStoreConnection(_dir.File("b.db")), LocalStoreConnection.Default());
        }
    }
}
