// Log alerts on the service's own telemetry in Application Insights: jobs failing, segments waiting too long for a
// GPU, segment messages given up. Each rule's query names metrics from shared/telemetry/names.py, and
// tests/unit/test_workbook.py checks them against it (tests/support/kql.py); docs/observability.md, "Alerts", says
// why these three and these thresholds. Counts come from metrics, which the exporter never samples.
//
// Each query returns a row only when its condition holds, so every rule fires on "more than 0 rows"
// (learn:/azure/azure-monitor/alerts/alerts-create-log-alert-rule: a query that does the thresholding itself and
// is measured by its row count). A log alert runs its query over windowSize, so the queries carry no time filter.
param location string
param tags object
param applicationInsightsId string
@description('Prefix of the alert rules\' names; each rule appends what it watches.')
param alertNamePrefix string
param actionGroupName string

@description('Where alerts are e-mailed; empty: the rules still fire (Azure portal, Alerts) but notify nobody.')
param alertEmail string = ''

@description('Job failure rate over an hour, in percent of finished (completed + failed) jobs, above which to alert.')
@minValue(1)
@maxValue(100)
param failureRatePercent int = 10

@description('Finished jobs an hour must have before its failure rate counts (one failure in two jobs is noise).')
@minValue(1)
param failureRateMinJobs int = 5

@description('Average seconds a segment waited in the queue before a worker took it, over 15 minutes, above which to alert.')
@minValue(60)
param queueWaitSeconds int = 900

@description('Minutes segments may wait with no worker taking any before the backlog counts as stalled.')
@minValue(5)
@maxValue(14)
param stalledAfterMinutes int = 10

// Metric names (shared/telemetry/names.py, Metric).
var jobsCompleted = 'transcription.jobs.completed'
var jobsFailed = 'transcription.jobs.failed'
var queueWait = 'transcription.segment.queue_wait'
var backlog = 'transcription.segments.backlog'
var poisoned = 'transcription.segments.poisoned'

// customMetrics
// | where name in (completed, failed)
// | summarize failed, completed            (sum of the counters' deltas over the window)
// | extend finished, failure_pct
// | where finished >= failureRateMinJobs and failure_pct > failureRatePercent
var failureCounts = 'customMetrics | where name in ("${jobsCompleted}", "${jobsFailed}") | summarize failed = sumif(valueSum, name == "${jobsFailed}"), completed = sumif(valueSum, name == "${jobsCompleted}")'
var failureRateQuery = '${failureCounts} | extend finished = failed + completed | extend failure_pct = iff(finished > 0, 100.0 * failed / finished, 0.0) | where finished >= ${failureRateMinJobs} and failure_pct > ${failureRatePercent}'

// customMetrics
// | where name in (queue wait, backlog)
// | summarize waits, wait_s (queue-wait histogram: count and sum), waiting_since (first non-empty backlog sample)
// | where average wait > queueWaitSeconds                              (workers too few or too slow)
//      or no segment taken and segments waiting for stalledAfterMinutes  (workers not starting at all)
var backlogSummary = 'customMetrics | where name in ("${queueWait}", "${backlog}") | summarize waits = sumif(valueCount, name == "${queueWait}"), wait_s = sumif(valueSum, name == "${queueWait}"), waiting_since = minif(timestamp, name == "${backlog}" and valueMax > 0)'
var backlogAgeQuery = '${backlogSummary} | extend wait_avg_s = iff(waits > 0, wait_s / waits, 0.0) | where wait_avg_s > ${queueWaitSeconds} or (waits == 0 and waiting_since < ago(${stalledAfterMinutes}m))'

var poisonedQuery = 'customMetrics | where name == "${poisoned}" | summarize poisoned = sum(valueSum) | where poisoned > 0'

var rules = [
  {
    key: 'job-failure-rate'
    displayName: 'Transcription: job failure rate above ${failureRatePercent}%'
    description: 'More than ${failureRatePercent}% of the jobs that finished in the last hour failed (at least ${failureRateMinJobs} finished). The workbook\'s failures by error code says which failure.'
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    query: failureRateQuery
  }
  {
    key: 'segment-backlog-age'
    displayName: 'Transcription: segments wait too long for a GPU worker'
    description: 'Over the last 15 minutes segments waited ${queueWaitSeconds} s on average before a worker took them, or segments have waited ${stalledAfterMinutes} minutes with no worker taking any. See the workbook\'s backlog against GPU worker replicas.'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: backlogAgeQuery
  }
  {
    key: 'poisoned-segments'
    displayName: 'Transcription: segment messages given up (poisoned)'
    description: 'In the last 15 minutes a worker gave up on a segment after its maximum dequeue count, failing its job. The workbook\'s job drill-down shows each attempt.'
    severity: 1
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    query: poisonedQuery
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'transcribe'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for rule in rules: {
    name: '${alertNamePrefix}-${rule.key}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        applicationInsightsId
      ]
      targetResourceTypes: [
        'microsoft.insights/components'
      ]
      evaluationFrequency: rule.evaluationFrequency
      windowSize: rule.windowSize
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: (empty(alertEmail)) ? [] : [
          actionGroup.id
        ]
      }
    }
  }
]
