"""Run a measurement once per CTranslate2 CPU kernel variant, each in its own process.

CTranslate2 picks its int8 GEMM library by CPU vendor (Intel MKL on Intel, oneDNN elsewhere; ``CT2_USE_MKL``
overrides) and its kernels by instruction set (``CT2_FORCE_CPU_ISA``), once per process; each choice gives slightly
different numbers, so the same audio transcribes a little differently on another CI machine. Running every variant
this CPU can execute shows that spread on one machine (source: CTranslate2 ``src/cpu/backend.cc``,
``mayiuse_mkl_init``, and ``src/cpu/cpu_isa.cc``, ``init_isa``). What one machine cannot show: MKL's AVX-512
kernels on an Intel CPU (MKL runs its AVX2 code on AMD whatever it is told).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Each library also dispatches on its own: oneDNN's JIT to the best ISA it finds unless ONEDNN_MAX_CPU_ISA caps it,
# MKL likewise with MKL_ENABLE_INSTRUCTIONS (on an AMD CPU MKL runs the same code either way, measured).
_CAPS = {
    "AVX512": {},
    "AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "AVX": {"ONEDNN_MAX_CPU_ISA": "AVX", "MKL_ENABLE_INSTRUCTIONS": "AVX"},
    "GENERIC": {"ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}
VARIANTS = {
    f"{lib}-{isa}": {"CT2_USE_MKL": "1" if lib == "mkl" else "0", "CT2_FORCE_CPU_ISA": isa, **caps}
    for lib in ("mkl", "dnnl")
    for isa, caps in _CAPS.items()
}
# What CI machines run: Intel (MKL) or AMD (oneDNN), with AVX-512 (Skylake-SP and later, Zen 4 and later) or
# AVX2 only (Zen 2/3, many Intel client parts). AVX and GENERIC (no x86-64 server of the last decade) are slow
# and run only when asked for.
REALISTIC = ["mkl-AVX512", "mkl-AVX2", "dnnl-AVX512", "dnnl-AVX2"]
# The OpenMP thread count changes the numbers too, even with CTranslate2 on one thread (measured: the same window
# plan gave 4 or 9 word errors with OMP_NUM_THREADS=1 or unset); unset, OpenMP uses every core, so a machine with
# another core count differs. "dnnl-AVX2/omp1" is dnnl-AVX2 with OMP_NUM_THREADS=1.
OMP_SUFFIX = "/omp"


def variant_names(kernels: list[str], omp: list[str]) -> list[str]:
    """Each kernel variant with each OpenMP thread count ("" leaves OMP_NUM_THREADS as it is)."""
    return [f"{k}{OMP_SUFFIX}{n}" if n else k for k in kernels for n in omp]


def variant_env(name: str) -> dict[str, str]:
    kernels, _, threads = name.partition(OMP_SUFFIX)
    return {**VARIANTS[kernels], **({"OMP_NUM_THREADS": threads} if threads else {})}


def run_each(module: str, args: list[str], variants: list[str], parallel: int) -> dict[str, dict[str, Any]]:
    """``python -m module --one *args`` per variant; each prints one JSON object. A variant this CPU cannot run
    (no AVX-512, no MKL in the build) comes back as ``{"error": ...}``."""

    def one(variant: str) -> dict[str, Any]:
        env = {**os.environ, **variant_env(variant), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", module, "--one", *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            lines = done.stderr.strip().splitlines()
            return {"error": lines[-1] if lines else f"exit {done.returncode}"}
        return dict(json.loads(done.stdout))

    with ThreadPoolExecutor(max(parallel, 1)) as pool:
        return dict(zip(variants, pool.map(one, variants), strict=True))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
