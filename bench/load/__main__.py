"""``python -m bench.load``: the load test on a fresh one-machine stack; JSON on stdout, a summary on stderr.

    .venv/bin/python -m bench.load                          # 100 upload sessions, then 200 jobs (tiny.en)
    .venv/bin/python -m bench.load --uploads 20 --jobs 10   # smaller
    .venv/bin/python -m bench.load --noop                   # the no-op worker: the service without the model

Exits 1 when a job was lost or doubled, a transcript lacks its words, something was left in a queue, or any
request got a 5xx, an unexpected 4xx or no answer (the error rate must be 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.load.run import LoadOptions, run_load


def parse(argv: list[str] | None) -> LoadOptions:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100, help="concurrent upload sessions (0: none)")
    parser.add_argument("--jobs", type=int, default=200, help="concurrent small speech jobs (0: none)")
    parser.add_argument("--upload-seconds", type=int, default=160, help="length of each session's file (8 kHz)")
    parser.add_argument("--noop", action="store_true", help="no-op workers (tests/support/noop_worker.py)")
    parser.add_argument("--workers", type=int, help="worker processes (default: laid out for the machine)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="give the whole load up after this long")
    parser.add_argument("--max-poll", type=float, help="poll a job at least this often (default: its Retry-After)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the stack's logs and storage in DIR")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="an app setting for the stack (repeatable)"
    )
    args = parser.parse_args(argv)
    return LoadOptions(
        uploads=args.uploads,
        jobs=args.jobs,
        upload_seconds=args.upload_seconds,
        noop=args.noop,
        workers=args.workers,
        timeout_s=args.timeout,
        max_poll_s=args.max_poll,
        keep=args.keep,
        settings=dict(item.split("=", 1) for item in args.set),
    )


def main(argv: list[str] | None = None) -> int:
    report = run_load(parse(argv))
    print(json.dumps(report, indent=2))
    print(summary(report), file=sys.stderr)
    return 0 if report["ok"] else 1


def summary(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, load average {m['load_average_1m_before']} before, "
        f"{m.get('load_average_1m_after', '?')} after; {report['layout']}"
    ]
    phases = report.get("phases", {})
    if "uploads" in phases:
        u = phases["uploads"]
        lines.append(
            f"uploads: {u['uploads_committed']}/{u['sessions']} committed in {u['upload_wall_s']} s, "
            f"{u['jobs_completed']} jobs completed, phase {u['wall_s']} s"
        )
    if "jobs" in phases:
        j = phases["jobs"]
        lines.append(
            f"jobs: {j['completed']}/{j['jobs']} completed in {j['wall_s']} s, {j['own_transcripts']} transcripts "
            f"checked, {j['distinct_transcripts']} distinct (turnaround p50 {j['turnaround_p50_s']} s, "
            f"max {j['turnaround_max_s']} s)"
        )
    parts = ", ".join(f"{name} {p['cpu_s']} s / {p['peak_rss_mib']} MiB" for name, p in report["processes"].items())
    lines.append(f"CPU / peak RSS: {parts}")
    requests = report["requests"]
    for phase, table in requests["by_phase"].items():
        for op, f in table.items():
            lines.append(f"  {phase:8} {op:14} n={f['count']:5}  p50 {f['p50_ms']:8.1f} ms  p99 {f['p99_ms']:8.1f} ms")
    lines.append(f"errors: {requests['errors']} of {requests['requests']} requests (rate {requests['error_rate']})")
    lines += [f"FAILED: {problem}" for problem in report["problems"][:20]]
    lines.append("OK" if report["ok"] else f"NOT OK: {len(report['problems'])} problem(s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
