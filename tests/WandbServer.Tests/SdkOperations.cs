// The wandb SDK's operation texts, copied as test data (protocol text is a fact), from wandb/wandb commit
// b6e29505884ea60c79ca12091f1f75bd39d2f955: wandb/sdk/internal/internal_api.py, wandb/apis/public/jobs.py,
// wandb/apis/_generated/operations.py and core/api/graphql/*.graphql ("Core..."). The f-string operations
// (pushToRunQueueByName, pushToRunQueue, createLaunchAgent) are rendered as the SDK renders them with every
// optional part present.

namespace WandbLaunch.Tests.WandbServer.Tests;

internal static class SdkOperations
{
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

    public const string Viewer = """

        query Viewer{
            viewer {
                id
                entity
                username
                flags
                teams {
                    edges {
                        node {
                            name
                        }
                    }
                }
            }
        }
        
""";

    public const string RunStoppedStatus = """

        query RunStoppedStatus($projectName: String, $entityName: String, $runId: String!) {
            project(name:$projectName, entityName:$entityName) {
                run(name:$runId) {
                    stopped
                }
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

    public const string UpsertBucket = """

        mutation UpsertBucket(
            $id: String,
            $name: String,
            $project: String,
            $entity: String,
            $groupName: String,
            $description: String,
            $displayName: String,
            $notes: String,
            $commit: String,
            $config: JSONString,
            $host: String,
            $debug: Boolean,
            $program: String,
            $repo: String,
            $jobType: String,
            $state: String,
            $sweep: String,
            $tags: [String!],
            $summaryMetrics: JSONString,
        ) {
            upsertBucket(input: {
                id: $id,
                name: $name,
                groupName: $groupName,
                modelName: $project,
                entityName: $entity,
                description: $description,
                displayName: $displayName,
                notes: $notes,
                config: $config,
                commit: $commit,
                host: $host,
                debug: $debug,
                jobProgram: $program,
                jobRepo: $repo,
                jobType: $jobType,
                state: $state,
                sweep: $sweep,
                tags: $tags,
                summaryMetrics: $summaryMetrics,
            }) {
                bucket {
                    id
                    name
                    displayName
                    description
                    config
                    sweepName
                    project {
                        id
                        name
                        entity {
                            id
                            name
                        }
                    }
                    historyLineCount
                }
                inserted
            }
        }
        
""";

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

    public const string GetSweepState = """

            query GetSweepState($entity: String, $project: String, $sweep: String!) {
                project(name: $project, entityName: $entity) {
                    sweep(sweepName: $sweep) {
                        state
                    }
                }
            }
            
""";

    public const string UpsertSweep = """

        mutation UpsertSweep(
            $id: ID,
            $state: String,
            $entityName: String,
            $projectName: String
        ) {
            upsertSweep(input: {
                id: $id,
                state: $state,
                entityName: $entityName,
                projectName: $projectName
            }){
                sweep {
                    name
                }
            }
        }
        
""";

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

    public const string GetRunQueueItemLegacy = """

            query GetRunQueueItem($projectName: String!, $entityName: String!, $runQueue: String!) {
                project(name: $projectName, entityName: $entityName) {
                    runQueue(name:$runQueue) {
                        runQueueItems {
                            edges {
                                node {
                                    id
                                    state
                                    associatedRunId
                                }
                            }
                        }
                    }
                }
            }
            
""";

    public const string GetRunQueueItem = """

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

    public const string FetchRunQueuesFromProject = """

            query fetchRunQueuesFromProject($entityName: String!, $projectName: String!, $runQueueName: String!) {
                project(name: $projectName, entityName: $entityName) {
                    runQueue(name: $runQueueName) {
                        id
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

    public const string DeleteRunQueue = """

            mutation DeleteRunQueue($id: ID!) {
                deleteRunQueues(input: {queueIDs: [$id]}) {
                    success
                    clientMutationId
                }
            }
            
""";

    public const string GetRunQueueMetadata = """

            query GetRunQueueMetadata($projectName: String!, $entityName: String!, $runQueue: String!) {
                project(name: $projectName, entityName: $entityName) {
                    runQueue(name: $runQueue) {
                        id
                        access
                        defaultResourceConfigID
                        prioritizationMode
                        externalLinks
                    }
                }
            }
        
""";

    public const string GetDefaultResourceConfig = """

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

