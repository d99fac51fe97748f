"""Artifact store contract on both tiers (a local folder, a real S3-compatible server):
atomic commits, sha256 manifests, verified reads."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec
import pytest
import yaml

from scoreline.artifacts import ArtifactStore, execution_key
from scoreline.errors import ArtifactError, ConfigError, UnavailableError
from scoreline.types import ExecutionStatus
from tests.conftest import ProjectDir

if TYPE_CHECKING:
    import httpx


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.csv").write_text("1,2\n")
    (src / "sub" / "b.json").write_text("{}")
    return src


def test_commit_records_sha256_and_fetch_verifies(tmp_path: Path, artifact_root: str) -> None:
    store = ArtifactStore(artifact_root)
    key = execution_key("e1", "Prep", "train")
    folder = store.commit_folder(_folder(tmp_path), key)
    assert folder.uri == f"{artifact_root}/executions/e1/Prep/train"
    assert {f.path: f.sha256 for f in folder.files} == {
        "a.csv": hashlib.sha256(b"1,2\n").hexdigest(),
        "sub/b.json": hashlib.sha256(b"{}").hexdigest(),
    }
    assert store.folder(folder.uri) == folder
    dest = tmp_path / "dest"
    store.fetch(folder.uri, dest)
    assert (dest / "sub" / "b.json").read_text() == "{}"

    fs, root = fsspec.core.url_to_fs(artifact_root)
    fs.pipe_file(f"{root}/{key}/a.csv", b"tampered")
    with pytest.raises(ArtifactError, match=r"sha256 mismatch for 'a\.csv'"):
        store.fetch(folder.uri, tmp_path / "again")


def test_outputs_are_never_overwritten_and_no_temporary_names_remain(
    tmp_path: Path, artifact_root: str
) -> None:
    store = ArtifactStore(artifact_root)
    store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    with pytest.raises(ArtifactError, match="already exists"):
        store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    store.put_bytes("executions/e1/S/logs/attempt-1.txt", b"log")
    fs, root = fsspec.core.url_to_fs(artifact_root)
    assert [p for p in fs.find(root) if ".tmp-" in p] == []


@pytest.mark.parametrize("artifact_root", ["s3"], indirect=True)
def test_a_folder_whose_commit_was_cut_short_can_be_committed_again(
    tmp_path: Path, artifact_root: str
) -> None:
    """On an object store, files without a manifest are an interrupted commit, not an output
    (a local commit is one rename, so it cannot be cut short)."""
    store = ArtifactStore(artifact_root)
    fs, root = fsspec.core.url_to_fs(artifact_root)
    fs.pipe_file(f"{root}/executions/e1/S/out/a.csv", b"half")
    folder = store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    assert store.read_bytes(f"{folder.uri}/a.csv") == b"1,2\n"


def test_put_is_atomic_when_the_write_fails(tmp_path: Path, artifact_root: str) -> None:
    store = ArtifactStore(artifact_root)
    store.put_bytes("x/data.bin", b"old")

    with pytest.raises(FileNotFoundError):
        store.put_file(tmp_path / "vanished.bin", "x/data.bin")
    assert store.read_bytes("x/data.bin") == b"old"
    fs, root = fsspec.core.url_to_fs(artifact_root)
    assert [Path(p).name for p in fs.ls(f"{root}/x", detail=False)] == ["data.bin"]


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    with pytest.raises(ArtifactError, match="stay under the root"):
        store.put_bytes("../outside.txt", b"x")


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    data = tmp_path / "in.csv"
    data.write_text("a")
    first = store.fingerprint(str(data))
    data.write_text("b")
    assert store.fingerprint(str(data)) != first
    with pytest.raises(ArtifactError, match="input not found"):
        store.fingerprint(str(tmp_path / "missing.csv"))


@pytest.mark.parametrize(
    ("bucket", "change", "what"),
    [
        ("landing", {"AWS_SECRET_ACCESS_KEY": "wrong"}, "access denied ("),
        ("never-made", {}, "bucket 'never-made' does not exist ("),
        ("landing", {"AWS_ENDPOINT_URL": "closed port"}, "cannot reach the artifact store ("),
    ],
)
def test_an_unusable_remote_root_is_one_line(
    s3_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    bucket: str,
    change: dict[str, str],
    what: str,
) -> None:
    from tests.servers import free_port, use_s3

    if change.get("AWS_ENDPOINT_URL") == "closed port":
        change = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    use_s3(monkeypatch, {**s3_environment, **change})
    root = f"s3://{bucket}/artifacts"
    with pytest.raises(UnavailableError) as caught:
        ArtifactStore(root).check_reachable()
    assert caught.value.line().startswith(f"artifact root {root}: {what}")
    assert "\n" not in caught.value.line()
    use_s3(monkeypatch, s3_environment)
    ArtifactStore("s3://landing/artifacts").check_reachable()
    ArtifactStore(str(Path("local-folder-needs-no-check"))).check_reachable()


def test_the_options_of_s3_serve_the_s3a_scheme_too(
    s3_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.servers import free_port, use_s3

    use_s3(monkeypatch, {**s3_environment, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    endpoint = {"s3": {"endpoint_url": s3_environment["AWS_ENDPOINT_URL"]}}
    store = ArtifactStore("s3a://landing/s3a-artifacts", endpoint)
    store.check_reachable()  # the option's endpoint, not the environment's dead one
    store.put_bytes("x.txt", b"x")
    assert store.read_bytes("x.txt") == b"x"


def test_an_outage_refuses_a_start_but_a_rule_leaves_an_execution_to_retry(
    project: ProjectDir, s3_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoreline.server.api import create_app
    from tests.servers import use_s3

    root = f"s3://landing/{project.root.parent.name}/artifacts"
    rule = {
        "name": "on-request",
        "pattern": {"detail-type": ["Retrain Requested"]},
        "target": {"start_pipeline": "P"},
    }
    (project.root / "scoreline.yaml").write_text(
        yaml.safe_dump({"name": "test", "artifacts": root, "rules": [rule]})
    )
    script = project.script("noop.py", "print('scored')\n")
    noop = {"name": "S", "kind": "processing", "script": script}
    project.pipeline({"name": "P", "steps": [noop]})
    use_s3(monkeypatch, {**s3_environment, "AWS_SECRET_ACCESS_KEY": "wrong"})

    result = project.cli("run", "P", "--wait", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: artifact root {root}: access denied (")
    assert len(result.stderr.strip().splitlines()) == 1
    assert project.client().executions() == []
    app = create_app(project.client())
    answer = asyncio.run(_post(app, "/api/v1/executions", {"pipeline": "P"}))
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "unavailable")

    client = project.client()
    client.store.append_event("Retrain Requested", {})
    client.process_rules()
    (execution,) = client.executions()
    deadline = time.monotonic() + 60
    while not ExecutionStatus(client.execution(execution.id).status).is_final:
        assert time.monotonic() < deadline, "the rule's execution did not end"
        time.sleep(0.1)
    failed = client.execution(execution.id)
    assert failed.status == ExecutionStatus.FAILED.value
    assert failed.failure_reason.startswith(f"step 'S' failed: the artifact store {root} could ")
    assert "not store the step's results: " in failed.failure_reason

    use_s3(monkeypatch, s3_environment)  # the outage is over
    retried = project.client().retry(execution.id, wait=True)
    assert retried.status == ExecutionStatus.SUCCEEDED.value


async def _post(app: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    """One request to ``app`` in this process."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        return await http.post(path, json=body)


