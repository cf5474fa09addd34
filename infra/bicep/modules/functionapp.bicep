// The API and the orchestration: a Python 3.11 Function App on Flex Consumption, with a user-assigned identity
// and identity-based connections only (no connection strings, no keys in settings).
//
// Identity-based connections use a user-assigned identity only when both <CONNECTION>__credential=managedidentity
// and <CONNECTION>__clientId are set, for the host and for the blob SDK-type binding alike (learn:
// functions-reference "identity-based connections"; azurefunctions-extensions-bindings-blob utils.py).
param location string
param tags object
param planName string
param appName string
param appIdentityId string
param appClientId string
param hostStorageBlobEndpoint string
param hostStorageQueueEndpoint string
param hostStorageTableEndpoint string
param deploymentContainerName string
param dataStorageBlobEndpoint string
param dataStorageQueueEndpoint string
param applicationInsightsConnectionString string
param containers object
param queues object
param expectedWorkers int
@description('TRANSCRIBE_SEGMENT_WINDOW_S: the longest window a worker gets (resources.bicep sets it by GPU profile).')
param segmentWindowSeconds int
param modelName string
param publicBaseUrl string
param authClientId string
param durableTaskSchedulerEndpoint string
param durableTaskHubName string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100

@description('Always-ready instances for the Durable group: Microsoft recommends at least one on Flex with the Azure Storage provider, so orchestrations do not wait for a cold start.')
param alwaysReadyDurableInstances int = 1

@description('Origins a browser page may call the API from (CORS on the app; the blob service gets the same list). Empty: none.')
param corsAllowedOrigins array = []

var useScheduler = !empty(durableTaskSchedulerEndpoint)

var hostConnection = {
  AzureWebJobsStorage__blobServiceUri: hostStorageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: hostStorageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: hostStorageTableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: appClientId
}
// "Storage" is the triggers' connection and the app's own storage settings (shared/config.py).
var dataConnection = {
  Storage__blobServiceUri: dataStorageBlobEndpoint
  Storage__queueServiceUri: dataStorageQueueEndpoint
  Storage__credential: 'managedidentity'
  Storage__clientId: appClientId
}
var telemetry = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${appClientId};Authorization=AAD'
}
var transcription = {
  TRANSCRIBE_UPLOADS_CONTAINER: containers.uploads // required: the blob trigger's path is %TRANSCRIBE_UPLOADS_CONTAINER%/...
  TRANSCRIBE_JOBS_CONTAINER: containers.jobs
  TRANSCRIBE_SEGMENTS_CONTAINER: containers.segments
  TRANSCRIBE_RESULTS_CONTAINER: containers.results
  TRANSCRIBE_SEGMENT_JOBS_QUEUE: queues.segmentJobs
  TRANSCRIBE_EXPECTED_WORKERS: string(expectedWorkers)
  TRANSCRIBE_SEGMENT_WINDOW_S: string(segmentWindowSeconds)
  TRANSCRIBE_MODEL: modelName
}
var publicUrl = empty(publicBaseUrl) ? {} : { TRANSCRIBE_PUBLIC_BASE_URL: publicBaseUrl }
// host.json says Azure Storage; app settings override host.json keys (AzureFunctionsJobHost__...).
var schedulerSettings = {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${appClientId}'
  AzureFunctionsJobHost__extensions__durableTask__hubName: durableTaskHubName
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
}
var scheduler = useScheduler ? schedulerSettings : {}
var alwaysReadyDurable = [
  {
    name: 'durable'
    instanceCount: alwaysReadyDurableInstances
  }
]
var settings = union(hostConnection, dataConnection, telemetry, transcription, publicUrl, scheduler)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption has no instance count to spread over zones here; it scales per event, and zone redundancy needs always-ready instances in every zone (cost)
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the public API (function keys, Entra ID via App Service authentication); a private endpoint would shut out customers and Logic Apps
  // checkov:skip=CKV_AZURE_17: callers authenticate with function keys or Entra ID tokens; Logic Apps and scripts cannot be asked for client certificates
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales out per event; the Durable group keeps an always-ready instance
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not take a health-check path; /api/health serves probes and the deploy workflow
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${appIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // A browser upload page on another origin calls POST /api/uploads and polls /api/jobs here, then PUTs the
      // blocks straight to storage (whose CORS rules take the same origins: storage-data.bicep). No credentials:
      // callers send a function key or a bearer token in a header, never a cookie.
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false
      }
      appSettings: [
        for setting in items(settings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: appIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: ((alwaysReadyDurableInstances > 0) && !useScheduler) ? alwaysReadyDurable : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// App Service authentication (Easy Auth) with Entra ID, when an app registration is given: callers with a token are
// identified (each sees only their own jobs), callers with only a function key still get in (Logic Apps).
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(authClientId)) {
  // checkov reads this authsettingsV2 child as a web app; the site above is checked for these:
  // checkov:skip=CKV_AZURE_13: not a web app (the authsettingsV2 child of one)
  // checkov:skip=CKV_AZURE_63: not a web app (the authsettingsV2 child of one)
  // checkov:skip=CKV_AZURE_65: not a web app (the authsettingsV2 child of one)
  // checkov:skip=CKV_AZURE_66: not a web app (the authsettingsV2 child of one)
  // checkov:skip=CKV_AZURE_70: not a web app (the authsettingsV2 child of one)
  // checkov:skip=CKV_AZURE_80: not a web app (the authsettingsV2 child of one)
  // checkov:skip=CKV_AZURE_88: not a web app (the authsettingsV2 child of one)
  // checkov:skip=CKV_AZURE_222: not a web app (the authsettingsV2 child of one)
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output name string = app.name
output url string = 'https://${app.properties.defaultHostName}'
