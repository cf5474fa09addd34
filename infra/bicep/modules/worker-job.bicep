// The GPU workers: an event-driven Container Apps job on a serverless GPU workload profile, started by KEDA's
// azure-queue scaler while segment-jobs has messages, pulling its image from a private registry with its own
// identity (no registry passwords, no storage keys: the scale rule authenticates with the identity too).
// learn: azure/container-apps/jobs (event-driven jobs), gpu-serverless-overview; templates: Microsoft.App/jobs.
param location string
param tags object
param registryName string
param environmentName string
param jobName string
param gpuProfile string
param maxExecutions int
@description('30 s chunks decoded at once; 0: by GPU profile (T4 16, A100 64); 1: sequential.')
param batchSize int = 0
@description('The model baked into the image at /opt/models/<modelName> (worker/Dockerfile MODEL_NAME).')
param modelName string
param replicaTimeoutSeconds int
@description('Seconds before the replica timeout by which a worker has finished its last segment: room to report it, flush telemetry and exit.')
param deadlineMarginSeconds int = 120
param image string
param workerIdentityId string
param workerClientId string
param workerPrincipalId string
param dataStorageAccountName string
param dataStorageBlobEndpoint string
param dataStorageQueueEndpoint string
param containers object
param queues object
param applicationInsightsConnectionString string
param logAnalyticsWorkspaceId string
param pusherPrincipalId string
param pusherPrincipalType string

@description('Seconds between KEDA\'s looks at the queue: the longest a segment waits for a GPU to be asked for.')
param pollingIntervalSeconds int = 15

// CPU and memory of one replica: the whole GPU profile (one GPU each; serverless GPU replicas cannot share one).
var a100Resources = {
  cpu: json('24')
  memory: '220Gi'
}
var t4Resources = {
  cpu: json('8')
  memory: '56Gi'
}
// Parenthesised: pycep (checkov's parser) reads `a == b ? c : d` as `a == (b ? c : d)`, and the tests evaluate this.
var replicaResources = (gpuProfile == 'Consumption-GPU-NC24-A100') ? a100Resources : t4Resources
// Chunks of 30 s the worker decodes at once in float16 (BatchedInferencePipeline), by GPU memory: T4 16 GB, A100
// 80 GB. large-v3-turbo's weights take 1.6 GB; faster-whisper's own figures (large-v2 fp16, beam 5) put batch 8 at
// 1.6 GB over sequential, about 0.2 GB a chunk, so 16 needs about 5 GB of the T4 and 64 about 15 GB of the A100,
// leaving room for CTranslate2's cache. A batch is filled only from one window's speech (300 s by default: about
// ten chunks): docs/gpu.md. Not yet measured on either GPU (bench/gpu_worker.py); workerBatchSize overrides.
var profileBatchSize = (gpuProfile == 'Consumption-GPU-NC24-A100') ? 64 : 16
var workerBatchSize = (batchSize > 0) ? batchSize : profileBatchSize
// Until the first build pushes the worker image (scripts/azure/build-worker), the job points at a public sample
// image so that provisioning succeeds from a clean clone; the job has no work until the app dispatches some.
var jobImage = empty(image) ? 'mcr.microsoft.com/k8se/quickstart-jobs:latest' : image

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_166: images are built inside this registry from the repository (az acr build), never pushed by third parties; quarantine needs Premium
  // checkov:skip=CKV_AZURE_139: serverless GPU jobs pull over the public endpoint unless the environment is VNet-integrated; admin user and anonymous pull are off, pulls use the worker's identity
  name: registryName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  // Only what Standard and this API version take (tests/unit/test_infra.py holds it against bicep-types-az):
  // the retention policy for untagged manifests is Premium-only, and anonymous pull (off by default) is not in the
  // 2023-07-01 schema. Images are tagged by commit (scripts/azure/build-worker), so none goes untagged.
  properties: {
    adminUserEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

var acrPull = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d') // AcrPull
var acrPush = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '8311e382-0749-4cb8-b61a-304f252e45ec') // AcrPush
// `az acr build` schedules a run (registries/scheduleRun/action), which AcrPush does not grant (Azure/acr#174); this
// role grants ACR Tasks and nothing on images (learn: role-based-access-control/built-in-roles/containers).
var acrTasks = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'fb382eab-e894-4461-af04-94435c366c3f') // Container Registry Tasks Contributor

