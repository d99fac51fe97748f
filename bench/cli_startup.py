"""Benchmark: cold start of `scoreline --help` (target <= 0.4 s), against the bare
interpreter start in the same run. Prints the median of repeated runs and the ratio."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time

RUNS = 15
TARGET_SECONDS = 0.4


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    baseline = median_seconds([sys.executable, "-c", "pass"])
    help_time = median_seconds([sys.executable, "-m", "scoreline", "--help"])
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} "
        f"python {platform.python_version()}"
    )
    print(f"python -c pass        median {baseline * 1000:7.1f} ms")
    print(
        f"scoreline --help      median {help_time * 1000:7.1f} ms "
        f"({help_time / baseline:.1f}x the bare interpreter)"
    )
    verdict = "OK" if help_time <= TARGET_SECONDS else "MISSED"
    print(f"target <= {TARGET_SECONDS * 1000:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
