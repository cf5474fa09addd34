"""The operations workbook and the log alerts against what the service emits.

A workbook panel or an alert whose query names a metric the code no longer emits, a column Application Insights
does not have, or an attribute a metric does not carry still deploys: the panel shows "no results" and the alert
never fires, which looks exactly like a healthy service. These tests read the workbook's JSON and the alert rules'
queries (from the Bicep, through tests/support/bicep.py) and resolve every name in them with tests/support/kql.py
against shared/telemetry/names.py. The mutation tests at the end show each check failing on a broken copy.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from shared.telemetry.names import SERVICE_WORKER, Attr, Metric, Span
from tests.conftest import ROOT
from tests.support import kql
from tests.support.bicep import BicepFile, Ref
from tests.unit.test_infra import BICEP, default, deployment

WORKBOOK = BICEP / "workbooks" / "operations.json"
ALERTS = BICEP / "modules" / "alerts.bicep"
SCHEMA = ROOT / "tests" / "data" / "workbook-schema" / "workbook.json"
APP_INSIGHTS = "microsoft.insights/components"
SAMPLE_JOB_ID = "0190a8c4-5f2e-7b3a-9c1d-2e3f4a5b6c7d"

# What a workbook inserts for a parameter of each type (learn:/azure/azure-monitor/visualize/workbooks-parameters,
# workbooks-time: a time range parameter in a query becomes "> ago(...)" or "between (...)", its :grain a timespan).
SAMPLES_BY_TYPE: dict[int, dict[str, str]] = {
    4: {"": "> ago(1d)", "start": "datetime(2024-01-01T00:00:00Z)", "end": "now()", "grain": "1h"},
    1: {"": SAMPLE_JOB_ID},
}

# The panels issue 11 asks for, by item name: the tables each must read and the names it must query there.
PANELS: dict[str, tuple[set[str], set[str]]] = {
    "throughput": ({"customMetrics"}, {Metric.JOBS_STARTED, Metric.JOBS_COMPLETED, Metric.JOBS_FAILED}),
    "failures-by-code": ({"customMetrics"}, {Metric.JOBS_FAILED, Attr.ERROR_CODE}),
    "turnaround": ({"dependencies"}, {Span.JOB, Attr.STATUS}),
    "rtfx-job": ({"dependencies"}, {Span.JOB, Attr.AUDIO_S}),
    "rtfx-segment": ({"customMetrics"}, {Metric.SEGMENT_RTFX}),
    "audio-hours": ({"customMetrics"}, {Metric.AUDIO_SECONDS}),
    "queue-wait": ({"dependencies"}, {Span.SEGMENT_QUEUE_WAIT}),
    "backlog-vs-replicas": ({"customMetrics", "dependencies"}, {Metric.BACKLOG}),
    "gpu-busy": ({"customMetrics"}, {Metric.WORKER_BUSY, Metric.WORKER_REPLICA, Attr.DEVICE}),
    "active-jobs": ({"customMetrics"}, {Metric.JOBS_ACTIVE}),
    "slowest-jobs": ({"dependencies"}, {Span.JOB, Attr.JOB_ID}),
    "job-trace": ({"requests", "dependencies"}, {Span.JOB, Attr.JOB_ID}),
}

# The alert rules by the key their names end with: the metrics each must query.
ALERT_METRICS: dict[str, set[str]] = {
    "job-failure-rate": {Metric.JOBS_COMPLETED, Metric.JOBS_FAILED},
    "segment-backlog-age": {Metric.QUEUE_WAIT, Metric.BACKLOG},
    "poisoned-segments": {Metric.SEGMENTS_POISONED},
}
ALERT_PARAMS = {
    "location": "westus3",
    "tags": {},
    "applicationInsightsId": "/subscriptions/s/resourceGroups/g/providers/microsoft.insights/components/appi-x",
    "alertNamePrefix": "alert-x",
    "actionGroupName": "ag-x",
}


@cache
def _workbook_text() -> str:
    return WORKBOOK.read_text()


def workbook() -> dict[str, Any]:
    """A fresh copy each time, so a test may mutate it."""
    loaded: dict[str, Any] = json.loads(_workbook_text())
    return loaded


def items(book: dict[str, Any], kind: int | None = None) -> list[dict[str, Any]]:
    def walk(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in found:
            out.append(item)
            if item["type"] == 12:
                out += walk(item["content"].get("items", []))
        return out

    return [i for i in walk(book["items"]) if kind is None or i["type"] == kind]


def panel(book: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [i for i in items(book) if i.get("name") == name]
    return found


def parameter_samples(book: dict[str, Any]) -> dict[str, str]:
    """``Name`` and ``Name:format`` -> a value the workbook could insert, for every parameter it declares."""
    samples = {}
    for item in items(book, 9):
        for parameter in item["content"]["parameters"]:
            for fmt, value in SAMPLES_BY_TYPE[parameter["type"]].items():
                samples[f"{parameter['name']}:{fmt}" if fmt else parameter["name"]] = value
    return samples


def check_query(item: dict[str, Any], book: dict[str, Any]) -> kql.Report:
    return kql.check(item["content"]["query"], parameters=parameter_samples(book))


def workbook_problems(book: dict[str, Any]) -> list[str]:
    """Everything wrong with a workbook: schema, item kinds, parameters and every query's names."""
    problems = [f"schema: {e.json_path}: {e.message}" for e in Draft7Validator(schema()).iter_errors(book)]
    names = [i.get("name") for i in items(book)]
    problems += [f"{n}: two items have this name" for n in {n for n in names if names.count(n) > 1}]
    for item in items(book, 3):
        content, name = item["content"], item.get("name")
        if content.get("queryType") != 0 or content.get("resourceType") != APP_INSIGHTS:
            problems.append(f"{name}: not a log query of the Application Insights resource")
        if content.get("timeContextFromParameter") != "TimeRange":
            problems.append(f"{name}: its time range is not the TimeRange parameter")
        if not isinstance(content.get("query"), str):
            continue  # the schema has said so
        report = check_query(item, book)
        if "TimeRange" not in report.parameters:
            problems.append(f"{name}: the query does not filter by {{TimeRange}}")
        problems += [f"{name}: {p}" for p in report.problems]
    return problems


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    return loaded


