// Two custom roles, so that no identity of this deployment can delete data: only the lifecycle policy removes
// uploads, segments and transcripts (storage-data.bicep). The built-in data roles that allow writing
// (Storage Blob Data Contributor, Storage Queue Data Contributor) also allow deleting.
targetScope = 'resourceGroup'

// Role names are unique per tenant: the resource group id keeps two deployments apart.
var suffix = uniqueString(resourceGroup().id)

resource blobWriter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'transcription-blob-writer')
  properties: {
    roleName: 'Transcription blob writer, no delete (${suffix})'
    description: 'Read, create and overwrite blobs and take snapshots; never delete.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/read'
        ]
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'
        ]
        notDataActions: []
      }
    ]
  }
}

// The worker takes a segment message, keeps it invisible while it works (Update Message), and deletes it when
// done: a message, never the queue.
resource queueConsumer 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'transcription-queue-consumer')
  properties: {
    roleName: 'Transcription queue consumer (${suffix})'
    description: 'Read queue properties; receive, update and delete messages.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/queueServices/queues/read'
        ]
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/queueServices/queues/messages/read'
          'Microsoft.Storage/storageAccounts/queueServices/queues/messages/write'
          'Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action'
          'Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete'
        ]
        notDataActions: []
      }
    ]
  }
}

output blobWriterRoleId string = blobWriter.id
output queueConsumerRoleId string = queueConsumer.id
