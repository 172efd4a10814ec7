"""The feeds file: every problem reported at once with feed and key, passwords never in it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from importers.errors import FeedConfigError
from importers.feeds import FeedConfig, FeedsFile, feed_for_ldif, load_feeds

GOOD = """
[defaults]
page_size = 200

[feeds.ac-versailles]
academy = "25"
url = "ldaps://ldap.ac-versailles.example"
bind_dn = "cn=annuaire,o=gouv,c=fr"
password_env = "AC_VERSAILLES_PW"
base_dn = "ou=personnels EN,ou=ac-versailles,ou=education,o=gouv,c=fr"
max_removed = 100

[feeds.ac-versailles.mapping]
birth_date = "dateNaissance"

[feeds.ac-lyon]
url = "ldap://ldap.ac-lyon.example:1389"
starttls = true
bind_dn = "cn=annuaire,o=gouv,c=fr"
password_file = "secrets/lyon.pw"
base_dn = "ou=personnels EN,ou=ac-lyon,ou=education,o=gouv,c=fr"
filter = "(&(objectClass=inetOrgPerson)(!(uid=test*)))"

[feeds.export-creteil]
academy = "024"
kind = "ldif"
path = "exports/creteil.ldif"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_good_file_loads_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    feeds = load_feeds(write(tmp_path, GOOD))
    assert [f.name for f in feeds] == ["ac-versailles", "ac-lyon", "export-creteil"]
    versailles = feeds.get("ac-versailles")
    assert versailles is not None
    assert versailles.academy_code == "25" and versailles.ldaps and versailles.page_size == 200
    assert versailles.attribute_mapping().birth_date == "dateNaissance"
    lyon = feeds.get("ac-lyon")
    assert lyon is not None
    assert lyon.academy_code == "10"  # from the feed name
    assert lyon.starttls and not lyon.ldaps
    assert lyon.password_file == tmp_path / "secrets" / "lyon.pw"
    creteil = feeds.get("export-creteil")
    assert creteil is not None
    assert creteil.kind == "ldif" and creteil.academy_code == "24"
    assert creteil.path == tmp_path / "exports" / "creteil.ldif"


def test_every_problem_is_reported_together_with_feed_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [feeds.ac-versailles]
        url = "http://wrong.example"
        base_dn = "ou=x"
        password = "hunter2"
        page_size = 0
        colour = "blue"

        [feeds.nowhere]
        kind = "ldap"

        [feeds.ac-lille]
        url = "ldaps://x.example"
        starttls = true
        base_dn = "ou=x"
        max_removed_percent = 150
        [feeds.ac-lille.mapping]
        numn = "employeeNumber"
        """,
    )
    with pytest.raises(FeedConfigError) as info:
        load_feeds(path)
    found = {(p.feed, p.key) for p in info.value.feed_problems}
    assert {
        ("ac-versailles", "url"),
        ("ac-versailles", "password"),
        ("ac-versailles", "page_size"),
        ("ac-versailles", "colour"),
        ("nowhere", "academy"),
        ("nowhere", "url"),
        ("nowhere", "base_dn"),
        ("ac-lille", "starttls"),
        ("ac-lille", "max_removed_percent"),
        ("ac-lille", "mapping.numn"),
    } <= found
    # The password written in the file is refused, and never repeated back.
    assert "hunter2" not in str(info.value)


def test_bad_toml_and_missing_file_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(FeedConfigError, match="not valid TOML"):
        load_feeds(write(tmp_path, "[feeds.ac-lyon\n"))
    with pytest.raises(FeedConfigError, match="cannot read"):
        load_feeds(tmp_path / "absent.toml")
    assert len(load_feeds(None)) == 0


def test_password_comes_from_env_or_file_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds = load_feeds(write(tmp_path, GOOD))
    versailles = feeds.get("ac-versailles")
    lyon = feeds.get("ac-lyon")
    assert versailles is not None and lyon is not None
    monkeypatch.delenv("AC_VERSAILLES_PW", raising=False)
    with pytest.raises(FeedConfigError, match="AC_VERSAILLES_PW is not set"):
        versailles.password()
    monkeypatch.setenv("AC_VERSAILLES_PW", "s3cret-versailles")
    assert versailles.password() == "s3cret-versailles"
    assert "s3cret" not in repr(versailles)
    with pytest.raises(FeedConfigError, match="cannot read"):
        lyon.password()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "lyon.pw").write_text("s3cret-lyon\n")
    assert lyon.password() == "s3cret-lyon"


def test_removal_limit_is_the_stricter_of_percent_and_count() -> None:
    default = FeedConfig(name="ac-lyon", academy_code="10", kind="ldif")
    assert default.removal_limit(10_000) == 500  # 5 %
    assert default.removal_limit(10) == 0
    counted = FeedConfig(name="ac-lyon", academy_code="10", kind="ldif", max_removed=100)
    assert counted.removal_limit(10_000) == 100
    assert counted.removal_limit(1_000) == 50
    only_count = FeedConfig(
        name="ac-lyon", academy_code="10", kind="ldif", max_removed=30, max_removed_percent=100
    )
    assert only_count.removal_limit(40) == 30


def test_ldif_files_map_to_feeds_by_stem_path_or_option(tmp_path: Path) -> None:
    feeds = load_feeds(write(tmp_path, GOOD))
    assert feed_for_ldif(Path("/data/ac-versailles.ldif"), feeds).name == "ac-versailles"
    assert feed_for_ldif(Path("/data/ac-nantes.ldif.gz"), feeds).academy_code == "17"
    assert feed_for_ldif(tmp_path / "exports" / "creteil.ldif", feeds).name == "export-creteil"
    assert feed_for_ldif(Path("/data/dump.ldif"), feeds, name="ac-lyon").name == "ac-lyon"
    with pytest.raises(FeedConfigError, match="--feed"):
        feed_for_ldif(Path("/data/dump.ldif"), FeedsFile({}))
