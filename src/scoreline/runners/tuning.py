"""The ``tuning`` step: Optuna proposes hyperparameters, the user's training script runs once
per trial with the SageMaker training contract, and the objective is read from the trial's
log (a regex, like the reference's ``MSE = ([0-9\\.]+)``) or from a JSON metrics file.

Trials are asked for in rounds of ``max_parallel_jobs`` and told back in trial order, so a
seeded study proposes the same trials on every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scoreline.engine.ray_executor import STEP_ADDRESS_ENV, connect
from scoreline.engine.tasks import (
    STEP_PYTHON_ENV,
    hyperparameter_arguments,
    training_environment,
)
from scoreline.errors import StepError
from scoreline.monitoring.dataset import write_json
from scoreline.pipeline.expressions import json_get
from scoreline.runners.common import Progress, input_dir, output_dir, run


@dataclass
class TrialResult:
    number: int
    hyperparameters: dict[str, Any]
    state: str
    value: float | None
    seconds: float
    error: str | None = None


def _sampler(config: dict[str, Any]) -> Any:
    import optuna

    seed = int(config.get("seed", 0))
    strategy = config.get("strategy", "tpe")
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "grid":
        space: dict[str, list[Any]] = {}
        for name, spec in config["ranges"].items():
            if spec["type"] == "categorical":
                space[name] = list(spec["values"])
            elif spec["type"] == "integer":
                space[name] = list(range(int(spec["min"]), int(spec["max"]) + 1))
            else:
                raise StepError(
                    f"grid search cannot enumerate the continuous range '{name}'",
                    hint="give it 'type: categorical' with 'values', or use tpe/random",
                )
        return optuna.samplers.GridSampler(space, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _suggest(trial: Any, ranges: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in ranges.items():
        log = spec.get("scaling") == "log"
        if spec["type"] == "integer":
            values[name] = trial.suggest_int(name, int(spec["min"]), int(spec["max"]), log=log)
        elif spec["type"] == "continuous":
            values[name] = trial.suggest_float(
                name, float(spec["min"]), float(spec["max"]), log=log
            )
        else:
            values[name] = trial.suggest_categorical(name, spec["values"])
    return values


def _objective_value(objective: dict[str, Any], log: str, output: Path) -> float:
    if objective.get("metric_regex"):
        matches = re.findall(objective["metric_regex"], log)
        if not matches:
            raise StepError(
                f"the trial's log has no line matching {objective['metric_regex']!r}",
                hint="the training script must print the objective metric",
            )
        last = matches[-1]
        return float(last[0] if isinstance(last, tuple) else last)
    path = output / objective["metric_file"]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StepError(f"cannot read the metrics file ({exc})", where=str(path)) from None
    return float(json_get(data, objective["metric_path"]))


def _run_trial(
    number: int,
    hyperparameters: dict[str, Any],
    config: dict[str, Any],
    root: Path,
    cpus: int,
    base_env: dict[str, str],
) -> TrialResult:
    """One training run. Everything it needs is in its arguments, so it can run in a thread
    here or as a task on a Ray worker (whose own environment is not the step's)."""
    folder = root / f"trial-{number:03d}"
    model_dir, out_dir = folder / "model", folder / "output"
    model_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    hps = {**config["hyperparameters"], **{k: str(v) for k, v in hyperparameters.items()}}
    channels = {name: config["channel_dirs"].get(name) for name in config["channels"]}
    env = {
        **base_env,
        **config.get("environment", {}),
        **training_environment(
            {k: v for k, v in channels.items() if v is not None}, model_dir, out_dir, hps, cpus
        ),
        "OMP_NUM_THREADS": str(cpus),
        "SCORELINE_TRIAL": str(number),
    }
    command = [
        base_env.get(STEP_PYTHON_ENV) or sys.executable,
        config["script"],
        *config["arguments"],
        *hyperparameter_arguments(hps),
    ]
    started = time.perf_counter()
    with (folder / "log.txt").open("wb") as log:
        code = subprocess.call(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    text = (folder / "log.txt").read_text(encoding="utf-8", errors="replace")
    if code != 0:
        last = next((line for line in reversed(text.splitlines()) if line.strip()), "no output")
        return TrialResult(number, hyperparameters, "FAIL", None, seconds, last.strip()[:300])
    try:
        value = _objective_value(config["objective"], text, out_dir)
    except (StepError, ValueError, KeyError, TypeError) as exc:
        message = exc.line() if isinstance(exc, StepError) else repr(exc)
        return TrialResult(number, hyperparameters, "FAIL", None, seconds, message)
    return TrialResult(number, hyperparameters, "COMPLETE", value, seconds)


@contextmanager
def _trial_pool(parallel: int, config: dict[str, Any]) -> Iterator[tuple[Any, int]]:
    """(submit, threads per trial). ``submit(*args)`` starts :func:`_run_trial` and returns
    a function that waits for its result: a Ray task each when the step runs on a cluster
    (``resources.cpus`` each), else threads here sharing this machine's cores (oversubscribed
    OpenMP threads spin and slow down)."""
    address = os.environ.get(STEP_ADDRESS_ENV)
    if address:
        ray = connect(address)
        cpus = float(config.get("trial_cpus") or 1)
        remote = ray.remote(_run_trial).options(num_cpus=cpus, max_retries=0)

        def on_cluster(*args: Any) -> Callable[[], TrialResult]:
            ref = remote.remote(*args)
            return lambda: ray.get(ref)

        yield on_cluster, max(1, int(cpus))
        return
    with ThreadPoolExecutor(max_workers=parallel) as pool:

        def here(*args: Any) -> Callable[[], TrialResult]:
            return pool.submit(_run_trial, *args).result

        yield here, max(1, (os.cpu_count() or 1) // parallel)


def _best(completed: list[TrialResult], minimize: bool) -> TrialResult | None:
    if not completed:
        return None
    return min(completed, key=lambda r: (r.value if minimize else -(r.value or 0.0), r.number))


def main(config: dict[str, Any]) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = config["objective"]
    minimize = objective.get("type", "Minimize") == "Minimize"
    study = optuna.create_study(
        direction="minimize" if minimize else "maximize", sampler=_sampler(config)
    )
    max_jobs = max(int(config["max_jobs"]), 1)
    parallel = max(min(int(config["max_parallel_jobs"]), max_jobs), 1)
    root = Path.cwd() / "trials"
    config = {**config, "channel_dirs": {n: str(input_dir(n)) for n in config["channels"]}}
    base_env = dict(os.environ)
    results: list[TrialResult] = []
    metric = objective.get("metric_name", "objective")
    progress = Progress("trials", max_jobs, every=0.0)
    with _trial_pool(parallel, config) as (submit, cpus):
        while len(results) < max_jobs:
            trials = [study.ask() for _ in range(min(parallel, max_jobs - len(results)))]
            proposals = [(t, _suggest(t, config["ranges"])) for t in trials]
            pending = [submit(t.number, hps, config, root, cpus, base_env) for t, hps in proposals]
            for (trial, _), get in zip(proposals, pending, strict=True):
                result = get()
                if result.state == "COMPLETE":
                    study.tell(trial, result.value)
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                results.append(result)
                shown = " ".join(f"{k}={v}" for k, v in result.hyperparameters.items())
                outcome = (
                    f"{metric} = {result.value:.6g}"
                    if result.value is not None
                    else f"failed: {result.error}"
                )
                print(
                    f"trial {result.number + 1}/{max_jobs}: {shown} -> {outcome} "
                    f"({result.seconds:.1f} s)",
                    flush=True,
                )
                best = _best([r for r in results if r.state == "COMPLETE"], minimize)
                progress.add(1, metric=metric, best=best.value if best else None)
    completed = [r for r in results if r.state == "COMPLETE"]
    if not completed:
        raise StepError(
            f"all {len(results)} trials failed; last: {results[-1].error}",
            hint="see the step log and trials/trials.json",
        )
    best = _best(completed, minimize)
    assert best is not None
    best_dir = root / f"trial-{best.number:03d}"
    for name in ("model", "output"):
        if name in config["outputs"]:
            target = output_dir(name)
            shutil.rmtree(target)
            shutil.copytree(best_dir / name, target)
    summary = {
        "objective": {"metric_name": metric, "type": objective.get("type", "Minimize")},
        "strategy": config.get("strategy", "tpe"),
        "best_trial": asdict(best),
        "trials": [asdict(r) for r in results],
    }
    write_json(output_dir("trials") / "trials.json", summary)
    print(f"best trial {best.number + 1}: {metric} = {best.value:.6g}")
    return {
        "bestTrial": asdict(best),
        "trials": [asdict(r) for r in results],
        "trialsCompleted": len(completed),
        "trialsFailed": len(results) - len(completed),
    }


if __name__ == "__main__":
    run(main)