def alert_rules(alerts: BicepFile) -> dict[str, dict[str, Any]]:
    """The alert rules' evaluated bodies, by the key their names end with (``alert-x-job-failure-rate``)."""
    keys = [rule["key"] for rule in alerts.var("rules")]
    return dict(zip(keys, alerts.instances("alertRules"), strict=True))


def query_of(rule: dict[str, Any]) -> str:
    (criterion,) = rule["properties"]["criteria"]["allOf"]
    query: str = criterion["query"]
    return query


def alert_problems(alerts: BicepFile) -> list[str]:
    problems = []
    for key, rule in alert_rules(alerts).items():
        report = kql.check(query_of(rule))
        problems += [f"{key}: {p}" for p in report.problems]
        if not ALERT_METRICS.get(key, set()) <= report.names:
            problems.append(f"{key}: does not query {sorted(ALERT_METRICS.get(key, set()) - report.names)}")
    return problems


def alerts_module(**params: Any) -> BicepFile:
    return BicepFile(ALERTS, {**ALERT_PARAMS, **params})


# --- the workbook --------------------------------------------------------------------------------------------------


def test_the_workbook_validates_against_the_azure_workbook_schema_and_its_queries_resolve() -> None:
    book = workbook()
    assert book["version"] == "Notebook/1.0"
    assert workbook_problems(book) == []


def test_the_schema_is_the_one_the_workbook_names_and_it_rejects_a_malformed_item() -> None:
    book = workbook()
    assert book["$schema"].endswith("/schema/workbook.json") and schema()["$id"].endswith("workbook.json")
    panel(book, "throughput")["content"]["query"] = ["not", "a", "string"]
    book["items"].append({"type": 99, "content": {}})
    problems = [p for p in workbook_problems(book) if p.startswith("schema:")]
    assert any("$.items[" in p for p in problems) and len(problems) >= 2


def test_every_panel_the_issue_asks_for_is_there_and_reads_what_it_should() -> None:
    book = workbook()
    for name, (tables, wanted) in PANELS.items():
        report = check_query(panel(book, name), book)
        assert report.problems == [], name
        assert tables <= report.tables, name
        assert wanted <= report.names | report.keys, name


def test_gpu_cost_counts_cuda_seconds_and_replicas_are_worker_instances() -> None:
    book = workbook()
    gpu = panel(book, "gpu-busy")["content"]["query"]
    assert f'tostring(customDimensions["{Attr.DEVICE}"]) == "cuda"' in gpu
    replicas = panel(book, "backlog-vs-replicas")["content"]["query"]
    # endswith: the exporter writes "<service.namespace>.<service.name>" when the resource has a namespace
    assert f'cloud_RoleName endswith "{SERVICE_WORKER}"' in replicas and "dcount(cloud_RoleInstance)" in replicas


