"""scripts/azure against a scripted Azure: the calls the hooks make, their order, and the subscription on each.

The azd hooks and the deploy workflow's steps are bash scripts that drive the Azure CLI; nothing here can sign in to
Azure, so ``az`` and ``azd`` are stand-ins on PATH (tests/support/azure_cli_stub.py) that record each call and
answer as Azure does, including its awkward answers: output names with a lower-cased first letter, a blob trigger
key that exists only on the third look, role assignments made seconds ago, a role definition not yet replicated.
The health endpoint is a real HTTP server on a free port. What Azure itself would do with the calls is out of reach
here; that the scripts make the right calls, in the right order, on the right subscription, and stop with a clear
message when they cannot, is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.azure_cli_stub import Call, calls, install, record

SUB = "11111111-2222-3333-4444-555555555555"
RG, APP, JOB, REGISTRY = "rg-prod", "func-abc", "job-worker-abc", "crabc"
LOGIN = "crabc.azurecr.io"
PLACEHOLDER = "mcr.microsoft.com/k8se/quickstart-jobs:latest"


@pytest.fixture
def health(tmp_path: Path) -> Iterator[str]:
    """``/api/health`` answering 200, each request logged on the stubs' timeline."""
    state = tmp_path / "bin" / "state"
    state.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            record(state, "http", [self.path])
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run(
    tmp_path: Path, script: str, scenario: dict[str, list[dict[str, Any]]], **env: str
) -> tuple[subprocess.CompletedProcess[str], list[Call]]:
    bin_dir = tmp_path / "bin"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "TRANSCRIBE_", "GITHUB_"))}
    full = {**base, **install(bin_dir, scenario, ROOT), "TRANSCRIBE_POLL_S": "0", **env}
    done = subprocess.run(
        [str(ROOT / "scripts" / "azure" / script)], env=full, capture_output=True, text=True, timeout=120, check=False
    )
    return done, calls(bin_dir)


def deployed_env(url: str) -> dict[str, str]:
    """What azd gives a postdeploy hook: the environment's values, outputs included."""
    return {
        "AZURE_SUBSCRIPTION_ID": SUB,
        "AZURE_RESOURCE_GROUP": RG,
        "AZURE_FUNCTION_APP_NAME": APP,
        "AZURE_FUNCTION_APP_URL": url,
        "AZURE_EVENT_GRID_TOPIC_NAME": "evgt-abc",
        "AZURE_CONTAINER_REGISTRY_NAME": REGISTRY,
        "AZURE_WORKER_JOB_NAME": JOB,
    }


SIGNED_IN = {"az account show": [{"out": SUB}]}
AZD_ENV = {"azd env get-values": [{"out": f'AZURE_ENV_NAME="prod"\nAZURE_SUBSCRIPTION_ID="{SUB}"'}]}
KEY_ON_THIRD_LOOK = {"az functionapp keys list": [{"out": ""}, {"out": ""}, {"out": "blobs-key-value"}]}


def step(call: Call) -> str:
    """A call as the order check names it: az's command, azd's first two words, or the health request."""
    return {"az": call.command, "azd": " ".join(call.args[:2]), "http": "health"}[call.tool]


def az_calls(log: list[Call]) -> list[Call]:
    return [c for c in log if c.tool == "az"]


def assert_every_az_call_names_the_subscription(log: list[Call]) -> None:
    for call in az_calls(log):
        assert call.option("--subscription") == SUB, f"az {call.command} without --subscription {SUB}"


def test_post_deploy_builds_first_then_waits_for_health_and_the_key_before_subscribing(
    tmp_path: Path, health: str
) -> None:
    scenario = {**SIGNED_IN, **AZD_ENV, **KEY_ON_THIRD_LOOK, "az acr show": [{"out": LOGIN}]}
    done, log = run(tmp_path, "post-deploy", scenario, **deployed_env(health))
    assert done.returncode == 0, done.stderr
    steps = [step(c) for c in log if c.command != "env get-values"]
    assert steps == [
        "account show",  # post-deploy's sign-in check
        "account show",  # build-worker's
        "acr show",
        "acr build",
        "containerapp job update",
        "env set",  # the image kept for later provisions
        "health",
        "functionapp keys list",
        "functionapp keys list",
        "functionapp keys list",
        "deployment group create",
    ]
    assert_every_az_call_names_the_subscription(log)
    tag = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    image = f"{LOGIN}/worker:{tag.strip()}"
    (update,) = [c for c in log if c.command == "containerapp job update"]
    assert (update.option("--image"), update.option("--name"), update.option("--resource-group")) == (image, JOB, RG)
    (kept,) = [c for c in log if c.tool == "azd" and c.args[:3] == ["env", "set", "TRANSCRIBE_WORKER_IMAGE"]]
    assert kept.args[-1] == image
    (subscribe,) = [c for c in log if c.command == "deployment group create"]
    assert subscribe.option("--template-file") == "infra/bicep/eventgrid-subscription.bicep"
    assert "blobs-key-value" not in " ".join(subscribe.args)  # the template reads the key; it never passes by


def test_post_deploy_stops_before_any_change_when_az_is_not_signed_in(tmp_path: Path, health: str) -> None:
    scenario = {"az account show": [{"rc": 1, "err": "Please run 'az login' to setup account."}]}
    done, log = run(tmp_path, "post-deploy", scenario, **deployed_env(health))
    assert done.returncode != 0
    assert "az login" in done.stderr and SUB in done.stderr
    assert [c.command for c in az_calls(log)] == ["account show"]


