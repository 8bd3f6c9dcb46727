"""Every benchmark runs at tiny sizes (--smoke: figures printed, targets not enforced), so the
benchmarks never rot. The real figures come from running them without --smoke."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    "name", ["api_throughput", "engine_throughput", "retry_latency", "scale", "ray_runner"]
)
def test_benchmark_runs(name):
    if name == "ray_runner":  # Ray runs in a loopback-only namespace: see tests/ray
        from tests.ray.test_ray_runner import require_namespaces

        require_namespaces()
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "targets" in done.stdout or "ratio" in done.stdout
