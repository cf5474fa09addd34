// Serverless transcription of very large audio files: the whole deployment, from an empty subscription.
//
//   azd up                               (azure.yaml at the repository root: provision, deploy, post-deploy hooks)
//   az deployment sub create -l <region> -f infra/bicep/main.bicep -p infra/bicep/main.parameters.json
//
// Subscription scope so that one command creates the resource group too. Everything else lives in
// resources.bicep; docs/deploy.md walks through parameters, quota, costs and the post-deploy steps.
targetScope = 'subscription'

@minLength(1)
@maxLength(48)
@description('Name of the environment (azd sets it): names and tags are derived from it.')
param environmentName string

@minLength(1)
@description('Region for everything. Serverless GPU profiles exist in a few regions only: docs/deploy.md.')
param location string

@description('Object id of the person or pipeline deploying, granted data access for operations and debugging. Empty: none.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Resource group to create; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Serverless GPU profile of the worker job: a T4 (16 GB) or an A100 (80 GB).')
@allowed([
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
])
param gpuProfile string = 'Consumption-GPU-NC8as-T4'

@description('30 s chunks each GPU worker decodes at once (faster-whisper BatchedInferencePipeline); 0: by GPU profile, 16 on a T4 (16 GB), 64 on an A100 (80 GB); 1: sequential. docs/gpu.md.')
@minValue(0)
@maxValue(256)
param workerBatchSize int = 0

@description('Longest window of audio a GPU worker gets, in seconds; 0: by GPU profile, enough for a window to fill a batch (30 s chunks x the batch: 480 on a T4, 1,920 on an A100). Shorter files are still cut into one window per worker. docs/gpu.md.')
@minValue(0)
@maxValue(7200)
param segmentWindowSeconds int = 0

@description('Most worker job executions at once, i.e. GPUs in use at the same time. Each needs serverless GPU quota: 1 fits what a new subscription can get; raise it with your quota (docs/deploy.md#before-you-start).')
@minValue(1)
@maxValue(100)
param maxWorkers int = 1

@description('Longest a worker execution may run, in seconds: well above the longest segment. Workers take no segment they cannot finish by this age less a margin (TRANSCRIBE_DEADLINE_S; docs/deploy.md).')
@minValue(600)
param workerReplicaTimeoutSeconds int = 3600

@description('Worker image. Empty: a placeholder until the first build pushes the real one (scripts/azure/build-worker); every later provision must pass the image the job runs (azd: TRANSCRIBE_WORKER_IMAGE, which build-worker sets; the workflow: scripts/azure/provision reads the job\'s).')
param workerImage string = ''

@description('Run Durable Functions on the Durable Task Scheduler instead of the Azure Storage provider. Needs extension bundle 4.30.0 or later (host.json asks for 4.32.0 or later, as the scheduler quickstart does).')
param useDurableTaskScheduler bool = false

@description('Days an upload (and its snapshot) is kept before the lifecycle policy deletes it.')
@minValue(1)
param uploadsRetentionDays int = 7

@description('Days segment results are kept (only the merge reads them).')
@minValue(1)
param segmentsRetentionDays int = 2

@description('Days transcripts are kept.')
@minValue(1)
param resultsRetentionDays int = 30

@description('Days job records are kept.')
@minValue(1)
param jobsRetentionDays int = 90

@description('Origins a browser page may upload from: CORS on the API and on the blob service. Empty: none.')
param corsAllowedOrigins array = []

@description('Client id of an Entra ID app registration: turns on App Service authentication, so each caller sees only their jobs. Empty: function keys only.')
param authClientId string = ''

@description('Public base URL when a custom domain or gateway fronts the app; empty: the app\'s own host name.')
param publicBaseUrl string = ''

@description('Name of the model baked into the worker image (scripts/azure/build-worker MODEL_NAME): the worker loads /opt/models/<modelName>, and job records carry the name until a worker reports the one it ran.')
param modelName string = 'large-v3-turbo'

@description('E-mail address the alerts (job failure rate, segment backlog age, poisoned segments) notify; empty: the alerts fire in the portal only.')
param alertEmail string = ''

var tags = {
  'azd-env-name': environmentName
  application: 'serverless-transcription'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'transcription-resources'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    principalId: principalId
    principalType: principalType
    gpuProfile: gpuProfile
    maxWorkers: maxWorkers
    workerBatchSize: workerBatchSize
    segmentWindowSeconds: segmentWindowSeconds
    workerReplicaTimeoutSeconds: workerReplicaTimeoutSeconds
    workerImage: workerImage
    useDurableTaskScheduler: useDurableTaskScheduler
    uploadsRetentionDays: uploadsRetentionDays
    segmentsRetentionDays: segmentsRetentionDays
    resultsRetentionDays: resultsRetentionDays
    jobsRetentionDays: jobsRetentionDays
    corsAllowedOrigins: corsAllowedOrigins
    authClientId: authClientId
    publicBaseUrl: publicBaseUrl
    modelName: modelName
    alertEmail: alertEmail
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
// scripts/azure/wait-for-roles waits until this identity's new role assignments have taken effect.
output AZURE_APP_PRINCIPAL_ID string = resources.outputs.appPrincipalId
output AZURE_STORAGE_ACCOUNT_NAME string = resources.outputs.dataStorageAccountName
output AZURE_EVENT_GRID_TOPIC_NAME string = resources.outputs.eventGridTopicName
output AZURE_CONTAINER_REGISTRY_NAME string = resources.outputs.containerRegistryName
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = resources.outputs.containerRegistryLoginServer
output AZURE_WORKER_JOB_NAME string = resources.outputs.workerJobName
output APPLICATIONINSIGHTS_NAME string = resources.outputs.applicationInsightsName
