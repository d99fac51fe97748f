"""The logic behind the server's security, without a server: data roots, what steps inherit
and what their logs mask, the one-way authentication state, sessions, login links and
token lifetimes (end-to-end tests are in test_security.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from scoreline.engine import stepenv
from scoreline.engine.locations import DataRoots
from scoreline.errors import ParameterError, StateError
from scoreline.server.security import host_name
from scoreline.store import MetadataStore
from scoreline.store import tables as t
from scoreline.store.tables import utcnow
from scoreline.store.tokens import parse_lifetime


def test_data_roots_take_the_project_its_roots_and_prefixes_and_nothing_else(
    tmp_path: Path,
) -> None:
    project, shared = tmp_path / "project", tmp_path / "shared"
    project.mkdir()
    shared.mkdir()
    (project / "escape").symlink_to(tmp_path)
    roots = DataRoots(project, [str(shared), "s3://landing/team", "data"])
    assert roots.resolve("data/x.csv", "p") == str(project / "data" / "x.csv")
    assert roots.resolve(f"{shared}/x.csv", "p") == str(shared / "x.csv")
    assert roots.resolve(f"file://{shared}/x.csv", "p") == str(shared / "x.csv")
    assert roots.resolve("s3://landing/team/in/x.csv", "p") == "s3://landing/team/in/x.csv"
    assert roots.resolve("s3a://landing/team/x.csv", "p") == "s3a://landing/team/x.csv"
    for outside in (
        "/etc/passwd",
        "../x.csv",
        "data/../../x.csv",
        "escape/shared-not/x.csv",
        f"{shared}-other/x.csv",
        "s3://landing/teamwork/x.csv",
        "s3://landing/team/../other/x.csv",
        "s3://other/x.csv",
        "https://169.254.169.254/latest/meta-data",
        "~/.ssh/id_rsa",
    ):
        with pytest.raises(ParameterError) as refused:
            roots.resolve(outside, "parameter 'InputData'")
        assert refused.value.where == "parameter 'InputData'"


def test_steps_inherit_only_the_basics_and_what_is_passed() -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_CORETYPE": "Haswell",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "eu-west-1",
        "SCORELINE_STORE": "postgresql://u:p@h/db",
        "SCORELINE_SMTP_URL": "smtp://u:p@h",
        "SCORELINE_TOKEN": "sl_x",
        "GITHUB_TOKEN": "ghp_x",
    }
    assert stepenv.inherited(parent=parent) == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_CORETYPE": "Haswell",
    }
    passed = stepenv.inherited(["AWS_*", "SCORELINE_*"], parent)
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= set(passed)
    assert not {"SCORELINE_STORE", "SCORELINE_SMTP_URL", "SCORELINE_TOKEN"} & set(passed)


def test_secret_values_are_masked_also_across_chunk_boundaries(tmp_path: Path) -> None:
    env = {
        "AWS_SECRET_ACCESS_KEY": "abcd-secret",
        "MY_DB": "postgresql://app:db-pass@host/db",
        "API_TOKEN": "tok",  # too short to mask without blanking ordinary text
        "SCORELINE_STEP_TOKEN": "marker-not-secret",
        "PLAIN": "visible-value",
    }
    secrets = stepenv.secret_values(env)
    assert secrets == ["abcd-secret", "db-pass"]
    assert stepenv.mask("key=abcd-secret url=db-pass", secrets) == "key=******** url=********"
    log = tmp_path / "log.txt"
    prefix = b"x" * ((1 << 20) - 5)  # the first secret straddles the first 1 MiB chunk
    log.write_bytes(prefix + b"abcd-secret visible-value db-pass\n" * 3)
    stepenv.mask_file(log, secrets)
    masked = log.read_bytes()
    assert b"abcd" not in masked.replace(b"x", b"")
    assert b"db-pass" not in masked
    assert masked.count(b"********") == 6
    assert masked.count(b"visible-value") == 3


def test_authentication_is_one_way_until_reset_without_live_tokens(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert store.auth.required() is None
    store.tokens.create("ops", "admin", "me")
    state = store.auth.required()
    assert state is not None
    assert state.reason == "a token was created"
    with pytest.raises(StateError, match=r"1 live token\(s\) remain \(ops\)"):
        store.auth.reset_local()
    store.tokens.revoke("ops")
    assert store.auth.required() is not None, "revoking the last token changes nothing"
    store.auth.reset_local()
    assert store.auth.required() is None


def test_sessions_end_by_idleness_expiry_sign_out_revocation_and_the_local_mode(
    tmp_path: Path,
) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    hour = timedelta(hours=1)
    local, _ = store.auth.start_session("local", "admin", None, hour)
    assert store.auth.session(local, hour) is not None
    assert store.auth.session(local, timedelta(0)) is None, "idle"
    expired, _ = store.auth.start_session("local", "admin", None, timedelta(seconds=-1))
    assert store.auth.session(expired, hour) is None, "past its absolute expiry"
    record, _ = store.tokens.create("v", "viewer", "me")
    viewer, made = store.auth.start_session("token:v", "viewer", record.id, hour)
    found = store.auth.session(viewer, hour)
    assert found is not None
    assert (found.role, found.csrf) == ("viewer", made.csrf)
    assert store.auth.session("not-a-session", hour) is None
    store.tokens.revoke("v")
    assert store.auth.session(viewer, hour) is None, "revoking the token ends its sessions"
    other, _ = store.auth.start_session("local", "admin", None, hour)
    store.auth.end_session(other)
    assert store.auth.session(other, hour) is None


def test_login_links_work_once_and_expire(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    secret = store.auth.create_login_link(timedelta(minutes=5))
    assert store.auth.use_login_link(secret)
    assert not store.auth.use_login_link(secret)
    stale = store.auth.create_login_link(timedelta(seconds=-1))
    assert not store.auth.use_login_link(stale)
    assert not store.auth.use_login_link("guess")
    store.auth.create_login_link(timedelta(days=-8))
    store.auth.start_session("local", "admin", None, timedelta(days=-8))
    store.auth.create_login_link(timedelta(minutes=5))
    store.auth.start_session("local", "admin", None, timedelta(minutes=5))
    with store.engine.connect() as conn:
        links = conn.execute(sa.select(sa.func.count()).select_from(t.login_links)).scalar()
        sessions = conn.execute(sa.select(sa.func.count()).select_from(t.ui_sessions)).scalar()
    assert (links, sessions) == (3, 1), "long-expired rows are deleted as new ones come"


def test_tokens_expire_and_record_their_last_use(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    _, old = store.tokens.create("old", "viewer", "me", utcnow() - timedelta(seconds=1))
    _, new = store.tokens.create("new", "viewer", "me", utcnow() + parse_lifetime("90d"))
    assert store.tokens.authenticate(old) is None
    assert store.tokens.any_active()
    used = store.tokens.authenticate(new)
    assert used is not None
    assert store.tokens.get("new").last_used_at is not None
    assert store.tokens.get("old").last_used_at is None
    assert parse_lifetime("12h") == timedelta(hours=12)
    assert parse_lifetime("2w") == timedelta(weeks=2)
    for bad in ("0d", "90", "d", "1.5d", "-1d", "90y"):
        with pytest.raises(ParameterError):
            parse_lifetime(bad)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8741", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("[::1]:8741", "::1"),
        ("evil.example:80", "evil.example"),
        ("", ""),
    ],
)
def test_host_names_are_read_as_browsers_send_them(header: str, name: str) -> None:
    assert host_name(header) == name
