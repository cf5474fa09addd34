"""The Bicep deployment against the code: settings, containers, queues and roles agree.

Nothing here can deploy to Azure, so these tests read infra/bicep as data (tests/support/bicep.py) and hold it
against what the code reads, names and does. A setting the code reads but Bicep never sets, a container the code
writes that Bicep never creates, or a role that lets an identity do more (or less) than its code needs would each
pass every local test and fail, or leak, only on Azure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices

from shared.config import Settings
from shared.contracts import BATCH_CLEANUP_QUEUE, SEGMENT_RESULTS_QUEUE
from tests.conftest import ROOT
from tests.support.bicep import Assignment, BicepFile, Ref

BICEP = ROOT / "infra" / "bicep"
CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
QUEUE = "Microsoft.Storage/storageAccounts/queueServices/queues"
ACCOUNT = "Microsoft.Storage/storageAccounts"
APP, WORKER = Ref("identities.outputs.appPrincipalId"), Ref("identities.outputs.workerPrincipalId")
DEPLOYER = "00000000-0000-0000-0000-00000000d001"

# Built-in roles by GUID, with the data actions (and the storage actions that matter here) each grants.
# learn:/azure/role-based-access-control/built-in-roles/storage, .../containers, .../monitor; Durable Task roles:
# learn:/azure/durable-task/scheduler/durable-task-scheduler-identity.
B = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
ACR = "Microsoft.ContainerRegistry/registries"
PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
Q = "Microsoft.Storage/storageAccounts/queueServices/queues/messages"
BUILT_IN: dict[str, tuple[str, frozenset[str]]] = {
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": ("Storage Blob Data Reader", frozenset({f"{B}/read"})),
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": ("Storage Blob Data Owner", frozenset({f"{B}/*"})),
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": (
        "Storage Blob Delegator",
        frozenset({"Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"}),
    ),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": (
        "Storage Queue Data Contributor",
        frozenset({f"{Q}/read", f"{Q}/write", f"{Q}/delete", f"{Q}/process/action"}),
    ),
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": ("Storage Queue Data Message Sender", frozenset({f"{Q}/add/action"})),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": (
        "Storage Table Data Contributor",
        frozenset({"Microsoft.Storage/storageAccounts/tableServices/tables/entities/*"}),
    ),
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": (
        "AcrPull",
        frozenset({f"{ACR}/pull/read"}),
    ),
    "8311e382-0749-4cb8-b61a-304f252e45ec": (
        "AcrPush",
        frozenset({f"{ACR}/pull/read", f"{ACR}/push/write"}),
    ),
    # Runs ACR Tasks (az acr build: registries/scheduleRun/action, ...); no image data actions. Azure/acr#174.
    "fb382eab-e894-4461-af04-94435c366c3f": ("Container Registry Tasks Contributor", frozenset()),
    "3913510d-42f4-4e42-8a64-420c390055eb": (
        "Monitoring Metrics Publisher",
        frozenset({"Microsoft.Insights/Metrics/Write"}),
    ),
    "0ad04412-c4d5-4796-b79c-f76d14c8d402": ("Durable Task Data Contributor", frozenset({"Microsoft.DurableTask/*"})),
}

WRITE_BLOBS = frozenset({f"{B}/read", f"{B}/write", f"{B}/add/action"})
# What each identity's code does on the data account, by container and queue, and where in the code.
NEEDS: dict[tuple[Ref, str, str], frozenset[str]] = {
    # functions/pipeline/ingest.py reads the upload and snapshots it (a write); shared/uploads/sessions.py signs user
    # delegation SAS for Put Block / Put Block List, which can only do what the signer may do.
    (APP, CONTAINER, "uploads"): WRITE_BLOBS,
    (APP, CONTAINER, "jobs"): WRITE_BLOBS,  # shared/jobs/store.py: records, listed and rewritten
    (APP, CONTAINER, "segments"): frozenset({f"{B}/read"}),  # merge_transcript reads what workers wrote
    (APP, CONTAINER, "results"): WRITE_BLOBS,  # merge_transcript writes the transcripts
    # The user delegation key, and the queues: dispatch_segments sends segment jobs; the segment_results trigger
    # receives, deletes and moves poison messages (the blob trigger's poison queue is on this account too).
    (APP, ACCOUNT, "data"): BUILT_IN["db58b8e5-c6ad-4a2a-8342-4190687cbf4a"][1]
    | BUILT_IN["974c5e8b-45b9-4653-ba55-5f855dd0fb88"][1],
    (WORKER, CONTAINER, "uploads"): frozenset({f"{B}/read"}),  # worker/segment_worker.py reads the snapshot
    (WORKER, CONTAINER, "jobs"): frozenset({f"{B}/read"}),  # ... and the job record (skips canceled jobs)
    (WORKER, CONTAINER, "segments"): WRITE_BLOBS,  # ... writes its segment result
    # ... receives, renews (update) and deletes segment jobs; KEDA's scale rule peeks at the same queue
    (WORKER, QUEUE, "segment-jobs"): frozenset({f"{Q}/read", f"{Q}/write", f"{Q}/process/action", f"{Q}/delete"}),
    (WORKER, QUEUE, "segment-results"): frozenset({f"{Q}/add/action"}),  # ... and reports each segment
    (WORKER, QUEUE, "segment-jobs-poison"): frozenset({f"{Q}/add/action"}),  # ... and gives up on poisoned ones
}


def deployment(**params: Any) -> BicepFile:
    """resources.bicep as main.bicep instantiates it, with main's defaults unless given."""
    main = BicepFile(BICEP / "main.bicep", {"environmentName": "test", "location": "westus3", **params})
    return main.module("resources")


