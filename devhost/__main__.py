"""``python -m devhost``: run function_app.py on one machine, like ``func start``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from devhost.app_loader import http_functions, load_app, load_local_settings, route_prefix
from devhost.http_server import FunctionsHttpHost
from devhost.keys import HostKeys
from devhost.provision import provision_storage

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="folder holding function_app.py and host.json")
    parser.add_argument("--app-module", default="function_app")
    parser.add_argument("--settings", type=Path, default=None, help="local.settings.json (default: in --app-dir)")
    parser.add_argument("--no-provision", action="store_true", help="don't create containers at start-up")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # per-request SDK logs drown the host's own
    load_local_settings(args.settings or args.app_dir / "local.settings.json")
    app = load_app(args.app_module, args.app_dir)
    functions = http_functions(app)
    if not args.no_provision:
        from shared.config import get_settings

        provision_storage(get_settings())
    keys = HostKeys.from_env()
    host = FunctionsHttpHost(functions, keys, route_prefix(args.app_dir))
    base = f"http://{args.host}:{args.port}"
    print(f"devhost: {len(functions)} HTTP functions", flush=True)
    for f in functions:
        print(
            f"  {f.name}: [{','.join(sorted(f.methods))}] {base}/{host.prefix}/{f.route} ({f.auth_level})",
            flush=True,
        )
    print(f"devhost: function key: {keys.function_key}", flush=True)
    print(f"devhost: master key:   {keys.master_key}", flush=True)
    uvicorn.run(host.asgi(), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