def test_post_deploy_does_not_subscribe_without_the_key(tmp_path: Path, health: str) -> None:
    scenario = {**SIGNED_IN, "az functionapp keys list": [{"out": ""}]}
    done, log = run(tmp_path, "post-deploy", scenario, SKIP_WORKER_BUILD="1", **deployed_env(health))
    assert done.returncode != 0 and "blobs_extension" in done.stderr
    assert sum(c.command == "functionapp keys list" for c in log) == 30
    assert not any(c.command == "deployment group create" for c in log)


def provision_env(tmp_path: Path) -> dict[str, str]:
    return {
        "AZURE_SUBSCRIPTION_ID": SUB,
        "AZURE_ENV_NAME": "prod",
        "AZURE_LOCATION": "westus3",
        "DEPLOYER_OBJECT_ID": "00000000-0000-0000-0000-00000000d001",
        "GITHUB_ENV": str(tmp_path / "github_env"),
        "ROLE_SETTLE_S": "0",
    }


# ARM's answer does not keep the outputs' case (Azure/bicep#9360): one name comes back with a lower-cased first word.
OUTPUTS = {
    "azurE_RESOURCE_GROUP": {"type": "String", "value": RG},
    "AZURE_FUNCTION_APP_NAME": {"type": "String", "value": APP},
    "azure_APP_PRINCIPAL_ID": {"type": "String", "value": "app-principal"},
}
JOB_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.App/jobs/{JOB}"


def test_provision_keeps_the_workers_image_retries_role_replication_and_exports_upper_case_names(
    tmp_path: Path,
) -> None:
    replication = "ERROR: RoleDefinitionDoesNotExist: The specified role definition with ID 'x' does not exist."
    scenario = {
        **SIGNED_IN,
        "az resource list": [{"out": JOB_ID}],
        "az containerapp job show": [{"out": f"{LOGIN}/worker:abc123"}],
        "az deployment sub create": [{"rc": 1, "err": replication}, {"out": json.dumps(OUTPUTS)}],
    }
    done, log = run(tmp_path, "provision", scenario, **provision_env(tmp_path))
    assert done.returncode == 0, done.stderr
    deployments = [c for c in log if c.command == "deployment sub create"]
    assert len(deployments) == 2
    for deployment in deployments:
        assert f"workerImage={LOGIN}/worker:abc123" in deployment.args
        assert "maxWorkers=1" in deployment.args  # what a new subscription's quota allows
    assert_every_az_call_names_the_subscription(log)
    exported = (tmp_path / "github_env").read_text().splitlines()
    assert sorted(exported) == [
        "AZURE_APP_PRINCIPAL_ID=app-principal",
        f"AZURE_FUNCTION_APP_NAME={APP}",
        f"AZURE_RESOURCE_GROUP={RG}",
    ]


def test_provision_never_passes_the_placeholder_on_and_stops_on_other_errors(tmp_path: Path) -> None:
    scenario = {
        **SIGNED_IN,
        "az resource list": [{"out": JOB_ID}],
        "az containerapp job show": [{"out": PLACEHOLDER}],
        "az deployment sub create": [{"rc": 1, "err": "ERROR: InvalidTemplateDeployment: quota"}],
    }
    done, log = run(tmp_path, "provision", scenario, **provision_env(tmp_path))
    assert done.returncode != 0 and "InvalidTemplateDeployment" in done.stderr
    (deployment,) = [c for c in log if c.command == "deployment sub create"]
    assert "workerImage=" in deployment.args
    assert not (tmp_path / "github_env").exists()


def test_wait_for_roles_waits_out_new_assignments_only(tmp_path: Path) -> None:
    env = {
        "AZURE_SUBSCRIPTION_ID": SUB,
        "AZURE_RESOURCE_GROUP": RG,
        "AZURE_APP_PRINCIPAL_ID": "app-principal",
        "AZURE_PRINCIPAL_ID": "deployer-principal",  # azd sets it: the deployer's registry roles are new too
    }
    fresh = {**SIGNED_IN, "az role assignment list": [{"out": "{now-3600s}\n{now-1s}\n{now-900s}"}]}
    started = time.monotonic()
    done, log = run(tmp_path, "wait-for-roles", fresh, ROLE_SETTLE_S="4", **env)
    waited = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    # The newest assignment is 1 s old: about 3 s of the 4 are left (the clock's whole seconds make it 2-4 s).
    assert 2.0 <= waited < 8.0, waited
    (listing,) = [c for c in log if c.command == "role assignment list"]
    query = listing.option("--query") or ""
    assert "principalId=='app-principal'" in query and "principalId=='deployer-principal'" in query
    assert_every_az_call_names_the_subscription(log)

    old = {**SIGNED_IN, "az role assignment list": [{"out": "{now-900s}"}]}
    started = time.monotonic()
    done, _ = run(tmp_path / "again", "wait-for-roles", old, ROLE_SETTLE_S="30", **env)
    assert done.returncode == 0 and time.monotonic() - started < 10, done.stderr


def test_deploy_app_retries_a_refused_package_upload(tmp_path: Path) -> None:
    env = {"AZURE_SUBSCRIPTION_ID": SUB, "AZURE_RESOURCE_GROUP": RG, "AZURE_FUNCTION_APP_NAME": APP}
    refused = {"rc": 1, "err": "ERROR: Status Code: 403, AuthorizationPermissionMismatch"}
    scenario = {**SIGNED_IN, "az functionapp deployment source config-zip": [refused, {"out": "{}"}]}
    done, log = run(tmp_path, "deploy-app", scenario, DEPLOY_RETRY_S="0", **env)
    assert done.returncode == 0, done.stderr
    uploads = [c for c in log if c.command == "functionapp deployment source config-zip"]
    assert len(uploads) == 2 and uploads[0].option("--build-remote") == "true"
    assert_every_az_call_names_the_subscription(log)
