// The data account: uploads, job records, segment results, transcripts, and the pipeline queues.
//
// Secure by default: no shared keys (every client uses Entra ID; upload SAS are user delegation SAS), TLS 1.2,
// HTTPS only, no anonymous access. Customers upload straight to this account from anywhere with their one-blob
// SAS, so the network stays open (see the checkov skip below). Nothing here can delete data but the lifecycle
// policy: the app and worker roles read and write (custom-roles.bicep), and only per container.
param location string
param tags object
param name string
param containers object
param queues object
param uploadsRetentionDays int
param segmentsRetentionDays int
param resultsRetentionDays int
param jobsRetentionDays int
param corsAllowedOrigins array
param appPrincipalId string
param workerPrincipalId string
param blobWriterRoleId string
param queueConsumerRoleId string
param operatorPrincipalId string
param operatorPrincipalType string
param logAnalyticsWorkspaceId string

// Built-in roles (learn: role-based-access-control/built-in-roles/storage).
var roles = {
  blobReader: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1') // Storage Blob Data Reader
  blobDelegator: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a') // Storage Blob Delegator
  queueContributor: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88') // Storage Queue Data Contributor
  queueSender: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a') // Storage Queue Data Message Sender
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59: the public endpoint is how customers upload (one-blob SAS) and how the serverless app and GPU jobs reach it; no keys, Entra ID and user delegation SAS only
  // checkov:skip=CKV_AZURE_206: zone-redundant (ZRS); geo-replication would double the cost of data that lives days (lifecycle policy)
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // checkov:skip=CKV_AZURE_35: customers upload from anywhere with a one-blob, short-lived SAS; access is by Entra ID and SAS only (no keys)
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

// Browser uploads (optional): Put Block and Put Block List with the session's SAS, from the listed origins only.
var corsRules = [
  {
    allowedOrigins: corsAllowedOrigins
    allowedMethods: [
      'PUT'
      'GET'
      'HEAD'
      'OPTIONS'
    ]
    allowedHeaders: [
      'content-type'
      'content-md5'
      'x-ms-*'
    ]
    exposedHeaders: [
      'etag'
      'x-ms-*'
    ]
    maxAgeInSeconds: 3600
  }
]

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    cors: {
      corsRules: empty(corsAllowedOrigins) ? [] : corsRules
    }
  }
}

resource uploads 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containers.uploads
  properties: {
    publicAccess: 'None'
  }
}

resource jobs 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containers.jobs
  properties: {
    publicAccess: 'None'
  }
}

resource segments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containers.segments
  properties: {
    publicAccess: 'None'
  }
}

resource results 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containers.results
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource segmentJobs 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queues.segmentJobs
}

resource segmentResults 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queues.segmentResults
}

// The queue trigger moves a message that failed maxDequeueCount times to <queue>-poison; created here so that
// alerts can watch it from the start (and the app needs no right to create queues).
resource segmentResultsPoison 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${queues.segmentResults}-poison'
}

resource segmentJobsPoison 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${queues.segmentJobs}-poison'
}

// functions/pipeline/batch_cleanup.py: ends and purges a finished job's batch sub-orchestrations (the app's queue role on
// this account covers it).
resource batchCleanup 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queues.batchCleanup
}

resource batchCleanupPoison 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${queues.batchCleanup}-poison'
}

// The blob trigger's poison queue lives on the account of the container it watches (this one); its notification
// queue lives on the host account, and with the Event Grid source there are no receipts or container scans here
// (Azure/azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.Storage.Blobs, BlobListenerFactory.CreateAsync:
// "poisonQueueClient = targetQueueClient"; the shared blob listener is created only for LogsAndContainerScan).
// So the trigger needs to read uploads and write this queue, not Storage Blob Data Owner on this account.
resource blobTriggerPoison 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: 'webjobs-blobtrigger-poison'
}

