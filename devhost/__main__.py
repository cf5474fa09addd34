"""``python -m devhost``: run function_app.py on one machine, like ``func start``.

HTTP triggers on ``/api/...`` with function keys, Durable orchestrations/activities with the durable HTTP API on
``/runtime/webhooks/durabletask/...``, and the app's blob and queue triggers.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

from devhost.app_loader import AppIndex, FunctionInfo, index_app, load_app, load_local_settings, route_prefix
from devhost.durable.client_api import PREFIX, RPC_PREFIX, DurableHttpApi, binding_json
from devhost.durable.engine import DurableEngine
from devhost.durable.polling import max_queue_polling_interval_s
from devhost.easy_auth import EasyAuth
from devhost.http_server import FunctionsHttpHost
from devhost.invoker import Invoker
from devhost.keys import HostKeys
from devhost.provision import provision_storage
from devhost.rpc_listener import LoopbackListener
from devhost.triggers import TriggerConfigError, build_trigger_listeners, stop_all
from devhost.triggers.config import read_host_json
from shared.telemetry import setup as telemetry
from shared.telemetry.logs import configure_logging, register_secret
from shared.telemetry.names import SERVICE_FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent

KEEP_ALIVE_S = 75
"""How long an idle keep-alive connection stays open: longer than the longest ``Retry-After`` the API sends (60 s,
``shared.jobs.views.retry_after_s``). With uvicorn's default of 5 s a client polling after ``Retry-After: 5`` sent
its request on the connection just as the server closed it, and got no answer (ReadError, "Server disconnected
without sending a response": 5 of 1,523 polls under ``bench/load``). The server must outlast its clients' idle
time, not race it (the same race: https://github.com/sanic-org/sanic/pull/2670)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="folder holding function_app.py and host.json")
    parser.add_argument("--app-module", default="function_app")
    parser.add_argument("--settings", type=Path, default=None, help="local.settings.json (default: in --app-dir)")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="durable state (default: $DEVHOST_STATE_DIR or <app-dir>/.devhost)"
    )
    parser.add_argument("--no-provision", action="store_true", help="don't create containers at start-up")
    return parser.parse_args(argv)


def durable_client_inputs(origin: str, rpc_origin: str, system_key: str) -> Any:
    """Give every function with a ``durableClient`` input binding the binding JSON, by parameter name."""
    binding = binding_json(origin, rpc_origin, system_key)

    def inputs(function: FunctionInfo) -> dict[str, Any]:
        return {b["name"]: binding for b in function.inputs_of_type("durableClient")}

    return inputs


def print_banner(host: FunctionsHttpHost, index: AppIndex, base: str, keys: HostKeys) -> None:
    print(f"devhost: {len(index.functions)} functions ({len(index.http)} HTTP)", flush=True)
    for f in host.functions:
        print(
            f"  {f.name}: [{','.join(sorted(f.methods))}] {base}/{host.prefix}/{f.route} ({f.auth_level})", flush=True
        )
    for info in index.functions:
        if info.trigger_type != "httpTrigger":
            print(f"  {info.name}: {info.trigger_type}", flush=True)
    print(f"devhost: function key: {_shown(keys.function_key, 'DEVHOST_FUNCTION_KEY')}", flush=True)
    print(f"devhost: master key:   {_shown(keys.master_key, 'DEVHOST_MASTER_KEY')}", flush=True)
    durable = _shown(keys.durable_key, "DEVHOST_DURABLE_KEY")
    print(f"devhost: durable key:  {durable} (code= on /runtime/webhooks/durabletask)", flush=True)
    if host.easy_auth.enabled:
        print("devhost: App Service authentication on: principals come from bearer tokens", flush=True)


def _shown(key: str, setting: str) -> str:
    """A key the caller chose (the stack, the tests) is already known to it and stays out of the log; one made
    up here has to be shown once, or nobody could call the host."""
    return f"(from {setting})" if os.environ.get(setting) else key


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(SERVICE_FUNCTIONS)  # JSON lines, secrets redacted; the host stands in for the Function App
    load_local_settings(args.settings or args.app_dir / "local.settings.json")
    telemetry.setup(SERVICE_FUNCTIONS)
    # App Service injects the app's host name; links the app returns are built from it, not from Host headers.
    listening = "localhost" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104  # a comparison  # nosec B104
    listening = f"[{listening}]" if ":" in listening else listening
    os.environ.setdefault("WEBSITE_HOSTNAME", f"{listening}:{args.port}")
    easy_auth = EasyAuth.from_env()
    easy_auth.announce_to_app()  # before the app reads its settings, as App Service sets it before start-up
    index = index_app(load_app(args.app_module, args.app_dir))
    if not args.no_provision:
        from shared.config import get_settings

        provision_storage(get_settings())
    base = f"http://{args.host}:{args.port}"
    keys = HostKeys.from_env()
    for key in (keys.function_key, keys.master_key, keys.durable_key):
        register_secret(key)  # masked in every later log line, e.g. a URL logged with ?code=
    rpc = LoopbackListener()
    invoker = Invoker(durable_client_inputs(base, rpc.origin, keys.durable_key))
    state_dir = args.state_dir or Path(os.environ.get("DEVHOST_STATE_DIR") or args.app_dir / ".devhost")
    polling_s = max_queue_polling_interval_s(read_host_json(args.app_dir))
    engine = DurableEngine(index, invoker, state_dir / "durable.sqlite3", max_queue_polling_interval_s=polling_s)
    durable_api = DurableHttpApi(engine, base, keys.durable_key)
    public_durable_routes = durable_api.routes(PREFIX, authorize=keys.allows_durable_api)
    host = FunctionsHttpHost(
        list(index.http), keys, invoker, route_prefix(args.app_dir), public_durable_routes, easy_auth
    )
    try:
        listeners = build_trigger_listeners(index, invoker, args.app_dir)  # refuses bindings it can't serve
    except TriggerConfigError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    print_banner(host, index, base, keys)
    rpc.serve(durable_api.routes(RPC_PREFIX))
    engine.start()
    for listener in listeners:
        listener.start()
    try:
        uvicorn.run(
            host.asgi(),
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    finally:
        stop_all(listeners)
        engine.stop()
        rpc.stop()
        invoker.close()
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
