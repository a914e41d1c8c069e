namespace WandbLaunch.Engine.Storage.Wandb;

/// <summary>
/// The artifact operations of <see cref="WandbArtifactStore"/>, copied from the SDK at wandb/wandb commit b6e29505:
/// reads as the public API sends them (<c>wandb/sdk/artifacts/_generated/operations.py</c>), writes as wandb-core's
/// <c>ArtifactSaver</c> sends them (<c>core/internal/gql/gql_gen.go</c>, from <c>core/api/graphql/*.graphql</c>),
/// and the public API's <c>Run.delete</c> for the hidden run an artifact is logged through.
/// </summary>
internal static class WandbArtifactOperations
{
    /// <summary><c>Artifact._from_name</c>: a version by <c>name:alias</c>; <c>project</c> null when the project is missing, the membership null when the collection or alias is.</summary>
    public const string ArtifactMembershipByName = """
        query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!, $includeAliases: Boolean = false) {
          project(name: $project, entityName: $entity) {
            artifactCollectionMembership(name: $name) {
              ...ArtifactMembershipFragment
            }
          }
        }

        fragment ArtifactAliasFragment on ArtifactAlias {
          __typename
          id
          alias
        }

        fragment ArtifactFragment on Artifact {
          __typename
          id
          artifactSequence {
            ...SourceCollectionInfoFragment
          }
          versionIndex
          artifactType {
            name
          }
          description
          metadata
          ttlDurationSeconds
          ttlIsInherited
          tags {
            ...TagFragment
          }
          historyStep
          state
          size
          digest
          commitHash
          fileCount
          createdAt
          updatedAt
          aliases @include(if: $includeAliases) {
            artifactCollection {
              ...CollectionInfoFragment
            }
            ...ArtifactAliasFragment
          }
        }

        fragment ArtifactMembershipFragment on ArtifactCollectionMembership {
          __typename
          id
          versionIndex
          aliases {
            ...ArtifactAliasFragment
          }
          artifactCollection {
            ...CollectionInfoFragment
          }
          artifact {
            ...ArtifactFragment
          }
        }

        fragment CollectionInfoFragment on ArtifactCollection {
          __typename
          name
          project {
            ...ProjectInfoFragment
          }
        }

        fragment ProjectInfoFragment on Project {
          id
          internalId
          name
          entity {
            name
          }
        }

        fragment SourceCollectionInfoFragment on ArtifactSequence {
          __typename
          name
          project {
            ...ProjectInfoFragment
          }
        }

        fragment TagFragment on Tag {
          __typename
          id
          name
        }
        """;

    /// <summary><c>Artifact._from_id</c>: a version by its id, or null.</summary>
    public const string ArtifactById = """
        query ArtifactByID($id: ID!, $includeAliases: Boolean = true) {
          artifact(id: $id) {
            ...ArtifactFragment
          }
        }

        fragment ArtifactAliasFragment on ArtifactAlias {
          __typename
          id
          alias
        }

        fragment ArtifactFragment on Artifact {
          __typename
          id
          artifactSequence {
            ...SourceCollectionInfoFragment
          }
          versionIndex
          artifactType {
            name
          }
          description
          metadata
          ttlDurationSeconds
          ttlIsInherited
          tags {
            ...TagFragment
          }
          historyStep
          state
          size
          digest
          commitHash
          fileCount
          createdAt
          updatedAt
          aliases @include(if: $includeAliases) {
            artifactCollection {
              ...CollectionInfoFragment
            }
            ...ArtifactAliasFragment
          }
        }

        fragment CollectionInfoFragment on ArtifactCollection {
          __typename
          name
          project {
            ...ProjectInfoFragment
          }
        }

        fragment ProjectInfoFragment on Project {
          id
          internalId
          name
          entity {
            name
          }
        }

        fragment SourceCollectionInfoFragment on ArtifactSequence {
          __typename
          name
          project {
            ...ProjectInfoFragment
          }
        }

        fragment TagFragment on Tag {
          __typename
          id
          name
        }
        """;

