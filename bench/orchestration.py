"""Benchmark: orchestration overhead per step on a 50-step chain of no-op steps
(target <= 50 ms per step on the local executor).

Baseline, in the same run: the same 50 no-op scripts started one after another with
subprocess, which is the cost no orchestrator can avoid. Overhead per step =
(scoreline wall time - baseline wall time) / 50. Peak memory of the orchestrating process
is printed too.
"""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from scoreline.client import Client

STEPS = 50
TARGET_MS = 50.0


def make_project(root: Path) -> Path:
    (root / "pipelines").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "scripts" / "noop.py").write_text("pass\n")
    (root / "scoreline.yaml").write_text("name: bench\nexecutor: {max_workers: 2}\n")
    steps = []
    for i in range(STEPS):
        step = {
            "name": f"S{i:02d}",
            "kind": "processing",
            "script": "scripts/noop.py",
            "outputs": ["out"],
        }
        if i:
            step["inputs"] = {
                "prev": {"expr": "step_output", "step": f"S{i - 1:02d}", "output": "out"}
            }
        steps.append(step)
    (root / "pipelines" / "chain.yaml").write_text(
        yaml.safe_dump({"name": "Chain", "steps": steps})
    )
    return root / "scripts" / "noop.py"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = make_project(Path(tmp))
        start = time.perf_counter()
        for _ in range(STEPS):
            subprocess.run([sys.executable, str(script)], check=True)
        baseline = time.perf_counter() - start

        client = Client.open(tmp)
        client.start("Chain", wait=True)  # warm-up: store created, definition registered
        start = time.perf_counter()
        execution = client.start("Chain", wait=True)
        total = time.perf_counter() - start
        assert execution.status == "Succeeded", execution.failure_reason

    overhead_ms = (total - baseline) / STEPS * 1000
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()} python {platform.python_version()}")
    print(
        f"baseline: {STEPS} no-op subprocesses   {baseline:6.2f} s "
        f"({baseline / STEPS * 1000:.1f} ms each)"
    )
    print(
        f"scoreline: {STEPS}-step chain           {total:6.2f} s "
        f"({total / STEPS * 1000:.1f} ms per step, {total / baseline:.2f}x the baseline)"
    )
    print(
        f"orchestration overhead per step:      {overhead_ms:6.1f} ms "
        f"(target <= {TARGET_MS:.0f} ms: {'OK' if overhead_ms <= TARGET_MS else 'MISSED'})"
    )
    print(f"peak memory of the orchestrating process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
