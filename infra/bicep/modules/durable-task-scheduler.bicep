// Durable Task Scheduler: an alternative backend for Durable Functions, faster on fan-out than the Azure Storage
// provider (≈1,400 vs ≈250 work items/s on one worker in Microsoft's benchmark: learn:
// azure/durable-task/scheduler/durable-task-scheduler-work-item-throughput). Used when the deployment's
// useDurableTaskScheduler parameter is true; the Function App then points its Durable settings here
// (functionapp.bicep).
param location string
param tags object
param name string
param taskHubName string
param appPrincipalId string

@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // Required by the resource provider. The data plane authenticates every call with Entra ID and the role
    // below; the Function App's outbound addresses are not fixed on Flex Consumption without a VNet.
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: {
      name: skuName
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

var durableTaskDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0ad04412-c4d5-4796-b79c-f76d14c8d402') // Durable Task Data Contributor

resource appAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, appPrincipalId, durableTaskDataContributor)
  scope: taskHub
  properties: {
    principalId: appPrincipalId
    roleDefinitionId: durableTaskDataContributor
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
