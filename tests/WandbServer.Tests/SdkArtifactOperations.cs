// The SDK's artifact operation texts, copied as test data from wandb/wandb commit b6e29505884ea60c79ca12091f1f75bd39d2f955:
// wandb/sdk/artifacts/_generated/operations.py (the public API's reads) and core/internal/gql/gql_gen.go ("Core...",
// wandb-core's ArtifactSaver and downloads).

namespace WandbLaunch.Tests.WandbServer.Tests;

internal static class SdkArtifactOperations
{
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

    public const string ArtifactMembershipFiles = """
        query ArtifactMembershipFiles($entity: String!, $project: String!, $collection: String!, $alias: String!, $fileNames: [String!], $cursor: String, $perPage: Int = 50) {
          project(name: $project, entityName: $entity) {
            artifactCollection(name: $collection) {
              __typename
              artifactMembership(aliasName: $alias) {
                files(names: $fileNames, after: $cursor, first: $perPage) {
                  totalCount @include(if: true)
                  pageInfo {
                    ...PageInfoFragment
                  }
                  edges {
                    node {
                      ...FileFragment
                    }
                  }
                }
              }
            }
          }
        }

        fragment FileFragment on File {
          __typename
          id
          name: displayName
          url
          sizeBytes
          storagePath
          mimetype
          updatedAt
          digest
          md5
          directUrl
        }

        fragment PageInfoFragment on PageInfo {
          __typename
          endCursor
          hasNextPage
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

    public const string ProjectArtifactCollection = """
        query ProjectArtifactCollection($entity: String!, $project: String!, $type: String!, $name: String!) {
          project(entityName: $entity, name: $project) {
            artifactType(name: $type) {
              artifactCollection(name: $name) {
                __typename
                ...ArtifactCollectionFragment
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

    public const string ProjectArtifactType = """
        query ProjectArtifactType($entity: String!, $project: String!, $type: String!) {
          project(entityName: $entity, name: $project) {
            artifactType(name: $type) {
              ...ArtifactTypeFragment
            }
          }
        }

        fragment ArtifactTypeFragment on ArtifactType {
          __typename
          id
          name
          description
          createdAt
        }
        """;

    public const string CoreArtifactManifest = """
        query ArtifactManifest ($artifact_id: ID!) {
        	artifact(id: $artifact_id) {
        		currentManifest {
        			file {
        				directUrl
        			}
        		}
        	}
        }
        """;

    public const string CoreArtifactFileUrls = """
        query ArtifactFileURLs ($id: ID!, $cursor: String, $perPage: Int) {
        	artifact(id: $id) {
        		files(after: $cursor, first: $perPage) {
        			pageInfo {
        				hasNextPage
        				endCursor
        			}
        			edges {
        				node {
        					name
        					directUrl
        				}
        			}
        		}
        	}
        }
        """;

    public const string CoreCreateArtifact = """
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

    public const string CoreCreateArtifactManifest = """
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

    public const string CoreCreateArtifactFiles = """
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

    public const string CoreCommitArtifact = """
        mutation CommitArtifact ($artifactID: ID!) {
        	commitArtifact(input: {artifactID:$artifactID}) {
        		artifact {
        			id
        			digest
        		}
        	}
        }
        """;

    public const string DeleteRun = """
        mutation DeleteRun(
            $id: ID!,
            $deleteArtifacts: Boolean
        ) {
            deleteRun(input: {
                id: $id,
                deleteArtifacts: $deleteArtifacts
            }) {
                clientMutationId
            }
        }
        """;
}
