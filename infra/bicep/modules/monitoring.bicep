// Log Analytics, Application Insights (local authentication off: the app and the worker send with their
// managed identities, which is why both get Monitoring Metrics Publisher), and the operations workbook.
param location string
param tags object
param logAnalyticsName string
param applicationInsightsName string
param workbookDisplayName string
param publisherPrincipalIds array

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      disableLocalAuth: true
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

var metricsPublisher = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb') // Monitoring Metrics Publisher

resource publishers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in publisherPrincipalIds: {
    name: guid(insights.id, principalId, metricsPublisher)
    scope: insights
    properties: {
      principalId: principalId
      roleDefinitionId: metricsPublisher
      principalType: 'ServicePrincipal'
    }
  }
]

// The operations workbook: jobs, failures, turnaround, RTFx, GPU backlog and cost, one job's trace
// (infra/bicep/workbooks/operations.json; what each panel answers: docs/observability.md).
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'transcription-operations')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: workbookDisplayName
    category: 'workbook'
    sourceId: insights.id
    serializedData: loadTextContent('../workbooks/operations.json')
  }
}

output logAnalyticsWorkspaceId string = workspace.id
output applicationInsightsId string = insights.id
output applicationInsightsName string = insights.name
output applicationInsightsConnectionString string = insights.properties.ConnectionString
