// Second stage, after the app's code is deployed: deliver BlobCreated events of the uploads container to the blob
// trigger. Its endpoint needs the blobs_extension system key, which the Functions host creates on demand once it has
// started with the blobs extension (azure-functions-host: WebHooks/DefaultScriptWebHookProvider.cs,
// GetOrCreateExtensionKey; learn: functions-event-grid-blob-trigger). listKeys fails while the key does not exist,
// so scripts/azure/post-deploy (the azd postdeploy hook and the deploy workflow) first wakes the host and polls
// `az functionapp keys list` until the key is there, then deploys this template.
targetScope = 'resourceGroup'

param functionAppName string
param systemTopicName string
param uploadsContainer string = 'uploads'
param functionName string = 'ingest'

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

var blobsExtensionKey = listKeys('${app.id}/host/default', '2024-04-01').systemKeys.blobs_extension

resource toIngest 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'uploads-to-${functionName}'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${app.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${blobsExtensionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${uploadsContainer}/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}