resource workerPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, workerPrincipalId, acrPull)
  scope: registry
  properties: {
    principalId: workerPrincipalId
    roleDefinitionId: acrPull
    principalType: 'ServicePrincipal'
  }
}

// Whoever deploys (a person with azd, or the deploy workflow's identity) pushes images; the app never can.
resource pusher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(pusherPrincipalId)) {
  name: guid(registry.id, pusherPrincipalId, acrPush)
  scope: registry
  properties: {
    principalId: pusherPrincipalId
    roleDefinitionId: acrPush
    principalType: pusherPrincipalType
  }
}

// ... and builds them in the registry (scripts/azure/build-worker), which needs the Tasks role beside AcrPush.
resource builder 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(pusherPrincipalId)) {
  name: guid(registry.id, pusherPrincipalId, acrTasks)
  scope: registry
  properties: {
    principalId: pusherPrincipalId
    roleDefinitionId: acrTasks
    principalType: pusherPrincipalType
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    // Serverless GPU profiles live only in workload-profiles environments and are declared at creation.
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
      {
        name: 'gpu'
        workloadProfileType: gpuProfile
      }
    ]
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: environment
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

resource job 'Microsoft.App/jobs@2025-01-01' = {
  name: jobName
  location: location
  tags: union(tags, { 'azd-service-name': 'worker' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${workerIdentityId}': {}
    }
  }
  dependsOn: [
    workerPull
  ]
  properties: {
    environmentId: environment.id
    workloadProfileName: 'gpu'
    configuration: {
      triggerType: 'Event'
      replicaTimeout: replicaTimeoutSeconds
      replicaRetryLimit: 1
      registries: [
        {
          server: registry.properties.loginServer
          identity: workerIdentityId
        }
      ]
      eventTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
        scale: {
          minExecutions: 0
          maxExecutions: maxExecutions
          pollingInterval: pollingIntervalSeconds
          rules: [
            {
              name: 'segment-jobs'
              type: 'azure-queue'
              metadata: {
                accountName: dataStorageAccountName
                queueName: queues.segmentJobs
                queueLength: '1'
              }
              identity: workerIdentityId
            }
          ]
        }
      }
    }
    template: {
      containers: [
        {
          name: 'worker'
          image: jobImage
          resources: replicaResources
          env: [
            { name: 'Storage__blobServiceUri', value: dataStorageBlobEndpoint }
            { name: 'Storage__queueServiceUri', value: dataStorageQueueEndpoint }
            { name: 'Storage__clientId', value: workerClientId }
            { name: 'AZURE_CLIENT_ID', value: workerClientId }
            { name: 'TRANSCRIBE_JOBS_CONTAINER', value: containers.jobs }
            { name: 'TRANSCRIBE_SEGMENT_JOBS_QUEUE', value: queues.segmentJobs }
            { name: 'TRANSCRIBE_DEVICE', value: 'cuda' }
            { name: 'TRANSCRIBE_COMPUTE_TYPE', value: 'float16' }
            { name: 'TRANSCRIBE_BATCH_SIZE', value: string(workerBatchSize) }
            // The platform kills a replica at replicaTimeout: a worker takes no segment it cannot finish before this.
            { name: 'TRANSCRIBE_DEADLINE_S', value: string(replicaTimeoutSeconds - deadlineMarginSeconds) }
            { name: 'TRANSCRIBE_MODEL', value: '/opt/models/${modelName}' }
            { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
            // Local auth is off: shared/telemetry/setup.py exports with the identity this names (the Functions convention).
            { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${workerClientId};Authorization=AAD' }
          ]
        }
      ]
    }
  }
}

output registryName string = registry.name
output registryLoginServer string = registry.properties.loginServer
output jobName string = job.name
