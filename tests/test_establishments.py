"""``directory import establishments``: the registry upserted from the generator's CSV, written only
where it changed, bad rows refused, and the UAIs that feeds carry but the registry lacks reported."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import psycopg
import pytest

from directory.config import Settings
from tests.import_helpers import cli, dataset, snapshot


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.getbasetemp())


def rows_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def test_registry_is_loaded_then_rewritten_only_where_it_changed(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    source = data / "establishments.csv"
    rows = rows_of(source)
    first = cli(settings, "import", "establishments", str(source))
    assert first.returncode == 0, first.stderr
    assert f"added {len(rows) - 1}," in first.stdout
    with psycopg.connect(url) as conn:
        uai, name, kind, town, academy = rows[1]
        assert conn.execute(
            "SELECT name, type, town, academy_code FROM establishments WHERE uai = %s", (uai,)
        ).fetchone() == (name, kind, town, academy)

    before = snapshot(url)
    again = cli(settings, "import", "establishments", str(source))
    assert again.returncode == 0 and f"unchanged {len(rows) - 1}," in again.stdout
    assert snapshot(url) == before

    rows[1][1] = "Collège Jean Moulin (renommé)"
    rows[2][0] = rows[2][0].lower()  # a lower-case check letter is the same UAI
    changed = write_rows(tmp_path / "registry.csv", rows)
    third = cli(settings, "import", "establishments", str(changed))
    assert third.returncode == 0 and "updated 1," in third.stdout and "added 0," in third.stdout


def test_bad_rows_are_refused_with_their_line_and_the_others_load(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    rows = rows_of(data / "establishments.csv")[:11]
    rows[3][0] = "12345"
    rows[5][4] = "99"
    rows[7][1] = ""
    path = write_rows(tmp_path / "registry.csv", rows)
    result = cli(settings, "import", "establishments", str(path))
    assert result.returncode == 1
    assert "rejected 3" in result.stdout
    assert "line 4: invalid UAI" in result.stdout and "line 6" in result.stdout and "line 8" in result.stdout
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM establishments").fetchone() == (7,)
    not_a_registry = write_rows(tmp_path / "other.csv", [["a", "b"], ["1", "2"]])
    refused = cli(settings, "import", "establishments", str(not_a_registry))
    assert refused.returncode == 1 and "missing columns" in refused.stderr


def test_uais_absent_from_the_registry_are_kept_and_reported(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    feed = "ac-lille"
    rows = rows_of(data / "establishments.csv")
    lille = [r for r in rows[1:] if r[4] == "09"]
    assert len(lille) > 5
    dropped = {r[0] for r in lille[:3]}
    partial = write_rows(tmp_path / "registry.csv", [rows[0], *(r for r in rows[1:] if r[0] not in dropped)])
    assert cli(settings, "import", "establishments", str(partial)).returncode == 0
    path = Path(shutil.copy(data / f"{feed}.ldif", tmp_path / f"{feed}.ldif"))
    assert cli(settings, "import", "ldif", str(path)).returncode == 0
    with psycopg.connect(url) as conn:
        used = {
            uai
            for (uai,) in conn.execute(
                "SELECT DISTINCT e->>'uai' FROM source_records, jsonb_array_elements(establishments) e"
            ).fetchall()
        }
    missing = sorted(dropped & used)
    assert missing  # the records keep the UAIs the registry lacks
    status = cli(settings, "import", "status")
    assert status.returncode == 0
    assert "absent from the registry" in status.stdout
    assert f"{feed}: " in status.stdout and missing[0] in status.stdout