@cache
def default() -> BicepFile:
    return deployment()


def app_settings(resources: BicepFile) -> dict[str, Any]:
    site = resources.module("functionApp").resource_body("app")
    return {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}


def job_env(resources: BicepFile) -> dict[str, Any]:
    (container,) = resources.module("worker").resource_body("job")["properties"]["template"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


INDEX = """
import json, function_app
print(json.dumps({f.get_function_name(): [b.get_dict_repr() for b in f.get_bindings()]
                  for f in function_app.app.get_functions()}, default=str))
"""


@cache
def functions() -> dict[str, list[dict[str, Any]]]:
    """Each function's bindings, as the Functions host indexes them: in a fresh interpreter, since an app can be
    indexed only once per process (get_functions() refuses a second time) and other tests index it too."""
    done = subprocess.run([sys.executable, "-c", INDEX], cwd=ROOT, capture_output=True, text=True, check=True)
    found: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return found


def bindings() -> list[dict[str, Any]]:
    return [b for found in functions().values() for b in found]


def settings_env_names() -> set[str]:
    """Every environment name shared/config.py's Settings reads."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"TRANSCRIBE_{name.upper()}")
    return names


def worker_env_names() -> set[str]:
    """What the worker reads besides Settings: its command-line defaults (worker/__main__.py)."""
    source = (ROOT / "worker" / "__main__.py").read_text()
    return set(re.findall(r"os\.environ\.get\(\"(\w+)\"", source)) | settings_env_names()


def data_roles(resources: BicepFile) -> dict[tuple[Any, str, str], frozenset[str]]:
    """(principal, scope type, scope name) -> the data actions granted there, on the data account."""
    data = resources.module("dataStorage")
    custom = custom_roles(resources)
    granted: dict[tuple[Any, str, str], frozenset[str]] = {}
    for a in data.role_assignments():
        scope = "data" if a.scope_type == ACCOUNT else a.scope_name
        key = (a.principal, a.scope_type, scope)
        granted[key] = granted.get(key, frozenset()) | role_actions(a, custom)
    return granted


def custom_roles(resources: BicepFile) -> dict[Ref, frozenset[str]]:
    roles = resources.module("customRoles")
    found = {}
    for symbol in roles.of_type("Microsoft.Authorization/roleDefinitions"):
        (permissions,) = roles.resource_body(symbol)["properties"]["permissions"]
        found[Ref(f"customRoles.outputs.{symbol}RoleId")] = frozenset(permissions["dataActions"])
    return found


def role_actions(a: Assignment, custom: dict[Ref, frozenset[str]]) -> frozenset[str]:
    return custom[a.role] if isinstance(a.role, Ref) else BUILT_IN[a.role][1]


# --- settings ------------------------------------------------------------------------------------------------------


def test_every_connection_the_triggers_name_is_an_identity_based_connection_to_the_data_account() -> None:
    settings = app_settings(default())
    connections = {b["connection"] for b in bindings() if "connection" in b}
    assert connections == {"Storage"}
    for name in connections:
        assert settings[f"{name}__blobServiceUri"] == Ref("dataStorage.outputs.blobEndpoint")
        assert settings[f"{name}__queueServiceUri"] == Ref("dataStorage.outputs.queueEndpoint")
        # both, or Azure falls back to a system-assigned identity the app does not have
        assert settings[f"{name}__credential"] == "managedidentity"
        assert settings[f"{name}__clientId"] == Ref("identities.outputs.appClientId")
    assert not connections & set(settings), "no connection strings: the data account refuses shared keys"


def test_the_host_storage_connection_is_identity_based_on_its_own_account() -> None:
    settings = app_settings(default())
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == Ref(f"hostStorage.outputs.{service}Endpoint")
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == Ref("identities.outputs.appClientId")
    assert "AzureWebJobsStorage" not in settings


def test_every_binding_expression_names_a_setting_the_function_app_has() -> None:
    settings = app_settings(default())
    expressions = {m for b in bindings() for v in b.values() if isinstance(v, str) for m in re.findall(r"%(\w+)%", v)}
    assert expressions == {"TRANSCRIBE_UPLOADS_CONTAINER"}
    assert expressions <= set(settings)


def test_every_setting_bicep_gives_the_app_is_one_the_code_or_the_platform_reads() -> None:
    """A typo in a setting name would silently leave the code on its default."""
    platform = re.compile(
        r"^(AzureWebJobsStorage__\w+|AzureFunctionsJobHost__\w+|APPLICATIONINSIGHTS_\w+|DURABLE_TASK_SCHEDULER_CONNECTION_STRING)$"
    )
    known = settings_env_names() | {"Storage__credential"}
    for resources in (default(), deployment(useDurableTaskScheduler=True, publicBaseUrl="https://api.example.com")):
        unknown = {k for k in app_settings(resources) if k not in known and not platform.match(k)}
        assert unknown == set()


def test_the_settings_that_name_resources_match_what_bicep_creates() -> None:
    settings, data = app_settings(default()), default().module("dataStorage")
    containers = {data.name_of(s) for s in data.of_type(CONTAINER)}
    queues = {data.name_of(s) for s in data.of_type(QUEUE)}
    for field in ("uploads_container", "jobs_container", "segments_container", "results_container"):
        value = settings.get(f"TRANSCRIBE_{field.upper()}", Settings.model_fields[field].default)
        assert value in containers, field
    assert settings["TRANSCRIBE_SEGMENT_JOBS_QUEUE"] in queues
    trigger_queues = {b["queueName"] for b in bindings() if b.get("type") == "queueTrigger"}
    assert trigger_queues == {SEGMENT_RESULTS_QUEUE, BATCH_CLEANUP_QUEUE}
    # the queue trigger moves failures to <queue>-poison, and the blob trigger to webjobs-blobtrigger-poison
    assert {*trigger_queues, *(f"{q}-poison" for q in trigger_queues), "webjobs-blobtrigger-poison"} <= queues
    assert f"{settings['TRANSCRIBE_SEGMENT_JOBS_QUEUE']}-poison" in queues


def test_event_grid_delivers_the_uploads_container_to_the_blob_trigger() -> None:
    subscription = BicepFile(BICEP / "eventgrid-subscription.bicep")
    (blob_trigger,) = [name for name, found in functions().items() if any(b["type"] == "blobTrigger" for b in found)]
    assert subscription.params["functionName"] == blob_trigger
    assert subscription.params["uploadsContainer"] == app_settings(default())["TRANSCRIBE_UPLOADS_CONTAINER"]
    body = subscription.resource_body("toIngest")["properties"]
    assert body["filter"]["includedEventTypes"] == ["Microsoft.Storage.BlobCreated"]
    assert body["filter"]["subjectBeginsWith"] == "/blobServices/default/containers/uploads/"


def test_the_worker_job_reads_the_same_storage_and_names_as_the_app() -> None:
    env, settings = job_env(default()), app_settings(default())
    telemetry = {"APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}
    assert set(env) - {"AZURE_CLIENT_ID", *telemetry} <= worker_env_names()
    assert env["Storage__blobServiceUri"] == settings["Storage__blobServiceUri"]
    assert env["Storage__queueServiceUri"] == settings["Storage__queueServiceUri"]
    # shared/azure/storage.py hands Storage__clientId to DefaultAzureCredential: the worker's own identity, not the
    # app's
    assert env["Storage__clientId"] == env["AZURE_CLIENT_ID"] == Ref("identities.outputs.workerClientId")
    for name in ("TRANSCRIBE_JOBS_CONTAINER", "TRANSCRIBE_SEGMENT_JOBS_QUEUE"):
        assert env[name] == settings[name]
    assert env["TRANSCRIBE_DEVICE"] == "cuda"


def test_the_worker_job_scales_on_the_queue_the_app_fills_with_its_own_identity() -> None:
    worker = default().module("worker")
    job = worker.resource_body("job")
    (rule,) = job["properties"]["configuration"]["eventTriggerConfig"]["scale"]["rules"]
    assert rule["type"] == "azure-queue"
    assert rule["metadata"]["queueName"] == app_settings(default())["TRANSCRIBE_SEGMENT_JOBS_QUEUE"]
    assert rule["metadata"]["accountName"] == Ref("dataStorage.outputs.name")
    assert rule["identity"] == Ref("identities.outputs.workerIdentityId")
    assert "auth" not in rule and not {"connection", "connectionFromEnv"} & set(rule["metadata"])
    (registry,) = job["properties"]["configuration"]["registries"]
    assert registry["identity"] == Ref("identities.outputs.workerIdentityId") and "passwordSecretRef" not in registry
    assert job["properties"]["workloadProfileName"] == "gpu"


@pytest.mark.parametrize(
    ("profile", "cpu", "memory"),
    [("Consumption-GPU-NC8as-T4", 8, "56Gi"), ("Consumption-GPU-NC24-A100", 24, "220Gi")],
)
def test_a_worker_replica_takes_the_whole_gpu_profile(profile: str, cpu: int, memory: str) -> None:
    """learn: container-apps/gpu-serverless-overview (one GPU per replica; the profile's vCPU and memory)."""
    job = deployment(gpuProfile=profile).module("worker")
    (container,) = job.resource_body("job")["properties"]["template"]["containers"]
    assert container["resources"] == {"cpu": cpu, "memory": memory}
    profiles = job.resource_body("environment")["properties"]["workloadProfiles"]
    assert {"name": "gpu", "workloadProfileType": profile} in profiles


@pytest.mark.parametrize(
    ("profile", "override", "window"),
    [
        ("Consumption-GPU-NC8as-T4", 0, "480"),  # a batch of 16 chunks of 30 s
        ("Consumption-GPU-NC24-A100", 0, "1920"),  # a batch of 64
        ("Consumption-GPU-NC24-A100", 600, "600"),  # segmentWindowSeconds overrides the profile's
    ],
)
def test_a_window_fills_the_gpus_batch(profile: str, override: int, window: str) -> None:
    """The batched pipeline takes its chunks from one window: the app plans windows of 30 s x the job's batch."""
    resources = deployment(gpuProfile=profile, segmentWindowSeconds=override)
    settings = app_settings(resources)
    assert settings["TRANSCRIBE_SEGMENT_WINDOW_S"] == window
    if not override:
        assert int(window) == 30 * int(job_env(resources)["TRANSCRIBE_BATCH_SIZE"])


@pytest.mark.parametrize(
    ("profile", "override", "batch"),
    [
        ("Consumption-GPU-NC8as-T4", 0, "16"),  # 16 GB
        ("Consumption-GPU-NC24-A100", 0, "64"),  # 80 GB
        ("Consumption-GPU-NC8as-T4", 8, "8"),  # workerBatchSize overrides the profile's
        ("Consumption-GPU-NC24-A100", 1, "1"),  # 1: sequential decoding
    ],
)
def test_the_worker_decodes_in_float16_with_the_batch_size_of_its_gpu(profile: str, override: int, batch: str) -> None:
    env = job_env(deployment(gpuProfile=profile, workerBatchSize=override))
    assert env["TRANSCRIBE_DEVICE"] == "cuda" and env["TRANSCRIBE_COMPUTE_TYPE"] == "float16"
    assert env["TRANSCRIBE_BATCH_SIZE"] == batch
    # worker/__main__.py reads these three by name (the batch size as --batch-size's default)
    assert {"TRANSCRIBE_BATCH_SIZE", "TRANSCRIBE_COMPUTE_TYPE", "TRANSCRIBE_MODEL"} <= worker_env_names()


def test_the_worker_loads_the_folder_the_image_bakes_under_the_model_name_jobs_record() -> None:
    """worker/Dockerfile bakes the model at /opt/models/${MODEL_NAME}; the app records modelName on each job."""
    env = job_env(deployment(modelName="large-v3-turbo"))
    assert env["TRANSCRIBE_MODEL"] == "/opt/models/large-v3-turbo"
    assert app_settings(deployment(modelName="large-v3-turbo"))["TRANSCRIBE_MODEL"] == "large-v3-turbo"
    assert "COPY --from=model /model /opt/models/${MODEL_NAME}" in (ROOT / "worker" / "Dockerfile").read_text()


def test_a_worker_replica_outlives_the_segment_timeout() -> None:
    main = BicepFile(BICEP / "main.bicep", {"environmentName": "test", "location": "westus3"})
    assert main.params["workerReplicaTimeoutSeconds"] >= Settings.model_fields["segment_timeout_s"].default


def test_a_worker_takes_no_segment_it_cannot_finish_before_the_replica_is_killed() -> None:
    """The platform kills a replica at replicaTimeout; the worker's deadline (worker/__main__.py --deadline) is that
    less a margin for its last report and telemetry, counted from the same start."""
    for timeout in (3600, 7200):
        resources = deployment(workerReplicaTimeoutSeconds=timeout)
        job = resources.module("worker").resource_body("job")
        assert job["properties"]["configuration"]["replicaTimeout"] == timeout
        deadline = int(job_env(resources)["TRANSCRIBE_DEADLINE_S"])
        assert 60 <= timeout - deadline <= 300, deadline
    assert "TRANSCRIBE_DEADLINE_S" in worker_env_names()


def test_a_provision_keeps_the_image_the_job_runs() -> None:
    """Without workerImage the job goes back to the placeholder (and KEDA starts it for every queued segment): azd
    passes the image build-worker recorded, the workflow the one the job runs (scripts/azure/provision)."""
    given = json.loads((BICEP / "main.parameters.json").read_text())["parameters"]
    assert given["workerImage"]["value"] == "${TRANSCRIBE_WORKER_IMAGE=}"
    assert "azd env set TRANSCRIBE_WORKER_IMAGE" in (ROOT / "scripts" / "azure" / "build-worker").read_text()
    assert 'workerImage="$image"' in (ROOT / "scripts" / "azure" / "provision").read_text()
    image = "crabc.azurecr.io/worker:abc123"
    (container,) = (
        deployment(workerImage=image).module("worker").resource_body("job")["properties"]["template"]["containers"]
    )
    assert container["image"] == image
    (placeholder,) = default().module("worker").resource_body("job")["properties"]["template"]["containers"]
    assert placeholder["image"] != image and "quickstart" in placeholder["image"]


def test_the_registry_sets_only_what_its_sku_and_api_version_accept() -> None:
    """Held against bicep-types-az's schema for the API version the template names (excerpt, with its source, in
    tests/data/azure-types): a property the schema lacks, or a Premium-only policy on another SKU, fails the deploy."""
    schema = json.loads((ROOT / "tests/data/azure-types/containerregistry-registries-2023-07-01.json").read_text())
    worker = default().module("worker")
    registry = worker.resource_body("registry")
    assert worker.resource_type("registry") == f"{schema['resourceType']}@{schema['apiVersion']}"
    properties = registry["properties"]
    writable = set(schema["registryProperties"]) - set(schema["readOnlyRegistryProperties"])
    assert set(properties) <= writable, set(properties) - writable
    assert set(properties.get("policies", {})) <= set(schema["policies"])
    if registry["sku"]["name"] != "Premium":
        premium_only = {k.removeprefix("policies.") for k in schema["premiumOnly"]}
        assert not premium_only & set(properties.get("policies", {}))
        assert "zoneRedundancy" not in properties or properties["zoneRedundancy"] == "Disabled"


def test_default_scale_fits_a_new_subscriptions_gpu_quota() -> None:
    main = BicepFile(BICEP / "main.bicep", {"environmentName": "test", "location": "westus3"})
    assert main.params["maxWorkers"] == 1
    given = json.loads((BICEP / "main.parameters.json").read_text())["parameters"]
    assert given["maxWorkers"]["value"] == "${TRANSCRIBE_MAX_WORKERS=1}"
    assert "vars.TRANSCRIBE_MAX_WORKERS || '1'" in (ROOT / ".github/workflows/deploy.yml").read_text()


def test_a_browser_page_may_call_the_api_from_the_origins_the_blob_service_allows() -> None:
    origins = ["https://upload.example.com"]
    site = deployment(corsAllowedOrigins=origins).module("functionApp").resource_body("app")
    assert site["properties"]["siteConfig"]["cors"] == {"allowedOrigins": origins, "supportCredentials": False}
    blob = deployment(corsAllowedOrigins=origins).module("dataStorage").resource_body("blobService")
    assert blob["properties"]["cors"]["corsRules"][0]["allowedOrigins"] == origins
    assert (
        default().module("functionApp").resource_body("app")["properties"]["siteConfig"]["cors"]["allowedOrigins"] == []
    )


def test_durable_task_scheduler_is_a_parameter_that_rewires_the_host() -> None:
    plain, scheduled = app_settings(default()), app_settings(deployment(useDurableTaskScheduler=True))
    assert not any("durableTask" in k or k.startswith("DURABLE_TASK") for k in plain)
    prefix = "AzureFunctionsJobHost__extensions__durableTask__"
    assert scheduled[f"{prefix}storageProvider__type"] == "azureManaged"
    assert scheduled[f"{prefix}storageProvider__connectionStringName"] in scheduled
    assert scheduled[f"{prefix}hubName"] == Ref("scheduler.outputs.taskHubName")
    assert "Authentication=ManagedIdentity" in scheduled["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"].path
    assert not default().deploys("scheduler") and deployment(useDurableTaskScheduler=True).deploys("scheduler")


def test_the_extension_bundle_knows_the_durable_task_scheduler() -> None:
    """``azureManaged`` is the extension Microsoft.Azure.WebJobs.Extensions.DurableTask.AzureManaged, first in the
    default bundle at 4.30.0 (Azure/azure-functions-extension-bundles, tag 4.30.0: "Add DurableTask.AzureManaged
    Extension (#621)"); learn: durable-task-scheduler quickstart asks for [4.32.0, 5.0.0). A range whose floor is
    older lets the host pick a bundle without it, and the scheduler option then fails at start-up."""
    bundle = json.loads((ROOT / "host.json").read_text())["extensionBundle"]
    assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    floor = re.fullmatch(r"\[(\d+)\.(\d+)\.(\d+), 5\.0\.0\)", bundle["version"])
    assert floor, bundle["version"]
    assert tuple(map(int, floor.groups())) >= (4, 30, 0)


def test_the_function_app_is_flex_consumption_python_311_with_its_own_identity() -> None:
    app = default().module("functionApp")
    plan, site = app.resource_body("plan"), app.resource_body("app")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["httpsOnly"] is True


# --- containers, queues, lifecycle ---------------------------------------------------------------------------------


def test_only_the_lifecycle_policy_deletes_and_it_covers_every_container() -> None:
    data = default().module("dataStorage")
    (policy,) = [data.resource_body(s) for s in data.of_type("Microsoft.Storage/storageAccounts/managementPolicies")]
    prefixes = {
        p for rule in policy["properties"]["policy"]["rules"] for p in rule["definition"]["filters"]["prefixMatch"]
    }
    containers = {data.name_of(s) for s in data.of_type(CONTAINER)}
    assert prefixes == {f"{c}/" for c in containers}


def test_the_storage_accounts_refuse_keys_anonymous_reads_and_old_tls() -> None:
    for module in ("dataStorage", "hostStorage"):
        storage = default().module(module)
        (account,) = [storage.resource_body(s) for s in storage.of_type(ACCOUNT)]
        props = account["properties"]
        assert props["allowSharedKeyAccess"] is False
        assert props["allowBlobPublicAccess"] is False
        assert props["minimumTlsVersion"] == "TLS1_2"
        assert props["supportsHttpsTrafficOnly"] is True


# --- roles -------------------------------------------------------------------------------------------------------


def test_each_identity_gets_exactly_the_data_actions_its_code_performs() -> None:
    assert data_roles(default()) == NEEDS


def test_no_identity_can_delete_or_overwrite_what_it_must_not() -> None:
    custom = custom_roles(default())
    for actions in custom.values():
        assert not any(a.endswith("/delete") and "/blobs" in a for a in actions)
    for (principal, _, scope), actions in data_roles(default()).items():
        assert not {f"{B}/delete", f"{B}/*", "*"} & actions, (principal, scope)
        if principal == WORKER and scope == "uploads":
            assert actions == {f"{B}/read"}


def test_the_worker_touches_only_its_containers_and_queues_and_nothing_else() -> None:
    resources = deployment(useDurableTaskScheduler=True, principalId=DEPLOYER)
    data_scopes = {(t, s) for (p, t, s) in data_roles(resources) if p == WORKER}
    assert ACCOUNT not in {t for t, _ in data_scopes}
    for module in ("hostStorage", "scheduler"):
        assert all(a.principal != WORKER for a in resources.module(module).role_assignments()), module


def test_only_the_deployer_can_build_and_push_images_and_the_worker_can_only_pull() -> None:
    for resources, deployer in ((default(), None), (deployment(principalId=DEPLOYER), DEPLOYER)):
        registry = {(a.principal, BUILT_IN[a.role][0]) for a in resources.module("worker").role_assignments()}
        builds = {(deployer, "AcrPush"), (deployer, "Container Registry Tasks Contributor")}
        expected = {(WORKER, "AcrPull")} | (builds if deployer else set())
        assert registry == expected
        assert all(a.principal != APP for a in resources.module("worker").role_assignments())


def test_the_app_owns_its_host_storage_and_the_task_hub() -> None:
    resources = deployment(useDurableTaskScheduler=True)
    host = {BUILT_IN[a.role][0] for a in resources.module("hostStorage").role_assignments() if a.principal == APP}
    assert host == {"Storage Blob Data Owner", "Storage Queue Data Contributor", "Storage Table Data Contributor"}
    hub = {(a.principal, BUILT_IN[a.role][0]) for a in resources.module("scheduler").role_assignments()}
    assert hub == {(APP, "Durable Task Data Contributor")}


def test_both_identities_may_publish_telemetry_and_nobody_uses_a_key() -> None:
    monitoring = default().module("monitoring")
    publishers = {
        a.principal for a in monitoring.role_assignments() if a.role == "3913510d-42f4-4e42-8a64-420c390055eb"
    }
    assert publishers == {APP, WORKER}
    (insights,) = [monitoring.resource_body(s) for s in monitoring.of_type("Microsoft.Insights/components")]
    assert insights["properties"]["DisableLocalAuth"] is True
    assert "Authorization=AAD" in app_settings(default())["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].path
    # Each process exports as its own identity: the string shared/telemetry/setup.py parses names that identity.
    worker = job_env(default())["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].path
    assert "Authorization=AAD" in worker and "ClientId=" in worker and "workerClientId" in worker


# --- the parameters file and azd ------------------------------------------------------------------------------------


def test_the_parameters_file_sets_only_parameters_main_declares_and_every_required_one() -> None:
    main = BicepFile(BICEP / "main.bicep", {"environmentName": "test", "location": "westus3"})
    declared = main.tree["parameters"]
    given = json.loads((BICEP / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(declared)
    required = {n for n, spec in declared.items() if spec.get("default") is None}
    assert required <= set(given)


def test_azure_yaml_points_at_the_template_and_an_executable_hook() -> None:
    text = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^\s+path: infra/bicep$", text, re.MULTILINE) and (BICEP / "main.bicep").exists()
    hook = re.search(r"run: (\S+)", text)
    assert hook and os.access(ROOT / hook.group(1), os.X_OK)
    assert Path(ROOT / "requirements.txt").exists()  # azd's python function service builds from it