// The only deleter: uploads (and the snapshot each job reads) after uploadsRetentionDays, segment results after
// segmentsRetentionDays, transcripts after resultsRetentionDays, job records after jobsRetentionDays.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'uploads-expire'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containers.uploads}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: uploadsRetentionDays
                }
              }
              snapshot: {
                delete: {
                  daysAfterCreationGreaterThan: uploadsRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'segments-expire'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containers.segments}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: segmentsRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'results-expire'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containers.results}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: resultsRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'jobs-expire'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containers.jobs}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: jobsRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

// Storage logs (reads, writes, deletes, who and how authenticated) to the workspace: the audit trail.
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

// --- data roles, least privilege per container and queue ---------------------------------------------------------
// The app: snapshots and signs upload SAS for uploads (a user delegation SAS can write only what its signer may
// write), keeps job records, reads segment results, writes transcripts; sends segment jobs; is triggered by
// segment results (the queue trigger also moves poison messages).
// The worker: reads uploads and job records (to skip canceled jobs), writes segment results, consumes segment
// jobs, sends segment results and poisoned segment jobs.
var uploadsAssignments = [
  { principal: appPrincipalId, role: blobWriterRoleId }
  { principal: workerPrincipalId, role: roles.blobReader }
]
var jobsAssignments = [
  { principal: appPrincipalId, role: blobWriterRoleId }
  { principal: workerPrincipalId, role: roles.blobReader }
]
var segmentsAssignments = [
  { principal: appPrincipalId, role: roles.blobReader }
  { principal: workerPrincipalId, role: blobWriterRoleId }
]
var resultsAssignments = [
  { principal: appPrincipalId, role: blobWriterRoleId }
]
var accountAssignments = [
  { principal: appPrincipalId, role: roles.blobDelegator, type: 'ServicePrincipal' }
  { principal: appPrincipalId, role: roles.queueContributor, type: 'ServicePrincipal' }
]
var operatorAssignment = [
  { principal: operatorPrincipalId, role: roles.blobReader, type: operatorPrincipalType }
]
var operatorAssignments = empty(operatorPrincipalId) ? [] : operatorAssignment

resource uploadsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in uploadsAssignments: {
    name: guid(uploads.id, a.principal, a.role)
    scope: uploads
    properties: {
      principalId: a.principal
      roleDefinitionId: a.role
      principalType: 'ServicePrincipal'
    }
  }
]

resource jobsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in jobsAssignments: {
    name: guid(jobs.id, a.principal, a.role)
    scope: jobs
    properties: {
      principalId: a.principal
      roleDefinitionId: a.role
      principalType: 'ServicePrincipal'
    }
  }
]

resource segmentsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in segmentsAssignments: {
    name: guid(segments.id, a.principal, a.role)
    scope: segments
    properties: {
      principalId: a.principal
      roleDefinitionId: a.role
      principalType: 'ServicePrincipal'
    }
  }
]

resource resultsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in resultsAssignments: {
    name: guid(results.id, a.principal, a.role)
    scope: results
    properties: {
      principalId: a.principal
      roleDefinitionId: a.role
      principalType: 'ServicePrincipal'
    }
  }
]

resource segmentJobsConsumer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(segmentJobs.id, workerPrincipalId, queueConsumerRoleId)
  scope: segmentJobs
  properties: {
    principalId: workerPrincipalId
    roleDefinitionId: queueConsumerRoleId
    principalType: 'ServicePrincipal'
  }
}

resource segmentResultsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(segmentResults.id, workerPrincipalId, roles.queueSender)
  scope: segmentResults
  properties: {
    principalId: workerPrincipalId
    roleDefinitionId: roles.queueSender
    principalType: 'ServicePrincipal'
  }
}

// worker/segment_worker.py moves a segment that failed on every attempt to <segment-jobs>-poison: send only.
resource segmentJobsPoisonSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(segmentJobsPoison.id, workerPrincipalId, roles.queueSender)
  scope: segmentJobsPoison
  properties: {
    principalId: workerPrincipalId
    roleDefinitionId: roles.queueSender
    principalType: 'ServicePrincipal'
  }
}

resource accountRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in concat(accountAssignments, operatorAssignments): {
    name: guid(account.id, a.principal, a.role)
    scope: account
    properties: {
      principalId: a.principal
      roleDefinitionId: a.role
      principalType: a.type
    }
  }
]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
