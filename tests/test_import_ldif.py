"""``directory import ldif`` and ``import status`` as an operator runs them: the 30 generated
feeds, every kind of bad entry in quarantine (redacted), and the monitoring JSON."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import psycopg
import pytest

from directory.config import Settings
from importers.runs import RUN_FIELDS
from tests.import_helpers import cli, dataset, read_entries, records, snapshot, write_ldif

FEED = "ac-nantes"
PEOPLE = f"ou=personnels EN,ou={FEED},ou=education,o=gouv,c=fr"
NUMEN = "17E9912345XYZ"
BIRTH = "19830517"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.getbasetemp())


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def bad_entries(existing_uid: str) -> bytes:
    """One entry of each kind a strict importer must quarantine, as raw LDIF."""
    not_utf8, control = b64(b"\xffDURAND"), b64(b"DUR\x07AND")
    return f"""dn: uid=sanssn,{PEOPLE}
objectClass: inetOrgPerson
uid: sanssn
givenName: Paul
employeeNumber: {NUMEN}
datenaissance: {BIRTH}

dn: uid=pasutf8,{PEOPLE}
objectClass: inetOrgPerson
uid: pasutf8
sn:: {not_utf8}
givenName: Luc
employeeNumber: {NUMEN}

dn: uid=controle,{PEOPLE}
objectClass: inetOrgPerson
uid: controle
sn:: {control}
givenName: Eve

dn: uid={existing_uid},ou=autre,{PEOPLE}
objectClass: inetOrgPerson
uid: {existing_uid}
sn: AUTRE
givenName: Zoe

dn: uid=casse,{PEOPLE}
objectClass: inetOrgPerson
uid: casse
sn:: !!!pas du base64!!!
datenaissance: {BIRTH}

""".encode()


def test_every_generated_feed_imports_and_status_reports_each(settings: Settings, data: Path) -> None:
    url = settings.database_url
    assert url is not None
    files = sorted(str(p) for p in data.glob("ac-*.ldif"))
    assert len(files) == 30
    first = cli(settings, "import", "ldif", "--jobs", "2", *files)  # two feeds at a time
    assert first.returncode == 0, first.stdout + first.stderr
    status = cli(settings, "import", "status", "--json")
    assert status.returncode == 0, status.stderr
    runs = json.loads(status.stdout)
    assert len(runs) == 30
    assert all(list(run) == list(RUN_FIELDS) for run in runs)  # exactly these names, in this order
    assert {run["status"] for run in runs} == {"ok"} and {run["mode"] for run in runs} == {"full"}
    assert sum(run["added"] for run in runs) == len(records(url)) > 2500
    assert all(run["end"] >= run["start"] and run["error"] is None for run in runs)

    before = snapshot(url)
    again = cli(settings, "import", "ldif", *files)
    assert again.returncode == 0
    assert again.stdout.count("input unchanged") == 30  # identical exports are not even read
    assert snapshot(url) == before
    text = cli(settings, "import", "status")
    assert text.returncode == 0 and "ac-versailles" in text.stdout


def test_each_kind_of_bad_entry_is_quarantined_redacted_and_the_rest_goes_in(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    good = read_entries(data / f"{FEED}.ldif")
    existing_uid = next(e["uid"][0] for dn, e in good if dn.startswith("uid=") and "givenName" in e)
    path = write_ldif(tmp_path / f"{FEED}.ldif", good, raw_tail=bad_entries(existing_uid))
    result = cli(settings, "import", "ldif", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT reason, dn, detail, raw FROM quarantine ORDER BY reason").fetchall()
        dump = conn.execute("SELECT string_agg(q::text, ' ') FROM quarantine q").fetchone()
        all_records = conn.execute("SELECT string_agg(r::text, ' ') FROM source_records r").fetchone()
    reasons = {r[0]: r for r in rows}
    assert set(reasons) == {
        "missing_surname",
        "invalid_utf8",
        "control_characters",
        "duplicate_uid",
        "unparsable",
    }
    assert reasons["missing_surname"][1] == f"uid=sanssn,{PEOPLE}"
    assert reasons["missing_surname"][3]["employeeNumber"] == ["<redacted>"]
    assert reasons["missing_surname"][3]["datenaissance"] == ["<redacted>"]
    assert existing_uid in reasons["duplicate_uid"][2]
    assert "casse" in json.dumps(reasons["unparsable"][3])
    # Confidential values appear nowhere in clear, neither in quarantine nor in the records.
    assert dump is not None and all_records is not None
    for secret in (NUMEN, BIRTH, "1983-05-17", "17/05/1983"):
        assert secret not in dump[0] and secret not in all_records[0]
    people = records(url, FEED)
    assert f"{FEED}/{existing_uid}" in people and f"{FEED}/sanssn" not in people
    assert len(people) == len([dn for dn, _ in good if dn.startswith("uid=")])

    status = cli(settings, "import", "status")
    assert "quarantine" in status.stdout and "missing_surname 1" in status.stdout

    # The same file again: the quarantine is not rewritten.
    before = snapshot(url)
    assert cli(settings, "import", "ldif", str(path), "--recheck").returncode == 0
    assert snapshot(url)["quarantine"] == before["quarantine"]

    # The entry is fixed at the source: it leaves the quarantine and becomes a record.
    fixed = bad_entries(existing_uid).replace(b"uid: sanssn\n", b"uid: sanssn\nsn: SANS\n")
    write_ldif(path, good, raw_tail=fixed)
    assert cli(settings, "import", "ldif", str(path)).returncode == 0
    with psycopg.connect(url) as conn:
        left = {r[0] for r in conn.execute("SELECT reason FROM quarantine").fetchall()}
    assert "missing_surname" not in left and len(left) == 4
    assert f"{FEED}/sanssn" in records(url, FEED)


def test_a_file_named_otherwise_needs_a_feed(settings: Settings, data: Path, tmp_path: Path) -> None:
    path = Path(shutil.copy(data / f"{FEED}.ldif", tmp_path / "export-2026-11-28.ldif"))
    refused = cli(settings, "import", "ldif", str(path))
    assert refused.returncode == 1 and "--feed" in refused.stderr
    named = cli(settings, "import", "ldif", str(path), "--feed", FEED)
    assert named.returncode == 0, named.stderr
    assert settings.database_url is not None and len(records(settings.database_url, FEED)) > 100
