"""worker.layout: the worker layout chosen from the machine's facts (all injected here, nothing probed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import layout
from worker.layout import GIB, Layout, choose, overridden

NO_GPU: list[int] = []


def test_two_cores_plenty_of_memory_run_two_narrow_workers_batch_2() -> None:
    chosen = choose(cores=2, memory_bytes=24 * GIB, gpu_memory_bytes=NO_GPU)
    assert chosen == Layout(processes=2, threads=1, batch_size=2, device="cpu")
    assert chosen.describe().startswith("2 worker(s) x 1 thread(s), batch 2, cpu (2 core(s), 24.0 GiB free")


def test_many_cores_little_memory_are_capped_by_memory_and_widen_threads() -> None:
    chosen = choose(cores=16, memory_bytes=4 * GIB, gpu_memory_bytes=NO_GPU)
    # (4 GiB - 0.5 GiB for the host and Azurite) / 0.55 GiB per tiny.en worker = 6 workers; 16 // 6 = 2 threads
    assert (chosen.processes, chosen.threads, chosen.batch_size, chosen.device) == (6, 2, 2, "cpu")


def test_at_least_one_worker_however_little_memory() -> None:
    assert choose(cores=4, memory_bytes=100 * 1024**2, gpu_memory_bytes=NO_GPU).processes == 1


def test_unknown_memory_does_not_cap() -> None:
    assert layout.memory_cap(None, layout.TINY_RSS_BYTES) >= 1024
    assert layout.memory_cap(4 * GIB, layout.TINY_RSS_BYTES) == 6


def test_a_larger_model_folder_costs_its_weights(tmp_path: Path) -> None:
    model = tmp_path / "large-v3"
    model.mkdir()
    with (model / "model.bin").open("wb") as weights:
        weights.truncate(3 * GIB)  # sparse: large-v3 in float16
    (model / "config.json").write_text("{}")
    assert layout.worker_memory_bytes(str(model)) == 6 * GIB + int(0.4 * GIB)
    # 24 GiB: (24 - 0.5) // 6.4 = 3 workers of large-v3 where tiny.en would run 16
    assert choose(cores=16, memory_bytes=24 * GIB, gpu_memory_bytes=NO_GPU, model=str(model)).processes == 3
    assert choose(cores=16, memory_bytes=24 * GIB, gpu_memory_bytes=NO_GPU).processes == 16


def test_one_t4_runs_one_process_with_batch_16() -> None:
    chosen = choose(cores=8, memory_bytes=32 * GIB, gpu_memory_bytes=[16 * 10**9])
    assert chosen == Layout(processes=1, threads=8, batch_size=16, device="cuda", gpus=1)


def test_two_80_gb_gpus_run_two_processes_with_batch_64() -> None:
    chosen = choose(cores=16, memory_bytes=200 * GIB, gpu_memory_bytes=[80 * 10**9, 80 * 10**9])
    assert chosen == Layout(processes=2, threads=8, batch_size=64, device="cuda", gpus=2)


@pytest.mark.parametrize(
    ("mib", "batch"),
    [
        (15360, 16),
        (23028, 16),
        (40960, 32),
        (40536, 32),
        (46068, 32),
        (81559, 64),
        (81920, 64),
        (143771, 64),
        (8192, 8),
    ],
)
def test_gpu_batch_size_from_what_nvidia_smi_reports(mib: int, batch: int) -> None:
    # T4, A10, A100 40 GB (two reports), L40S, H100 80 GB, A100 80 GB, H200, an 8 GB card
    assert layout.gpu_batch_size(mib * 1024**2) == batch


def test_mixed_gpus_take_the_smallest_batch() -> None:
    assert choose(cores=4, memory_bytes=64 * GIB, gpu_memory_bytes=[80 * 10**9, 16 * 10**9]).batch_size == 16


def test_explicit_device_is_respected() -> None:
    assert choose("cpu", cores=4, memory_bytes=64 * GIB, gpu_memory_bytes=[80 * 10**9]).device == "cpu"
    forced = choose("cuda", cores=4, memory_bytes=64 * GIB, gpu_memory_bytes=NO_GPU)
    assert forced == Layout(processes=1, threads=4, batch_size=16, device="cuda", gpus=0)  # 16 GB assumed
    with pytest.raises(ValueError, match="device"):
        choose("tpu", cores=1, memory_bytes=GIB, gpu_memory_bytes=NO_GPU)


def test_cpu_device_never_probes_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> list[int]:
        raise AssertionError("probed GPUs for a CPU layout")

    monkeypatch.setattr(layout, "detect_gpu_memory_bytes", boom)
    assert choose("cpu", cores=2, memory_bytes=8 * GIB).device == "cpu"


def test_fixed_processes_fit_threads_to_them() -> None:
    chosen = choose(cores=8, memory_bytes=64 * GIB, gpu_memory_bytes=NO_GPU, processes=2)
    assert (chosen.processes, chosen.threads, chosen.batch_size) == (2, 4, 2)


def test_overrides_replace_only_what_was_given() -> None:
    base = Layout(processes=2, threads=1, batch_size=8, device="cpu")
    assert overridden(base) == (base, [])
    assert overridden(base, batch_size=1) == (Layout(2, 1, 1, "cpu"), ["batch_size"])
    assert overridden(base, processes=4, threads=0) == (Layout(4, 1, 8, "cpu"), ["processes", "threads"])


def test_cgroup_v2_cpu_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert layout.cgroup_cpu_quota(tmp_path) == 2  # 2.5 CPUs: two full-speed workers, not three throttled
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert layout.cgroup_cpu_quota(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert layout.cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v1_cpu_quota_and_none(tmp_path: Path) -> None:
    assert layout.cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert layout.cgroup_cpu_quota(tmp_path) == 4
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert layout.cgroup_cpu_quota(tmp_path) is None


def test_detected_cores_are_lowered_to_the_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert layout.detect_cores(tmp_path) == 1


def test_cgroup_memory_limit_less_usage(tmp_path: Path) -> None:
    assert layout.cgroup_memory_left(tmp_path) is None
    (tmp_path / "memory.max").write_text(f"{4 * GIB}\n")
    (tmp_path / "memory.current").write_text(f"{GIB}\n")
    assert layout.cgroup_memory_left(tmp_path) == 3 * GIB
    assert layout.detect_memory_bytes(tmp_path) == min(3 * GIB, layout._available_memory() or 3 * GIB)
    (tmp_path / "memory.max").write_text("max\n")
    assert layout.cgroup_memory_left(tmp_path) is None


def test_gpu_memory_fitted_to_the_visible_count() -> None:
    assert layout.fit_gpu_memory([15360 * 1024**2, 81920 * 1024**2], 2) == [15360 * 1024**2, 81920 * 1024**2]
    assert layout.fit_gpu_memory([15360 * 1024**2, 81920 * 1024**2], 1) == [15360 * 1024**2]  # some hidden
    assert layout.fit_gpu_memory([], 2) == [16 * 10**9, 16 * 10**9]  # no nvidia-smi: a T4 assumed


def test_the_window_suits_the_workers() -> None:
    """CPU workers get long windows (fewer seams and rounds); GPU windows fill the batch, as Bicep sets them."""
    from worker.layout import window_for

    assert window_for(Layout(2, 1, 2, "cpu")) == 600.0
    assert window_for(Layout(1, 8, 16, "cuda")) == 480.0  # T4
    assert window_for(Layout(1, 24, 64, "cuda")) == 1920.0  # A100
    assert window_for(Layout(1, 4, 8, "cuda")) == 300.0  # never under the app's default
