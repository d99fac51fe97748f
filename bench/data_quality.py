"""Benchmark: data-quality statistics and every check on 1M and 10M abalone-like rows
against a baseline of the 4,177 Abalone rows.

In the same run, on the same CSV file:
- scoreline: one streaming pass (statistics) and all checks, writing statistics.json and
  constraint_violations.json;
- Evidently's DataDriftPreset (read_csv + report), in a virtualenv this benchmark creates
  under .bench/ (Evidently pins an older pandas); at 1M rows only unless --evidently-all;
- a pandas pass: read_csv + describe(include="all").
Then the whole command as a user runs it: `scoreline monitoring check` against a Python
program that imports Evidently, reads both CSV files and runs DataDriftPreset, each a fresh
process timed from start to exit (median of --repeat runs after one warm-up, bytecode caches
written as on a user's machine). Then the batch transform with and without statistics
collected in the same pass.

Targets: >= 20x faster than Evidently in process and >= 15x as whole commands, at 1M rows;
extra memory (peak minus the process's memory before reading) <= 64 MiB; statistics during
batch transform add <= 15% to its time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from abalone_rows import FEATURES, REPO, generate, measure, prepare
from peers import peer_python

EVIDENTLY_PINS = ("evidently==0.7.23", "pandas==2.2.3")
SIZES = (1_000_000, 10_000_000)

SCORELINE = """
from scoreline.data.io import load_json_object, use_jemalloc
from scoreline.monitoring.dataset import profile_data, write_check
use_jemalloc()  # as the quality_check step and `scoreline monitoring check` do
work = Path(sys.argv[1])
statistics = load_json_object(work / "baseline" / "statistics.json")
constraints = load_json_object(work / "baseline" / "constraints.json")
before = memory("VmRSS")
start = time.perf_counter()
current = profile_data(work / "rows.csv", False, None, statistics)
result = write_check(current, constraints, statistics, work / "check")
seconds = time.perf_counter() - start
report(seconds, rows=current.item_count, extra_mib=memory("VmHWM") - before,
       violations=len(result.violations))
"""

EVIDENTLY = """
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
work, names = Path(sys.argv[1]), sys.argv[2].split(",")
reference = pd.read_csv(sys.argv[3], header=None, names=names)
before = memory("VmRSS")
start = time.perf_counter()
current = pd.read_csv(work / "rows.csv", header=None, names=names)
snapshot = Report([DataDriftPreset()]).run(current, reference)
snapshot.dict()
report(time.perf_counter() - start, rows=len(current), extra_mib=memory("VmHWM") - before)
"""

EVIDENTLY_COMMAND = """
import sys
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
names = sys.argv[2].split(",")
reference = pd.read_csv(sys.argv[3], header=None, names=names)
current = pd.read_csv(sys.argv[1], header=None, names=names)
Report([DataDriftPreset()]).run(current, reference).dict()
"""

DESCRIBE = """
import pandas as pd
work, names = Path(sys.argv[1]), sys.argv[2].split(",")
before = memory("VmRSS")
start = time.perf_counter()
frame = pd.read_csv(work / "rows.csv", header=None, names=names)
frame.describe(include="all")
report(time.perf_counter() - start, rows=len(frame), extra_mib=memory("VmHWM") - before)
"""

TRANSFORM = """
import xgboost
from scoreline.data.io import use_jemalloc
from scoreline.data.flavors import load_model
from scoreline.data.preprocess import Preprocessor
from scoreline.data.transform import TransformOptions, batch_transform
from scoreline.monitoring.statistics import DatasetProfile
use_jemalloc()  # as the batch_transform step does
work, profiled = Path(sys.argv[1]), sys.argv[2] == "with"
pre = Preprocessor.load(work / "preprocessing.json")
model = load_model(work / "model")
names = [f.name for f in pre.features]
options = TransformOptions(pre.input_spec(),
                           profiler=(lambda: DatasetProfile(names)) if profiled else None)
