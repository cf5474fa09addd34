#!/usr/bin/env python3
"""What a month of transcription costs on the GPU workers, priced from Azure's own price list.

    scripts/azure/cost_estimate.py --audio-hours 100 --gpu T4 --region westus3
    scripts/azure/cost_estimate.py --audio-hours 100 --gpu A100 --speed 120 --prices prices.json   # offline

The worker job is billed per second while an execution runs (learn: container-apps/billing): GPU-seconds plus the
replica's vCPU-seconds and GiB-seconds at the active rates, after the monthly free grant of 180,000 vCPU-s and
360,000 GiB-s per subscription. An execution runs for its share of the audio divided by the GPU's speed, plus its
start (image pull, model load) and the idle tail before it exits (``--exit-when-idle``). Prices come from the Azure
Retail Prices API (learn: rest/api/cost-management/retail-prices/azure-retail-prices; public, no sign-in).

The speed (audio seconds transcribed per GPU-second) is an input, not a measurement: docs/deploy.md says where the
defaults come from. Standard library only, so it runs anywhere Python does.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

PRICES_API = "https://prices.azure.com/api/retail/prices"
FREE_VCPU_S = 180_000
FREE_GIB_S = 360_000
SEGMENT_WINDOW_S = 300  # shared/config.py segment_window_s, copied: standard library only (test_one_owner.py checks)


@dataclass(frozen=True)
class Gpu:
    profile: str
    meter: str
    vcpus: int
    gib: int
    speed: float  # default audio-s per GPU-s: an assumption, see docs/deploy.md


GPUS = {
    "T4": Gpu("Consumption-GPU-NC8as-T4", "Standard NC T4 v3 GPU Usage", 8, 56, 25.0),
    "A100": Gpu("Consumption-GPU-NC24-A100", "Standard NC A100 v4 GPU Usage", 24, 220, 100.0),
}
VCPU_METER = "Standard vCPU Active Usage"
MEMORY_METER = "Standard Memory Active Usage"


@dataclass(frozen=True)
class Workload:
    audio_hours: float
    files: int
    max_workers: int
    speed: float
    start_s: float
    idle_tail_s: float

    @property
    def executions(self) -> int:
        """Job executions a month: each file's segments are shared by at most max_workers executions."""
        segments_per_file = math.ceil(self.audio_hours * 3600 / self.files / SEGMENT_WINDOW_S)
        return self.files * min(self.max_workers, segments_per_file)

    @property
    def replica_seconds(self) -> float:
        return self.audio_hours * 3600 / self.speed + self.executions * (self.start_s + self.idle_tail_s)


@dataclass(frozen=True)
class Usage:
    gpu_s: float
    vcpu_s: float
    gib_s: float

    @classmethod
    def of(cls, workload: Workload, gpu: Gpu) -> Usage:
        seconds = workload.replica_seconds
        return cls(seconds, seconds * gpu.vcpus, seconds * gpu.gib)


def per_second(item: dict[str, Any]) -> float:
    """A price per second (or GiB-second) from a price-list item, whose unit reads '1 Second', '1 GiB Second'..."""
    unit = str(item["unitOfMeasure"])
    match = re.fullmatch(r"(\d+)\s*(?:GiB\s+)?(Second|Hour)s?", unit.strip(), re.IGNORECASE)
    if not match:
        raise ValueError(f"{item['meterName']}: unexpected unit {unit!r}")
    count, span = int(match.group(1)), match.group(2).lower()
    return float(item["retailPrice"]) / count / (3600 if span == "hour" else 1)


def pick(items: list[dict[str, Any]], meter: str) -> dict[str, Any]:
    """The consumption price of one meter (the primary region's, when the list has several)."""
    found = [i for i in items if i.get("meterName") == meter and i.get("type", "Consumption") == "Consumption"]
    if not found:
        raise LookupError(f"no price for {meter!r}: is the region right, and does it offer serverless GPUs?")
    primary = [i for i in found if i.get("isPrimaryMeterRegion", True)]
    return (primary or found)[0]


def fetch(region: str, currency: str) -> list[dict[str, Any]]:
    query = f"serviceName eq 'Azure Container Apps' and armRegionName eq '{region}' and priceType eq 'Consumption'"
    url: str | None = f"{PRICES_API}?currencyCode={currency}&$filter={urllib.parse.quote(query)}"
    items: list[dict[str, Any]] = []
    while url:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a fixed https endpoint)
            page = json.load(response)
        items += page.get("Items", [])
        url = page.get("NextPageLink")
    return items


def estimate(workload: Workload, gpu: Gpu, items: list[dict[str, Any]]) -> dict[str, Any]:
    usage = Usage.of(workload, gpu)
    prices = {name: per_second(pick(items, name)) for name in (gpu.meter, VCPU_METER, MEMORY_METER)}
    billable_vcpu, billable_gib = max(0.0, usage.vcpu_s - FREE_VCPU_S), max(0.0, usage.gib_s - FREE_GIB_S)
    lines = {
        gpu.meter: (usage.gpu_s, prices[gpu.meter]),
        VCPU_METER: (billable_vcpu, prices[VCPU_METER]),
        MEMORY_METER: (billable_gib, prices[MEMORY_METER]),
    }
    costs = {name: quantity * price for name, (quantity, price) in lines.items()}
    return {
        "executions": workload.executions,
        "replica_hours": usage.gpu_s / 3600,
        "lines": {name: {"quantity": q, "unit_price": p, "cost": costs[name]} for name, (q, p) in lines.items()},
        "total": sum(costs.values()),
        "per_audio_hour": sum(costs.values()) / workload.audio_hours,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio-hours", type=float, default=100.0)
    parser.add_argument("--files", type=int, default=100, help="files a month (default: 100 one-hour files)")
    parser.add_argument("--gpu", choices=sorted(GPUS), default="T4")
    parser.add_argument("--speed", type=float, help="audio seconds per GPU-second (default: per GPU, see docs)")
    parser.add_argument("--max-workers", type=int, default=4, help="the deployment's maxWorkers")
    parser.add_argument("--start-s", type=float, default=60.0, help="image pull + model load per execution")
    parser.add_argument("--idle-tail-s", type=float, default=20.0, help="the worker's --exit-when-idle")
    parser.add_argument("--region", default="westus3")
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--prices", help="a saved Retail Prices API response (JSON with Items) instead of fetching")
    args = parser.parse_args(argv)
    gpu = GPUS[args.gpu]
    workload = Workload(
        args.audio_hours, args.files, args.max_workers, args.speed or gpu.speed, args.start_s, args.idle_tail_s
    )
    if args.prices:
        with open(args.prices) as f:
            items = json.load(f)["Items"]
    else:
        items = fetch(args.region, args.currency)
    print(json.dumps(estimate(workload, gpu, items), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