    /// <summary><c>Artifact._fetch_manifest</c>: the signed URL of the version's manifest file.</summary>
    public const string FetchArtifactManifest = """
        query FetchArtifactManifest($id: ID!) {
          artifact(id: $id) {
            currentManifest {
              ...DeferredManifestFragment
            }
          }
        }

        fragment DeferredManifestFragment on ArtifactManifest {
          file {
            directUrl
          }
        }
        """;

    /// <summary><c>Artifact._fetch_file_urls</c>: signed URLs of a version's files, a page at a time.</summary>
    public const string GetArtifactMembershipFileUrls = """
        query GetArtifactMembershipFileUrls($entity: String!, $project: String!, $collection: String!, $alias: String!, $cursor: String, $perPage: Int) {
          project(name: $project, entityName: $entity) {
            artifactCollection(name: $collection) {
              __typename
              artifactMembership(aliasName: $alias) {
                files(after: $cursor, first: $perPage) {
                  pageInfo {
                    ...PageInfoFragment
                  }
                  edges {
                    node {
                      ...FileWithUrlFragment
                    }
                  }
                }
              }
            }
          }
        }

        fragment FileWithUrlFragment on File {
          __typename
          name
          directUrl
        }

        fragment PageInfoFragment on PageInfo {
          __typename
          endCursor
          hasNextPage
        }
        """;

    /// <summary><c>Api.artifact_collections(project, type)</c>: a project's collections of a type, a page at a time.</summary>
    /// <summary>The SDK's <c>ARTIFACT_TYPE_GQL</c> (sdk/artifacts/_generated/operations.py), asked before logging.</summary>
    public const string ArtifactType = """
        query ArtifactType($entity: String, $project: String, $name: String!) {
          project(name: $project, entityName: $entity) {
            artifact(name: $name) {
              artifactType {
                name
              }
            }
          }
        }
        """;

    public const string ArtifactTypeArtifactCollections = """
        query ArtifactTypeArtifactCollections($entity: String!, $project: String!, $type: String!, $cursor: String, $perPage: Int, $filters: JSONString, $order: String) {
          project(entityName: $entity, name: $project) {
            artifactType(name: $type) {
              artifactCollections(
                after: $cursor
                first: $perPage
                filters: $filters
                order: $order
              ) {
                totalCount
                pageInfo {
                  ...PageInfoFragment
                }
                edges {
                  node {
                    __typename
                    ...ArtifactCollectionFragment
                  }
                }
              }
            }
          }
        }

        fragment ArtifactCollectionFragment on ArtifactCollection {
          __typename
          id
          name
          description
          createdAt
          updatedAt
          project {
            ...ProjectInfoFragment
          }
          type: defaultArtifactType {
            name
          }
          tags {
            edges {
              node {
                ...TagFragment
              }
            }
          }
        }

        fragment PageInfoFragment on PageInfo {
          __typename
          endCursor
          hasNextPage
        }

        fragment ProjectInfoFragment on Project {
          id
          internalId
          name
          entity {
            name
          }
        }

        fragment TagFragment on Tag {
          __typename
          id
          name
        }
        """;