start = time.perf_counter()
result = batch_transform(work / "csv-in", model, pre, work / "out", options)
report(time.perf_counter() - start, rows=result.scored)
"""


def baseline(work: Path) -> Path:
    """statistics.json and constraints.json of the 4,177 Abalone inference rows."""
    from scoreline.monitoring.dataset import profile_data, write_baseline

    source = REPO / "src/scoreline/examples/abalone/data/inference-data.csv"
    write_baseline(profile_data(source, False, FEATURES), work / "baseline")
    return source


def wall_seconds(command: list[str], repeat: int) -> float:
    """Median wall-clock seconds of a whole command, each run a fresh process, after one
    warm-up run (a user's second run: bytecode caches written, files in the page cache)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def whole_commands(work: Path, reference: Path, python: str, repeat: int) -> None:
    names = ",".join(FEATURES)
    scoreline = Path(sys.executable).with_name("scoreline")
    ours = wall_seconds(
        [
            str(scoreline),
            "monitoring",
            "check",
            str(work / "rows.csv"),
            "--baseline",
            str(work / "baseline"),
            "--output",
            str(work / "command"),
            "--columns",
            names,
        ],
        repeat,
    )
    program = work / "evidently_drift.py"
    program.write_text(EVIDENTLY_COMMAND)
    theirs = wall_seconds(
        [python, str(program), str(work / "rows.csv"), names, str(reference)], repeat
    )
    print(f"  scoreline monitoring check (whole command)  {ours:7.2f} s")
    print(f"  Evidently DataDriftPreset (whole program)   {theirs:7.2f} s")
    print(f"  whole commands:          {theirs / ours:6.1f}x faster (target >= 15x at 1M rows)")


def line(label: str, m: dict[str, Any]) -> str:
    extra = f" extra {m['extra_mib']:5.0f} MiB" if "extra_mib" in m else ""
    return (
        f"  {label:<42} {m['seconds']:7.2f} s {m['rows'] / m['seconds'] / 1e6:6.2f} M rows/s "
        f"peak {m['peak_mib']:6.0f} MiB{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--evidently-all", action="store_true", help="Evidently at every size")
    parser.add_argument("--repeat", type=int, default=3, help="batch transform runs per variant")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} cores: {os.cpu_count()} "
        f"python {platform.python_version()} evidently: {EVIDENTLY_PINS[0]}"
    )
    python = peer_python("evidently", EVIDENTLY_PINS)
    names = ",".join(FEATURES)
    with tempfile.TemporaryDirectory(prefix="scoreline-bench-") as tmp:
        work = Path(tmp)
        prepare(work, 300)
        reference = baseline(work)
        for index, rows in enumerate(args.rows):
            generate(work, rows)
            ours = measure(SCORELINE, str(work), "no-pandas")
            described = measure(DESCRIBE, str(work), names, python=python)
            print(f"\n{rows:,} rows ({(work / 'rows.csv').stat().st_size / 2**20:.0f} MiB of CSV)")
            print(line("scoreline statistics + all checks", ours))
            print(line("pandas read_csv + describe", described))
            if index == 0 or args.evidently_all:
                evidently = measure(EVIDENTLY, str(work), names, str(reference), python=python)
                print(line("Evidently DataDriftPreset (read_csv + run)", evidently))
                print(
                    f"  scoreline vs Evidently:  {evidently['seconds'] / ours['seconds']:6.1f}x "
                    "faster in process (target >= 20x at 1M rows)"
                )
                whole_commands(work, reference, python, args.repeat)
            print(
                f"  scoreline vs describe:   {described['seconds'] / ours['seconds']:6.1f}x faster"
            )
            print(f"  scoreline extra memory:  {ours['extra_mib']:6.0f} MiB (target <= 64 MiB)")
            plain = [
                measure(TRANSFORM, str(work), "without", "no-pandas")["seconds"]
                for _ in range(args.repeat)
            ]
            profiled = [
                measure(TRANSFORM, str(work), "with", "no-pandas")["seconds"]
                for _ in range(args.repeat)
            ]
            a, b = statistics.median(plain), statistics.median(profiled)
            print(
                f"  batch transform CSV -> CSV: {a:.2f} s plain, {b:.2f} s with statistics "
                f"(median of {args.repeat}): {b / a - 1:+.1%} (target <= +15%)"
            )


if __name__ == "__main__":
    main()