def test_the_drill_down_takes_a_job_id_and_lists_that_jobs_spans_in_time_order() -> None:
    book = workbook()
    (parameters,) = items(book, 9)
    declared = {p["name"]: p for p in parameters["content"]["parameters"]}
    assert declared["TimeRange"]["type"] == 4 and declared["JobId"]["type"] == 1
    trace = panel(book, "job-trace")
    assert trace["conditionalVisibility"] == {"parameterName": "JobId", "comparison": "isNotEqualTo", "value": ""}
    query = trace["content"]["query"]
    assert "{JobId}" in query and "operation_Id in (job_traces)" in query
    assert query.rstrip().endswith("| order by timestamp asc") and "offset_s" in query
    # a click on one of the slowest jobs fills in the parameter
    slowest = panel(book, "slowest-jobs")["content"]
    assert (slowest["exportFieldName"], slowest["exportParameterName"]) == ("job_id", "JobId")
    (rule,) = declared["JobId"]["typeSettings"]["paramValidationRules"]
    assert rule["match"] is True
    assert re.match(rule["regExp"], SAMPLE_JOB_ID) and not re.match(rule["regExp"], 'x" or true or "')


def test_monitoring_deploys_this_workbook_against_the_app_insights_resource() -> None:
    monitoring = default().module("monitoring")
    (symbol,) = monitoring.of_type("Microsoft.Insights/workbooks")
    body = monitoring.resource_body(symbol)
    assert body["properties"]["sourceId"] == Ref("insights.id") and body["kind"] == "shared"
    assert "loadTextContent('../workbooks/operations.json')" in (BICEP / "modules" / "monitoring.bicep").read_text()


# --- the alerts ----------------------------------------------------------------------------------------------------


def test_each_alert_exists_and_queries_names_the_service_emits() -> None:
    alerts = alerts_module()
    rules = alert_rules(alerts)
    assert set(rules) == set(ALERT_METRICS)
    assert {rule["name"] for rule in rules.values()} == {f"alert-x-{key}" for key in ALERT_METRICS}
    assert alert_problems(alerts) == []


def test_the_deployment_creates_the_alerts_on_its_app_insights_with_deterministic_names() -> None:
    resources = default()
    alerts = resources.module("alerts")
    assert alerts.params["applicationInsightsId"] == Ref("monitoring.outputs.applicationInsightsId")
    assert alerts.params["alertNamePrefix"] == Ref("'alert-${token}'")  # token = uniqueString(sub, rg, env)
    assert alert_problems(alerts) == []
    for rule in alerts.instances("alertRules"):
        props = rule["properties"]
        assert rule["kind"] == "LogAlert" and rule["tags"] == resources.params["tags"]
        assert props["scopes"] == [Ref("monitoring.outputs.applicationInsightsId")]
        (criterion,) = props["criteria"]["allOf"]
        # each query returns rows only when its condition holds
        assert (criterion["timeAggregation"], criterion["operator"], criterion["threshold"]) == (
            "Count",
            "GreaterThan",
            0,
        )


def test_alert_windows_match_what_they_watch() -> None:
    rules = alert_rules(alerts_module())
    windows = {k: (r["properties"]["windowSize"], r["properties"]["evaluationFrequency"]) for k, r in rules.items()}
    assert windows == {
        "job-failure-rate": ("PT1H", "PT15M"),
        "segment-backlog-age": ("PT15M", "PT5M"),
        "poisoned-segments": ("PT15M", "PT15M"),
    }
    assert "poisoned > 0" in query_of(rules["poisoned-segments"])


def test_the_failure_rate_threshold_and_minimum_reach_the_query() -> None:
    default_query = query_of(alert_rules(alerts_module())["job-failure-rate"])
    assert "where finished >= 5 and failure_pct > 10" in default_query
    query = query_of(alert_rules(alerts_module(failureRatePercent=25, failureRateMinJobs=3))["job-failure-rate"])
    assert "where finished >= 3 and failure_pct > 25" in query
    backlog = query_of(alert_rules(alerts_module(queueWaitSeconds=600, stalledAfterMinutes=7))["segment-backlog-age"])
    assert "wait_avg_s > 600" in backlog and "ago(7m)" in backlog


def test_an_alert_email_adds_one_action_group_that_every_rule_notifies() -> None:
    quiet = deployment().module("alerts")
    assert not quiet.deploys("actionGroup")
    assert all(r["properties"]["actions"]["actionGroups"] == [] for r in quiet.instances("alertRules"))
    loud = deployment(alertEmail="ops@example.com").module("alerts")
    assert loud.deploys("actionGroup")
    (receiver,) = loud.resource_body("actionGroup")["properties"]["emailReceivers"]
    assert receiver["emailAddress"] == "ops@example.com"
    assert all(
        r["properties"]["actions"]["actionGroups"] == [Ref("actionGroup.id")] for r in loud.instances("alertRules")
    )
    given = json.loads((BICEP / "main.parameters.json").read_text())["parameters"]
    assert given["alertEmail"]["value"] == "${TRANSCRIBE_ALERT_EMAIL=}"