    public const string GetRunQueueItems = """

            query GetRunQueueItems($projectName: String!, $entityName: String!, $runQueue: String!) {
                project(name: $projectName, entityName: $entityName) {
                    runQueue(name: $runQueue) {
                        runQueueItems(first: 100) {
                            edges {
                                node {
                                    id
                                }
                            }
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

    public const string CoreUpsertRunQueue = """
mutation UpsertRunQueue(
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

    public const string CoreCreateRunFiles = """
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

    public const string CoreStopRun = """
mutation StopRun(
    $id: ID!,
) {
    stopRun(
        input: {
            id: $id,
        }
    ) {
        success
    }
}

""";

    public const string CoreRunStoppedStatus = """
query RunStoppedStatus($entityName: String, $projectName: String, $runId: String!) {
    project(name:$projectName, entityName:$entityName) {
        run(name:$runId) {
            stopped
        }
    }
}

""";

    public const string CoreViewer = """
# @genqlient(omitempty: true)
query Viewer{
    viewer {
        id
        entity
        username
        email
        flags
        teams {
            edges {
                node {
                    name
                }
            }
        }
    }
}

""";

    public const string ServerFeaturesQuery = """
# This query is used to fetch the features supported by the server.
# It is used to determine if certain code paths should be used in the SDK.
query ServerFeaturesQuery {
  serverInfo {
    features {
      name
      isEnabled
    }
  }
}

""";

    public const string CoreUpsertBucket = """
mutation UpsertBucket(
            $id: String,
            $name: String,
            $project: String,
            $entity: String,
            $groupName: String,
            $description: String,
            $displayName: String,
            $notes: String,
            $commit: String,
            $config: JSONString,
            $host: String,
            $debug: Boolean,
            $program: String,
            $repo: String,
            $jobType: String,
            $state: String,
            $sweep: String,
            $tags: [String!],
            $summaryMetrics: JSONString,
        ) {
            upsertBucket(input: {
                id: $id,
                name: $name,
                groupName: $groupName,
                modelName: $project,
                entityName: $entity,
                description: $description,
                displayName: $displayName,
                notes: $notes,
                config: $config,
                commit: $commit,
                host: $host,
                debug: $debug,
                jobProgram: $program,
                jobRepo: $repo,
                jobType: $jobType,
                state: $state,
                sweep: $sweep,
                tags: $tags,
                summaryMetrics: $summaryMetrics,
            }) {
                bucket {
                    id
                    name
                    displayName
                    description
                    config
                    sweepName
                    project {
                        id
                        name
                        entity {
                            id
                            name
                        }
                    }
                    historyLineCount
                }
                inserted
            }
        }

""";

    public const string CreateProject = """

mutation CreateProject($input: UpsertModelInput!) {
  result: upsertModel(input: $input) {
    project {
      ...CreatedProjectFragment
    }
    model {
      ...CreatedProjectFragment
    }
    inserted
  }
}

fragment CreatedProjectFragment on Project {
  id
  name
  entityName
  description
  access
  views
}

""";

    public const string PushToRunQueueByName = """

        mutation pushToRunQueueByName(
          
            $entityName: String!,
            $projectName: String!,
            $queueName: String!,
            $runSpec: JSONString!
        , $priority: Int, $templateVariableValues: JSONString
        ) {
            pushToRunQueueByName(
                input: {
                    
            entityName: $entityName,
            projectName: $projectName,
            queueName: $queueName,
            runSpec: $runSpec
        , priority: $priority, templateVariableValues: $templateVariableValues
                }
            ) {
                runQueueItemId
                runSpec
            }
        }
        
""";

    public const string PushToRunQueue = """

        mutation pushToRunQueue(
            
            $queueID: ID!,
            $runSpec: JSONString!
        , $templateVariableValues: JSONString
            ) {
            pushToRunQueue(
                input: {
            queueID: $queueID,
            runSpec: $runSpec
        , templateVariableValues: $templateVariableValues}
            ) {
                runQueueItemId
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

}
