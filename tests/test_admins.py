"""Administrator accounts: argon2id hashes, national or one academy, the ``directory admins`` commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from directory.admins import authenticate, create_admin, disable_admin, list_admins, resolve_academy
from directory.db import Database
from directory.errors import InvalidInputError, NotFoundError

PASSWORD = "correct horse battery staple"


def test_password_is_stored_as_argon2id_and_checked(db: Database) -> None:
    admin = create_admin(db, username="Alice", password=PASSWORD)
    stored = db.fetch_value("SELECT password_hash FROM admins WHERE id = %s", (admin.id,))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert admin.username == "alice" and admin.national
    assert authenticate(db, username="alice", password=PASSWORD) == admin
    assert authenticate(db, username="ALICE ", password=PASSWORD) is not None
    assert authenticate(db, username="alice", password=PASSWORD + "x") is None
    assert authenticate(db, username="nobody", password=PASSWORD) is None
    assert db.fetch_value("SELECT last_login_at FROM admins WHERE id = %s", (admin.id,)) is not None


def test_academy_administrator_sees_only_their_academy(db: Database) -> None:
    admin = create_admin(db, username="vers", password=PASSWORD, academy_code=resolve_academy("versailles"))
    assert admin.academy_code == "25" and not admin.national
    assert admin.scope_label == "Versailles"
    assert admin.may_see({"25", "10"}) and not admin.may_see({"10"})


def test_bad_input_is_refused_with_a_message(db: Database) -> None:
    with pytest.raises(InvalidInputError, match="at least 12"):
        create_admin(db, username="bob", password="short")
    with pytest.raises(InvalidInputError, match="username"):
        create_admin(db, username="bad name!", password=PASSWORD)
    create_admin(db, username="bob", password=PASSWORD)
    with pytest.raises(InvalidInputError, match="already exists"):
        create_admin(db, username="bob", password=PASSWORD)
    with pytest.raises(InvalidInputError, match="unknown academy"):
        resolve_academy("atlantis")


def test_disabled_administrator_cannot_sign_in(db: Database) -> None:
    create_admin(db, username="carol", password=PASSWORD)
    disable_admin(db, username="carol")
    assert authenticate(db, username="carol", password=PASSWORD) is None
    with pytest.raises(NotFoundError):
        disable_admin(db, username="nobody")


def _cli(args: list[str], db_url: str, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIRECTORY_DATABASE_URL": db_url, "DIRECTORY_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", "from directory.cli import main; main()", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_creates_lists_and_disables_reading_the_password_from_stdin(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    created = _cli(
        ["admins", "create", "--username", "dora", "--academy", "lyon"], db_url, tmp_path, PASSWORD + "\n"
    )
    assert created.returncode == 0, created.stderr
    assert "dora" in created.stdout and "Lyon" in created.stdout
    assert PASSWORD not in created.stdout + created.stderr
    assert authenticate(db, username="dora", password=PASSWORD) is not None  # newline not part of it

    national = _cli(["admins", "create", "--username", "eve"], db_url, tmp_path, PASSWORD)
    assert national.returncode == 0, national.stderr
    assert [(a.username, a.academy_code) for a in list_admins(db)] == [("dora", "10"), ("eve", None)]

    listed = _cli(["admins", "list"], db_url, tmp_path)
    assert "dora\tLyon\tactive" in listed.stdout and "eve\tnational\tactive" in listed.stdout

    assert _cli(["admins", "disable", "dora"], db_url, tmp_path).returncode == 0
    assert authenticate(db, username="dora", password=PASSWORD) is None

    refused = _cli(["admins", "create", "--username", "frank"], db_url, tmp_path, "short\n")
    assert refused.returncode == 1 and "at least 12" in refused.stderr
    unknown = _cli(
        ["admins", "create", "--username", "gus", "--academy", "atlantis"], db_url, tmp_path, PASSWORD
    )
    assert unknown.returncode == 1 and "unknown academy" in unknown.stderr