# --- the checks fail when they should ------------------------------------------------------------------------------


def mutated(name: str, old: str, new: str) -> dict[str, Any]:
    """A copy of the workbook with ``old`` replaced in one panel's query (which must contain it)."""
    book = copy.deepcopy(workbook())
    content = panel(book, name)["content"]
    assert old in content["query"], (name, old)
    content["query"] = content["query"].replace(old, new)
    return book


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        # a metric renamed in the code but not in the workbook
        ("throughput", Metric.JOBS_FAILED, "transcription.jobs.failures", '"transcription.jobs.failures": not a name'),
        # a span name that is not emitted
        ("segment-stages", f'"{Span.SEGMENT_INFERENCE}"', '"segment infer"', '"segment infer": not a name'),
        # a column the table does not have (the workspace's name for it, not the classic one)
        ("turnaround", "percentile(duration, 50)", "percentile(DurationMs, 50)", "DurationMs: no such column"),
        ("audio-hours", "sum(valueSum)", "sum(valueTotal)", "valueTotal: no such column"),
        # a column a project dropped: aliases are tracked, and so is what is gone
        ("slowest-jobs", "duration_s > 0", "duration > 0", "duration: no such column"),
        # an attribute the service does not emit
        ("job-trace", f'"{Attr.JOB_ID}"]) == job_id or', '"transcription.jobid"]) == job_id or', "transcription.jobid"),
        # a metric filtered by an attribute one of its metrics does not carry (replica seconds have no model)
        ("gpu-busy", f'customDimensions["{Attr.DEVICE}"]', f'customDimensions["{Attr.MODEL}"]', "do not carry it"),
        # a metric grouped by an attribute it does not carry (audio seconds carry model and device only)
        (
            "audio-hours",
            f'customDimensions["{Attr.MODEL}"]',
            f'customDimensions["{Attr.COMPUTE_TYPE}"]',
            "do not carry",
        ),
        # a service that does not exist
        ("backlog-vs-replicas", f'"{SERVICE_WORKER}"', '"transcription-gpu"', '"transcription-gpu": not a name'),
        # a misspelt function, an unknown table, a parameter the workbook does not declare, no time filter
        ("turnaround", "percentile(duration, 95)", "percentil(duration, 95)", "percentil(): not a function"),
        ("active-jobs", "customMetrics\n", "customMetric\n", "customMetric: not a table"),
        ("job-trace", "{JobId}", "{JobID}", "{JobID}: not a parameter"),
        ("poisoned-segments", "| where timestamp {TimeRange}\n", "", "does not filter by {TimeRange}"),
    ],
)
def test_the_workbook_check_reports_a_broken_copy(name: str, old: str, new: str, expected: str) -> None:
    problems = workbook_problems(mutated(name, old, new))
    assert any(p.startswith(f"{name}: ") and expected in p for p in problems), problems


def test_the_check_refuses_kql_it_cannot_read_rather_than_pass_it() -> None:
    with pytest.raises(kql.Unsupported):
        workbook_problems(mutated("throughput", "| order by timestamp asc", "| mv-expand outcome"))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("var jobsFailed = 'transcription.jobs.failed'", "var jobsFailed = 'transcription.job.failed'", "not a name"),
        ("var poisoned = 'transcription.segments.poisoned'", "var poisoned = 'transcription.segment.poison'", "not a"),
        ("wait_s = sumif(valueSum,", "wait_s = sumif(valueTotal,", "valueTotal: no such column"),
        (
            '| where name == "${poisoned}"',
            '| where name == "${poisoned}" and tostring(customDimensions["x"]) == ""',
            '["x"]',
        ),
    ],
)
def test_the_alert_check_reports_a_broken_copy(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = ALERTS.read_text()
    assert old in text
    broken = tmp_path / "alerts.bicep"
    broken.write_text(text.replace(old, new))
    problems = alert_problems(BicepFile(broken, ALERT_PARAMS))
    assert any(expected in p for p in problems), problems


def test_a_metric_filtered_by_an_attribute_it_does_not_carry_fails_in_an_alert_query_too() -> None:
    query = (
        f'customMetrics | where name == "{Metric.SEGMENTS_POISONED}" and customDimensions["{Attr.ERROR_CODE}"] == ""'
    )
    (problem,) = kql.check(query).problems
    assert Metric.SEGMENTS_POISONED in problem and "do not carry it" in problem
