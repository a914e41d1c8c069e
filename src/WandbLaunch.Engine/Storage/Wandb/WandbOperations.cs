namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// The GraphQL operations this backend sends, with the field, argument and variable names of the wandb SDK's own
/// texts (<c>sdk/internal/internal_api.py</c>, <c>apis/public/jobs.py</c>, <c>core/api/graphql/mutation_run_queue.graphql</c>),
/// so the server sees exactly what the SDK and the Launch App send.
/// </summary>
internal static class WandbOperations
{
    public const string Viewer = """
        query Viewer{
            viewer {
                id
                entity
                username
            }
        }
        """;

    public const string EntityIsTeam = """
        query EntityIsTeam($entity: String!) {
            entity(name: $entity) {
                id
                isTeam
            }
        }
        """;

    public const string ProjectRunQueues = """
        query ProjectRunQueues($entity: String!, $projectName: String!){
            project(entityName: $entity, name: $projectName) {
                runQueues {
                    id
                    name
                    createdBy
                    access
                }
            }
        }
        """;

    public const string RunQueueMetadata = """
        query GetRunQueueMetadata($projectName: String!, $entityName: String!, $runQueue: String!) {
            project(name: $projectName, entityName: $entityName) {
                runQueue(name: $runQueue) {
                    id
                    createdBy
                    access
                    defaultResourceConfigID
                    prioritizationMode
                    externalLinks
                }
            }
        }
        """;

    public const string DefaultResourceConfig = """
        query GetDefaultResourceConfig($entityName: String!, $id: ID!) {
            entity(name: $entityName) {
                defaultResourceConfig(id: $id) {
                    config
                    resource
                    templateVariables {
                        name
                        schema
                    }
                }
            }
        }
        """;

    public const string CreateDefaultResourceConfig = """
        mutation CreateDefaultResourceConfig(
            $entityName: String!
            $resource: String!
            $config: JSONString!
            $templateVariables: JSONString
        ) {
            createDefaultResourceConfig(
                input: {
                    entityName: $entityName
                    resource: $resource
                    config: $config
                    templateVariables: $templateVariables
                }
            ) {
                defaultResourceConfigID
                success
            }
        }
        """;

    public const string CreateRunQueue = """
        mutation CreateRunQueue(
            $entity: String!
            $project: String!
            $queueName: String!
            $access: RunQueueAccessType!
            $prioritizationMode: RunQueuePrioritizationMode
            $defaultResourceConfigID: ID
        ) {
            createRunQueue(
                input: {
                    entityName: $entity
                    projectName: $project
                    queueName: $queueName
                    access: $access
                    prioritizationMode: $prioritizationMode
                    defaultResourceConfigID: $defaultResourceConfigID
                }
            ) {
                success
                queueID
            }
        }
        """;

    public const string UpsertRunQueue = """
        mutation upsertRunQueue(
            $entityName: String!
            $projectName: String!
            $queueName: String!
            $resourceType: String!
            $resourceConfig: JSONString!
            $templateVariables: JSONString
            $prioritizationMode: RunQueuePrioritizationMode
            $externalLinks: JSONString
            $clientMutationId: String
        ) {
            upsertRunQueue(
                input: {
                    entityName: $entityName
                    projectName: $projectName
                    queueName: $queueName
                    resourceType: $resourceType
                    resourceConfig: $resourceConfig
                    templateVariables: $templateVariables
                    prioritizationMode: $prioritizationMode
                    externalLinks: $externalLinks
                    clientMutationId: $clientMutationId
                }
            ) {
                success
                configSchemaValidationErrors
            }
        }
        """;

    public const string DeleteRunQueue = """
        mutation DeleteRunQueue($id: ID!) {
            deleteRunQueues(input: {queueIDs: [$id]}) {
                success
                clientMutationId
            }
        }
        """;

