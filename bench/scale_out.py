"""Benchmark: the batch transform of abalone-like rows on a Ray cluster with 1, 2, 4, 8 and 16
workers, against the local executor, in the same run and on the same rows.

Each measurement is a real ``scoreline run`` of a one-step pipeline (a ``batch_transform``
of a CSV file with the Abalone example's model) in its own project. For Ray, a local head is
started with ``--num-cpus=N`` (N worker processes) and the step splits its input into one
share per worker, each share on one core. Reported per run: the transform time the runner
measures (input staged, output not yet committed; for Ray after the runner has connected to
the cluster, which is reported apart), the step's wall time, the speed-up over one Ray
worker, its efficiency (speed-up / N), and peak memory (``VmHWM``: the runner's on the local
executor, the largest Ray worker's on Ray). The local executor runs twice: with every core
(as a user runs it) and on one core (``threads: 1``, ``OMP_NUM_THREADS=1``, which also sizes
pyarrow's pool), the same budget as one Ray worker, which is the fair baseline for Ray's own
overhead.

Targets (issue 8, on the 16-core machine the ``device`` tool lends): >= 0.8x linear speed-up
up to 8 workers; Ray with 1 worker within 20% of the local executor.

    python bench/scale_out.py                      # 10M rows, 1 2 4 8 16 workers
    python bench/scale_out.py --rows 1000000 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from abalone_rows import FEATURES, REPO, generate, prepare

sys.path.insert(0, str(REPO))
from tests.servers import ray_head


def _project(work: Path, name: str, threads: int = 0) -> Path:
    root = work / name
    (root / "pipelines").mkdir(parents=True)
    (root / "scoreline.yaml").write_text(f"name: {name}\n")
    step = {"name": "Score", "kind": "batch_transform", "data": str(work / "csv-in"),
            "model": str(work / "model"), "preprocessing": str(work / "preprocessing.json"),
            "columns": FEATURES, "threads": threads}  # fmt: skip
    (root / "pipelines" / "t.yaml").write_text(yaml.safe_dump({"name": "T", "steps": [step]}))
    return root


def _run(root: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "scoreline", "--project", str(root), "run", "T", "--wait", "--json"],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the run failed:\n{done.stdout}\n{done.stderr}")
    (step,) = json.loads(done.stdout)["steps"]
    started = datetime.fromisoformat(step["started_at"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(step["ended_at"].replace("Z", "+00:00"))
    return {
        "transform_s": step["metadata"]["seconds"],
        "step_s": round((ended - started).total_seconds(), 3),
        "rows": step["metadata"]["rows"],
        "shares": step["metadata"].get("rayShares"),
        "connect_s": step["metadata"].get("rayConnectSeconds"),
        "peak_mib": step["metadata"].get("peakMiB"),
        "worker_peak_mib": step["metadata"].get("rayWorkerPeakMiB"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scoreline-scale-") as tmp:
        work = Path(tmp)
        prepare(work, rounds=300)
        generate(work, args.rows)
        local = _run(_project(work, "local"), {})
        single = _run(_project(work, "local-1", threads=1), {"OMP_NUM_THREADS": "1"})
        runs: dict[int, dict[str, Any]] = {}
        for workers in args.workers:
            with ray_head(workers=workers) as address:
                runs[workers] = _run(
                    _project(work, f"ray-{workers}"), {"SCORELINE_RAY_ADDRESS": address}
                )
    base = runs[min(runs)]["transform_s"] * min(runs)
    print(f"batch transform of {args.rows:,} rows; {platform.node()}, {os.cpu_count()} CPUs")
    print(f"{'executor':<14}{'transform s':>12}{'step s':>9}{'speed-up':>10}{'efficiency':>12}"
          f"{'peak MiB':>10}")  # fmt: skip
    for label, run in (("local", local), ("local, 1 core", single)):
        print(f"{label:<14}{run['transform_s']:>12.2f}{run['step_s']:>9.2f}{'':>22}"
              f"{run['peak_mib']:>10.0f}")  # fmt: skip
    results: dict[str, Any] = {
        "rows": args.rows,
        "cpus": os.cpu_count(),
        "local": local,
        "local_one_core": single,
        "ray": {},
    }
    for workers, run in runs.items():
        speedup = base / run["transform_s"]
        run.update(speedup=round(speedup, 2), efficiency=round(speedup / workers, 2))
        results["ray"][workers] = run
        label = f"ray x{workers}"
        print(f"{label:<14}{run['transform_s']:>12.2f}{run['step_s']:>9.2f}{speedup:>10.2f}"
              f"{speedup / workers:>12.2f}{run['worker_peak_mib']:>10.0f}")  # fmt: skip
    if 1 in runs:
        ratio = runs[1]["transform_s"] / single["transform_s"]
        results["ray1_over_local_one_core"] = round(ratio, 3)
        print(f"ray x1 / local on one core: {ratio:.3f} (target <= 1.20)")
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "scale_out.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
