namespace WandbLaunch.Engine.Storage.Sqlite;

/// <summary>
/// The store's schema as an ordered list of migrations; <c>PRAGMA user_version</c> records how many have run.
/// Migrations are append-only: never edit one that has shipped, add the next.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>Marks a database as a WandbLaunch store ('WBLQ').</summary>
    public const int ApplicationId = 0x57424C51;

    public static readonly string[] Migrations =
    [
        // 1: queues
        """
        CREATE TABLE queues (
            id              TEXT PRIMARY KEY,
            entity          TEXT NOT NULL,
            project         TEXT NOT NULL,
            name            TEXT NOT NULL,
            resource        TEXT NOT NULL,
            config          TEXT NOT NULL,
            template_vars   TEXT NOT NULL,
            prioritization  INTEGER NOT NULL,
            access          TEXT NOT NULL,
            created_by      TEXT,
            created_at      INTEGER NOT NULL,
            updated_at      INTEGER NOT NULL,
            UNIQUE (entity, project, name)
        );
        """,
        // 2: queue items (jobs) and agents
        """
        CREATE TABLE items (
            seq              INTEGER PRIMARY KEY AUTOINCREMENT,
            id               TEXT NOT NULL UNIQUE,
            queue_id         TEXT NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
            state            TEXT NOT NULL,
            priority         INTEGER NOT NULL,
            spec             TEXT NOT NULL,
            template_values  TEXT,
            run_id           TEXT NOT NULL,
            agent_id         TEXT,
            lease_expires    INTEGER,
            attempts         INTEGER NOT NULL DEFAULT 0,
            handle           TEXT,
            exit_code        INTEGER,
            failure_message  TEXT,
            failure_stage    TEXT,
            warnings         TEXT,
            stop_requested   INTEGER NOT NULL DEFAULT 0,
            resume           INTEGER NOT NULL DEFAULT 0,
            log_path         TEXT,
            created_at       INTEGER NOT NULL,
            leased_at        INTEGER,
            started_at       INTEGER,
            finished_at      INTEGER,
            updated_at       INTEGER NOT NULL
        );
        CREATE INDEX items_pending ON items (queue_id, priority, seq) WHERE state = 'Pending';
        CREATE INDEX items_pending_fifo ON items (queue_id, seq) WHERE state = 'Pending';
        CREATE INDEX items_active ON items (agent_id, state) WHERE state IN ('Leased', 'Starting', 'Running');
        CREATE INDEX items_queue ON items (queue_id, state);
        CREATE TABLE agents (
            id               TEXT PRIMARY KEY,
            name             TEXT NOT NULL,
            hostname         TEXT NOT NULL,
            pid              INTEGER NOT NULL,
            entity           TEXT NOT NULL,
            queues           TEXT NOT NULL,
            config           TEXT NOT NULL,
            max_jobs         INTEGER NOT NULL,
            status           TEXT NOT NULL,
            stop_requested   INTEGER NOT NULL DEFAULT 0,
            version          TEXT NOT NULL,
            created_at       INTEGER NOT NULL,
            heartbeat_at     INTEGER NOT NULL
        );
        """,
        // 3: artifacts (W&B jobs and their code): collections of one type, their versions with manifests, and
        // aliases naming one version per collection. The files are content-addressed beside the store
        // (artifacts/obj/md5/<2 hex>/<rest>), not in it. Nothing here refers to queues or items.
        """
        CREATE TABLE artifact_collections (
            id          INTEGER PRIMARY KEY,
            entity      TEXT NOT NULL,
            project     TEXT NOT NULL,
            name        TEXT NOT NULL,
            type        TEXT NOT NULL,
            created_at  INTEGER NOT NULL,
            UNIQUE (entity, project, name)
        );
        CREATE INDEX artifact_collections_type ON artifact_collections (entity, project, type);
        CREATE TABLE artifact_versions (
            seq            INTEGER PRIMARY KEY AUTOINCREMENT,
            id             TEXT NOT NULL UNIQUE,
            collection_id  INTEGER NOT NULL REFERENCES artifact_collections(id),
            version_index  INTEGER NOT NULL,
            digest         TEXT NOT NULL,
            size           INTEGER NOT NULL,
            description    TEXT,
            metadata       TEXT,
            manifest       TEXT NOT NULL,
            created_at     INTEGER NOT NULL,
            UNIQUE (collection_id, version_index)
        );
        CREATE INDEX artifact_versions_digest ON artifact_versions (collection_id, digest);
        CREATE TABLE artifact_aliases (
            collection_id  INTEGER NOT NULL REFERENCES artifact_collections(id),
            alias          TEXT NOT NULL,
            version_id     TEXT NOT NULL REFERENCES artifact_versions(id),
            PRIMARY KEY (collection_id, alias)
        );
        CREATE INDEX artifact_aliases_version ON artifact_aliases (version_id);
        """,
    ];

    public static int Version => Migrations.Length;
}
