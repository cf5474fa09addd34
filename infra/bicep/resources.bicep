// Every resource of one deployment, in one resource group. The names the code depends on (containers, queues,
// app settings) are defined here once and handed to the modules; tests/integration/test_infra.py reads this
// tree and checks them against the code.
targetScope = 'resourceGroup'

param environmentName string
param location string
param tags object
param principalId string
param principalType string
param gpuProfile string
param maxWorkers int
param workerBatchSize int
param segmentWindowSeconds int
param workerReplicaTimeoutSeconds int
param workerImage string
param useDurableTaskScheduler bool
param uploadsRetentionDays int
param segmentsRetentionDays int
param resultsRetentionDays int
param jobsRetentionDays int
param corsAllowedOrigins array
param authClientId string
param publicBaseUrl string
param modelName string
param alertEmail string

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))

// What the code names (shared/config.py defaults, shared/contracts.py): keep in step with it.
var containers = {
  uploads: 'uploads'
  jobs: 'jobs'
  segments: 'segments'
  results: 'results'
}
var queues = {
  segmentJobs: 'segment-jobs'
  segmentResults: 'segment-results'
  batchCleanup: 'batch-cleanup'
}

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    tags: tags
    appIdentityName: 'id-app-${token}'
    workerIdentityName: 'id-worker-${token}'
  }
}

module customRoles 'modules/custom-roles.bicep' = {
  name: 'custom-roles'
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${token}'
    applicationInsightsName: 'appi-${token}'
    workbookDisplayName: 'Transcription operations (${environmentName})'
    publisherPrincipalIds: [
      identities.outputs.appPrincipalId
      identities.outputs.workerPrincipalId
    ]
  }
}

// Log alerts on job failures, segment backlog age and poisoned segments (docs/observability.md, "Alerts").
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertNamePrefix: 'alert-${token}'
    actionGroupName: 'ag-${token}'
    alertEmail: alertEmail
  }
}

module dataStorage 'modules/storage-data.bicep' = {
  name: 'storage-data'
  params: {
    location: location
    tags: tags
    name: 'st${token}'
    containers: containers
    queues: queues
    uploadsRetentionDays: uploadsRetentionDays
    segmentsRetentionDays: segmentsRetentionDays
    resultsRetentionDays: resultsRetentionDays
    jobsRetentionDays: jobsRetentionDays
    corsAllowedOrigins: corsAllowedOrigins
    appPrincipalId: identities.outputs.appPrincipalId
    workerPrincipalId: identities.outputs.workerPrincipalId
    blobWriterRoleId: customRoles.outputs.blobWriterRoleId
    queueConsumerRoleId: customRoles.outputs.queueConsumerRoleId
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module hostStorage 'modules/storage-host.bicep' = {
  name: 'storage-host'
  params: {
    location: location
    tags: tags
    name: 'sth${token}'
    deploymentContainerName: 'app-package'
    appPrincipalId: identities.outputs.appPrincipalId
  }
}

module scheduler 'modules/durable-task-scheduler.bicep' = if (useDurableTaskScheduler) {
  name: 'durable-task-scheduler'
  params: {
    location: location
    tags: tags
    name: 'dts-${token}'
    taskHubName: 'transcription'
    appPrincipalId: identities.outputs.appPrincipalId
  }
}

// A window fills the GPU's batch at least once: the batched pipeline takes its chunks from one window only, so a
// 300 s window (about ten 30 s chunks) would leave a batch of 16 or 64 mostly empty. 30 s x the profile's batch
// (worker-job.bicep): 480 s on a T4, 1,920 s on an A100; docs/gpu.md.
var profileWindowSeconds = (gpuProfile == 'Consumption-GPU-NC24-A100') ? 1920 : 480
var windowSeconds = (segmentWindowSeconds > 0) ? segmentWindowSeconds : profileWindowSeconds

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    planName: 'plan-${token}'
    appName: 'func-${token}'
    appIdentityId: identities.outputs.appIdentityId
    appClientId: identities.outputs.appClientId
    hostStorageBlobEndpoint: hostStorage.outputs.blobEndpoint
    hostStorageQueueEndpoint: hostStorage.outputs.queueEndpoint
    hostStorageTableEndpoint: hostStorage.outputs.tableEndpoint
    deploymentContainerName: 'app-package'
    dataStorageBlobEndpoint: dataStorage.outputs.blobEndpoint
    dataStorageQueueEndpoint: dataStorage.outputs.queueEndpoint
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    containers: containers
    queues: queues
    expectedWorkers: maxWorkers
    corsAllowedOrigins: corsAllowedOrigins
    segmentWindowSeconds: windowSeconds
    modelName: modelName
    publicBaseUrl: publicBaseUrl
    authClientId: authClientId
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? scheduler.outputs.endpoint : ''
    durableTaskHubName: useDurableTaskScheduler ? scheduler.outputs.taskHubName : ''
  }
}

module worker 'modules/worker-job.bicep' = {
  name: 'worker'
  params: {
    location: location
    tags: tags
    registryName: 'cr${token}'
    environmentName: 'cae-${token}'
    jobName: 'job-worker-${token}'
    gpuProfile: gpuProfile
    maxExecutions: maxWorkers
    batchSize: workerBatchSize
    modelName: modelName
    replicaTimeoutSeconds: workerReplicaTimeoutSeconds
    image: workerImage
    workerIdentityId: identities.outputs.workerIdentityId
    workerClientId: identities.outputs.workerClientId
    workerPrincipalId: identities.outputs.workerPrincipalId
    dataStorageAccountName: dataStorage.outputs.name
    dataStorageBlobEndpoint: dataStorage.outputs.blobEndpoint
    dataStorageQueueEndpoint: dataStorage.outputs.queueEndpoint
    containers: containers
    queues: queues
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    pusherPrincipalId: principalId
    pusherPrincipalType: principalType
  }
}

// BlobCreated events come from a system topic on the data account. The subscription that delivers them to the
// blob trigger needs the Function App's blobs_extension system key, which exists only once the code is deployed:
// it is created afterwards by eventgrid-subscription.bicep (scripts/azure/post-deploy, the azd postdeploy hook).
resource eventGridTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'evgt-${token}'
  location: location
  tags: tags
  properties: {
    source: dataStorage.outputs.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output functionAppName string = functionApp.outputs.name
output appPrincipalId string = identities.outputs.appPrincipalId
output functionAppUrl string = functionApp.outputs.url
output dataStorageAccountName string = dataStorage.outputs.name
output eventGridTopicName string = eventGridTopic.name
output containerRegistryName string = worker.outputs.registryName
output containerRegistryLoginServer string = worker.outputs.registryLoginServer
output workerJobName string = worker.outputs.jobName
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
