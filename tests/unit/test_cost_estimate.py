"""scripts/azure/cost_estimate.py: the arithmetic of docs/deploy.md's cost sketch, and reading Azure's price list.

The Retail Prices API cannot be reached from here, so the price list is a small one in the API's documented shape
(learn: rest/api/cost-management/retail-prices/azure-retail-prices: Items, unitOfMeasure, NextPageLink) with
round made-up prices that make the sums easy to check by hand; the real prices come from the API at run time.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cost_estimate", ROOT / "scripts" / "azure" / "cost_estimate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["cost_estimate"] = module
    spec.loader.exec_module(module)
    return module


ce = load()


def item(meter: str, price: float, unit: str, primary: bool = True) -> dict[str, Any]:
    return {
        "meterName": meter,
        "retailPrice": price,
        "unitOfMeasure": unit,
        "type": "Consumption",
        "isPrimaryMeterRegion": primary,
        "serviceName": "Azure Container Apps",
    }


PRICES = [
    item("Standard NC T4 v3 GPU Usage", 0.0001, "1 Second"),
    item("Standard NC T4 v3 GPU Usage", 9.0, "1 Second", primary=False),
    item("Standard vCPU Active Usage", 0.00001, "1 Second"),
    item("Standard Memory Active Usage", 0.000001, "1 GiB Second"),
    item("Standard vCPU Idle Usage", 5.0, "1 Second"),
]


def test_executions_and_replica_time_follow_the_files_segments_and_workers() -> None:
    # 100 one-hour files: 12 segments each, shared by 4 workers -> 400 executions of 80 s overhead
    w = ce.Workload(audio_hours=100, files=100, max_workers=4, speed=25, start_s=60, idle_tail_s=20)
    assert w.executions == 400
    assert w.replica_seconds == pytest.approx(360_000 / 25 + 400 * 80)
    # one 100-hour file: 1,200 segments, 4 executions
    assert ce.Workload(100, 1, 4, 25, 60, 20).executions == 4
    # 1,000 six-minute files: 2 segments each, so only 2 of the 4 workers start per file
    assert ce.Workload(100, 1000, 4, 25, 60, 20).executions == 2000


def test_the_estimate_prices_each_meter_after_the_free_grant() -> None:
    w = ce.Workload(100, 100, 4, 25, 60, 20)
    out = ce.estimate(w, ce.GPUS["T4"], PRICES)
    seconds = 360_000 / 25 + 400 * 80  # 46,400 replica-seconds
    gpu, vcpu, mem = (out["lines"][m] for m in (ce.GPUS["T4"].meter, ce.VCPU_METER, ce.MEMORY_METER))
    assert gpu["quantity"] == pytest.approx(seconds) and gpu["unit_price"] == 0.0001  # the primary region's
    assert vcpu["quantity"] == pytest.approx(seconds * 8 - 180_000)
    assert mem["quantity"] == pytest.approx(seconds * 56 - 360_000)
    expected = seconds * 0.0001 + (seconds * 8 - 180_000) * 0.00001 + (seconds * 56 - 360_000) * 0.000001
    assert out["total"] == pytest.approx(expected)
    assert out["per_audio_hour"] == pytest.approx(expected / 100)


def test_hourly_prices_are_turned_into_per_second_ones() -> None:
    assert ce.per_second(item("x", 3.6, "1 Hour")) == pytest.approx(0.001)
    assert ce.per_second(item("x", 0.5, "100 Seconds")) == pytest.approx(0.005)
    with pytest.raises(ValueError, match="unexpected unit"):
        ce.per_second(item("x", 1.0, "1/Month"))


def test_a_region_without_the_gpu_meter_is_a_clear_error(tmp_path: Path) -> None:
    saved = tmp_path / "prices.json"
    saved.write_text(json.dumps({"Items": PRICES}))
    with pytest.raises(LookupError, match="Standard NC A100 v4 GPU Usage"):
        ce.main(["--gpu", "A100", "--prices", str(saved)])


def test_the_command_line_prints_the_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "prices.json"
    saved.write_text(json.dumps({"Items": PRICES}))
    assert ce.main(["--audio-hours", "100", "--gpu", "T4", "--speed", "25", "--prices", str(saved)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["executions"] == 400 and out["replica_hours"] == pytest.approx(46_400 / 3600)