def test_endpoint_region_and_profile_from_scoreline_yaml(
    project: ProjectDir,
    s3_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """No AWS_* endpoint or keys in the environment: the project file names the endpoint
    and region, and a profile of the AWS credentials file holds the keys; artifacts, an
    s3:// input and a bucket trigger all use them."""
    import s3fs

    credentials = tmp_path / "aws-credentials"
    credentials.write_text(
        "[team]\n"
        f"aws_access_key_id = {s3_environment['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {s3_environment['AWS_SECRET_ACCESS_KEY']}\n"
    )
    for name in s3_environment:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    s3fs.S3FileSystem.clear_instance_cache()
    bucket = s3fs.S3FileSystem(
        key=s3_environment["AWS_ACCESS_KEY_ID"],
        secret=s3_environment["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=s3_environment["AWS_ENDPOINT_URL"],
    )
    prefix = f"landing/{project.root.parent.name}"
    bucket.pipe(f"{prefix}/input/rows.csv", b"1\n2\n3\n")
    s3 = {"endpoint_url": s3_environment["AWS_ENDPOINT_URL"], "region": "us-east-1"}
    settings = {"name": "test", "artifacts": f"s3://{prefix}/artifacts", "s3": s3}
    (project.root / "scoreline.yaml").write_text(yaml.safe_dump(settings))
    count = project.script(
        "count.py",
        """
        import os, pathlib
        rows = pathlib.Path(os.environ["SCORELINE_INPUT_ROWS"], "rows.csv").read_text().split()
        out = pathlib.Path(os.environ["SCORELINE_OUTPUT_COUNT"])
        (out / "count.txt").write_text(str(len(rows)))
        """,
    )
    counting = {
        "name": "Count",
        "kind": "processing",
        "script": count,
        "inputs": {"rows": f"s3://{prefix}/input/rows.csv"},
        "outputs": ["count"],
    }
    project.pipeline({"name": "P", "steps": [counting]})

    refused = project.cli("run", "P", "--wait", check=False)
    assert refused.returncode == 1, "without a profile there are no keys"
    assert refused.stderr.startswith(
        f"error: artifact root {settings['artifacts']}: access denied (Unable to locate "
        "credentials) (check the credentials: "
    )

    settings["s3"] = {**s3, "profile": "team"}
    (project.root / "scoreline.yaml").write_text(yaml.safe_dump(settings))
    execution = json.loads(project.cli("run", "P", "--wait", "--json").stdout)
    assert execution["status"] == "Succeeded", execution
    key = f"{prefix}/artifacts/executions/{execution['id']}/Count/count"
    assert bucket.cat_file(f"{key}/count.txt") == b"3"
    assert bucket.exists(f"{key}/_manifest.json")

    trigger = {"name": "arrivals", "location": f"s3://{prefix}/input", "pipeline": "P"}
    settings["triggers"] = [trigger]
    (project.root / "scoreline.yaml").write_text(yaml.safe_dump(settings))
    client = project.client()
    client.serve_once()
    (created,) = client.events(detail_type="Object Created")
    assert created.detail["object"]["key"].endswith("input/rows.csv")


def test_keys_in_scoreline_yaml_are_refused(project: ProjectDir) -> None:
    (project.root / "scoreline.yaml").write_text(
        yaml.safe_dump({"name": "test", "s3": {"endpoint_url": "http://x", "secret": "s"}})
    )
    result = project.cli("pipelines", "list", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: ")
    assert "keys do not belong in scoreline.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_root_whose_filesystem_package_is_missing_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        ArtifactStore("gcs://bucket/artifacts")  # gcsfs is not installed
    assert (
        caught.value.line()
        == "gcs://bucket/artifacts: Please install gcsfs to access Google Storage"
    )