    /// <summary><c>Api.artifacts(type, name)</c> (<c>artifact_versions</c>): a collection's versions, a page at a time.</summary>
    public const string ProjectArtifacts = """
        query ProjectArtifacts($entity: String!, $project: String!, $type: String!, $collection: String!, $cursor: String, $perPage: Int = 50, $order: String, $filters: JSONString, $includeAliases: Boolean = true) {
          project(entityName: $entity, name: $project) {
            artifactType(name: $type) {
              artifactCollection(name: $collection) {
                __typename
                artifacts(after: $cursor, first: $perPage, order: $order, filters: $filters) {
                  totalCount
                  pageInfo {
                    ...PageInfoFragment
                  }
                  edges {
                    version
                    node {
                      ...ArtifactFragment
                    }
                  }
                }
              }
            }
          }
        }

        fragment ArtifactAliasFragment on ArtifactAlias {
          __typename
          id
          alias
        }

        fragment ArtifactFragment on Artifact {
          __typename
          id
          artifactSequence {
            ...SourceCollectionInfoFragment
          }
          versionIndex
          artifactType {
            name
          }
          description
          metadata
          ttlDurationSeconds
          ttlIsInherited
          tags {
            ...TagFragment
          }
          historyStep
          state
          size
          digest
          commitHash
          fileCount
          createdAt
          updatedAt
          aliases @include(if: $includeAliases) {
            artifactCollection {
              ...CollectionInfoFragment
            }
            ...ArtifactAliasFragment
          }
        }

        fragment CollectionInfoFragment on ArtifactCollection {
          __typename
          name
          project {
            ...ProjectInfoFragment
          }
        }

        fragment PageInfoFragment on PageInfo {
          __typename
          endCursor
          hasNextPage
        }

        fragment ProjectInfoFragment on Project {
          id
          internalId
          name
          entity {
            name
          }
        }

        fragment SourceCollectionInfoFragment on ArtifactSequence {
          __typename
          name
          project {
            ...ProjectInfoFragment
          }
        }

        fragment TagFragment on Tag {
          __typename
          id
          name
        }
        """;

    /// <summary>wandb-core's <c>ArtifactSaver.createArtifact</c>: a PENDING version, or the COMMITTED one with the same digest (deduplication).</summary>
    public const string CreateArtifact = """
        mutation CreateArtifact ($input: CreateArtifactInput!) {
        	createArtifact(input: $input) {
        		... CreatedArtifact
        	}
        }
        fragment CreatedArtifact on CreateArtifactPayload {
        	artifact {
        		id
        		state
        		artifactSequence {
        			latestArtifact {
        				id
        			}
        		}
        	}
        }
        """;

    /// <summary>wandb-core's <c>createManifest</c>: first without a digest (for the files' manifest id), then with it and an upload URL.</summary>
    public const string CreateArtifactManifest = """
        mutation CreateArtifactManifest ($artifactID: ID!, $baseArtifactID: ID, $name: String!, $digest: String!, $entityName: String!, $projectName: String!, $runName: String!, $manifestType: ArtifactManifestType!, $includeUpload: Boolean!) {
        	createArtifactManifest(input: {artifactID:$artifactID,baseArtifactID:$baseArtifactID,name:$name,digest:$digest,entityName:$entityName,projectName:$projectName,runName:$runName,type:$manifestType}) {
        		artifactManifest {
        			id
        			file {
        				id
        				uploadUrl @include(if: $includeUpload)
        				uploadHeaders @include(if: $includeUpload)
        			}
        		}
        	}
        }
        """;

    /// <summary>wandb-core's <c>batchFileDataRetriever</c>: upload URLs (null when the server has the file) and headers per file.</summary>
    public const string CreateArtifactFiles = """
        mutation CreateArtifactFiles ($artifactFiles: [CreateArtifactFileSpecInput!]!, $storageLayout: ArtifactStorageLayout!) {
        	createArtifactFiles(input: {artifactFiles:$artifactFiles,storageLayout:$storageLayout}) {
        		files {
        			edges {
        				node {
        					storagePath
        					uploadUrl
        					uploadHeaders
        					uploadMultipartUrls {
        						uploadID
        						uploadUrlParts {
        							partNumber
        							uploadUrl
        						}
        					}
        					artifact {
        						id
        					}
        				}
        			}
        		}
        	}
        }
        """;

    /// <summary>wandb-core's <c>commitArtifact</c>: the version becomes COMMITTED and gets its aliases.</summary>
    public const string CommitArtifact = """
        mutation CommitArtifact ($artifactID: ID!) {
        	commitArtifact(input: {artifactID:$artifactID}) {
        		artifact {
        			id
        			digest
        		}
        	}
        }
        """;

    /// <summary><c>apis/public/runs.py</c> <c>Run.delete()</c> (artifacts kept): removes the hidden run, as <c>wandb job create</c> does.</summary>
    public const string DeleteRun = """
        mutation DeleteRun(
            $id: ID!,
            
        ) {
            deleteRun(input: {
                id: $id,
                
            }) {
                clientMutationId
            }
        }
        """;
}