    /// <summary>pushToRunQueueByName with the optional priority and template values, as the SDK builds it when both are given.</summary>
    public static string PushToRunQueueByName(bool priority, bool templateValues) => $$"""
        mutation pushToRunQueueByName(
            $entityName: String!,
            $projectName: String!,
            $queueName: String!,
            $runSpec: JSONString!{{(priority ? ", $priority: Int" : "")}}{{(templateValues ? ", $templateVariableValues: JSONString" : "")}}
        ) {
            pushToRunQueueByName(
                input: {
                    entityName: $entityName,
                    projectName: $projectName,
                    queueName: $queueName,
                    runSpec: $runSpec{{(priority ? ", priority: $priority" : "")}}{{(templateValues ? ", templateVariableValues: $templateVariableValues" : "")}}
                }
            ) {
                runQueueItemId
                runSpec
            }
        }
        """;

    /// <summary>
    /// The SDK's item list (<c>apis/public/jobs.py</c>) with the fields of W&amp;B's RunQueueItem the Launch App reads
    /// (spec, priority, times, agent, error, warnings), so every item lists with its spec, not only popped ones.
    /// </summary>
    public const string RunQueueItems = """
        query GetRunQueueItem($projectName: String!, $entityName: String!, $runQueue: String!) {
            project(name: $projectName, entityName: $entityName) {
                runQueue(name:$runQueue) {
                    runQueueItems {
                        edges {
                            node {
                                id
                                state
                                associatedRunId
                                runSpec
                                priority
                                createdAt
                                launchAgentId
                                error {
                                    message
                                    stage
                                    createdAt
                                }
                                warnings {
                                    message
                                    stage
                                    createdAt
                                }
                            }
                        }
                    }
                }
            }
        }
        """;

    public const string RunQueueItem = """
        query GetRunQueueItem($projectName: String!, $entityName: String!, $runQueue: String!, $itemId: ID!) {
            project(name: $projectName, entityName: $entityName) {
                runQueue(name: $runQueue) {
                    runQueueItem(id: $itemId) {
                        id
                        state
                        associatedRunId
                    }
                }
            }
        }
        """;

    public const string DeleteFromRunQueue = """
        mutation DeleteFromRunQueue(
            $queueID: ID!,
            $runQueueItemId: ID!
        ) {
            deleteFromRunQueue(input: {
                queueID: $queueID
                runQueueItemId: $runQueueItemId
            }) {
                success
                clientMutationId
            }
        }
        """;

    public const string PopFromRunQueue = """
        mutation popFromRunQueue($entity: String!, $project: String!, $queueName: String!, $launchAgentId: ID)  {
            popFromRunQueue(input: {
                entityName: $entity,
                projectName: $project,
                queueName: $queueName,
                launchAgentId: $launchAgentId
            }) {
                runQueueItemId
                runSpec
            }
        }
        """;

    public const string AckRunQueueItem = """
        mutation ackRunQueueItem($itemId: ID!, $runId: String!)  {
            ackRunQueueItem(input: { runQueueItemId: $itemId, runName: $runId }) {
                success
            }
        }
        """;

    public const string FailRunQueueItem = """
        mutation failRunQueueItem($runQueueItemId: ID!, $message: String!, $stage: String!, $filePaths: [String!]) {
            failRunQueueItem(
                input: {
                    runQueueItemId: $runQueueItemId
                    message: $message
                    stage: $stage
                    filePaths: $filePaths
                }
            ) {
                success
            }
        }
        """;

    public const string UpdateRunQueueItemWarning = """
        mutation updateRunQueueItemWarning($runQueueItemId: ID!, $message: String!, $stage: String!, $filePaths: [String!]) {
            updateRunQueueItemWarning(
                input: {
                    runQueueItemId: $runQueueItemId
                    message: $message
                    stage: $stage
                    filePaths: $filePaths
                }
            ) {
                success
            }
        }
        """;

    public const string CreateLaunchAgent = """
        mutation createLaunchAgent(
            $entity: String!,
            $project: String!,
            $queues: [ID!]!,
            $hostname: String!,
            $agentConfig: JSONString,
            $version: String
        ) {
            createLaunchAgent(
                input: {
                    entityName: $entity,
                    projectName: $project,
                    runQueues: $queues,
                    hostname: $hostname,
                    agentConfig: $agentConfig,
                    version: $version
                }
            ) {
                launchAgentId
            }
        }
        """;

    public const string UpdateLaunchAgent = """
        mutation updateLaunchAgent($agentId: ID!, $agentStatus: String){
            updateLaunchAgent(
                input: {
                    launchAgentId: $agentId
                    agentStatus: $agentStatus
                }
            ) {
                success
            }
        }
        """;

    public const string LaunchAgent = """
        query LaunchAgent($agentId: ID!) {
            launchAgent(id: $agentId) {
                id
                name
                runQueues
                hostname
                agentStatus
                stopPolling
                heartbeatAt
            }
        }
        """;

    // ---- runs: what the agent reads of a job's run, and its own hidden run that keeps items' error logs

    /// <summary>The SDK's <c>get_run_state</c>: a job's run exists once it called wandb.init.</summary>
    public const string RunState = """
        query RunState(
            $project: String!,
            $entity: String!,
            $name: String!) {
            project(name: $project, entityName: $entity) {
                run(name: $name) {
                    state
                }
            }
        }
        """;

    /// <summary>The SDK's <c>check_stop_requested</c>: the run was stopped in the W&amp;B app (or with stopRun).</summary>
    public const string RunStoppedStatus = """
        query RunStoppedStatus($projectName: String, $entityName: String, $runId: String!) {
            project(name:$projectName, entityName:$entityName) {
                run(name:$runId) {
                    stopped
                }
            }
        }
        """;

    /// <summary>The agent's hidden run (wandb.init with id = the agent's name, job type <c>sweep-controller</c>).</summary>
    public const string UpsertAgentRun = """
        mutation UpsertBucket($id: String, $name: String, $project: String, $entity: String, $jobType: String) {
            upsertBucket(input: { id: $id, name: $name, modelName: $project, entityName: $entity, jobType: $jobType }) {
                bucket {
                    id
                    name
                }
                inserted
            }
        }
        """;

    /// <summary>The SDK's <c>upload_urls</c>: where to PUT a run's files.</summary>
    public const string CreateRunFiles = """
        mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
            createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) {
                runID
                uploadHeaders
                files {
                    name
                    uploadUrl
                }
            }
        }
        """;
    // ---- runs of listed items: their state (Get-WandbLaunchJob) and stopping one (Stop-WandbLaunchJob)

    /// <summary>
    /// The SDK's RunState query (<c>get_run_state</c>, <c>Run.wait_until_finished</c>) for many runs in one request:
    /// one aliased <c>project</c> per (entity, project), one aliased <c>run</c> per run name in it. Variables:
    /// <c>$e{i}</c>, <c>$p{i}</c> per project and <c>$n{i}_{j}</c> per run.
    /// </summary>
    public static string RunStates(IReadOnlyList<int> runsPerProject)
    {
        var declarations = new List<string>();
        var body = new System.Text.StringBuilder();
        for (var p = 0; p < runsPerProject.Count; p++)
        {
            declarations.Add($"$e{p}: String!");
            declarations.Add($"$p{p}: String!");
            body.Append($"    p{p}: project(name: $p{p}, entityName: $e{p}) {{\n");
            for (var r = 0; r < runsPerProject[p]; r++)
            {
                declarations.Add($"$n{p}_{r}: String!");
                body.Append($"        r{r}: run(name: $n{p}_{r}) {{\n            name\n            state\n            stopped\n        }}\n");
            }
            body.Append("    }\n");
        }
        return $"query RunStates({string.Join(", ", declarations)}) {{\n{body}}}\n";
    }

    /// <summary>A run's GraphQL id (what stopRun takes), state and stopped flag, by entity, project and run name.</summary>
    public const string RunIdState = """
        query RunIdState($project: String!, $entity: String!, $name: String!) {
            project(name: $project, entityName: $entity) {
                run(name: $name) {
                    id
                    state
                    stopped
                }
            }
        }
        """;

    /// <summary>The SDK's <c>stop_run</c> (what the W&amp;B app's stop does): sets the run's stopped flag.</summary>
    public const string StopRun = """
        mutation stopRun($id: ID!) {
            stopRun(input: {
                id: $id
            }) {
                clientMutationId
                success
            }
        }
        """;
}
