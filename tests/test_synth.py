"""The synthetic national dataset: its shape, its rates, its determinism, and loading it into slapd."""

from __future__ import annotations

import csv
import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldif
import pytest
from typer.testing import CliRunner

from directory.academies import ACADEMIES, by_slug
from directory.cli import app
from importers.synth import Rates, SynthSummary, generate
from importers.synth_load import load_ldap, parent_entries
from importers.synth_names import unaccent
from importers.synth_places import is_valid_uai, uai_check_letter
from tests.slapd import Slapd

PEOPLE = 10_000
SEED = 7
NUMEN = re.compile(r"^\d{2}[GEPA]\d{7}[A-Z]{3}$")


@dataclass
class Entry:
    """One parsed entry with uid, with its feed and the truth's person for it."""

    feed: str
    dn: str
    attrs: dict[str, list[Any]]
    person: str = ""

    def one(self, name: str) -> Any:
        values = self.attrs.get(name)
        return values[0] if values else None

    @property
    def uid(self) -> str:
        return str(self.one("uid"))

    @property
    def functional(self) -> bool:
        return self.person == "-"

    @property
    def left(self) -> bool:
        return self.one("finfonction") == "FF"


@dataclass
class Dataset:
    summary: SynthSummary
    containers: dict[str, list[str]] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    truth: list[tuple[str, str, str]] = field(default_factory=list)
    establishments: list[dict[str, str]] = field(default_factory=list)

    def people(self) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = defaultdict(list)
        for e in self.entries:
            if not e.functional:
                out[e.person].append(e)
        return out

    def person_entries(self) -> list[Entry]:
        return [e for e in self.entries if not e.functional]


def _parse(path: Path) -> Iterator[tuple[str, dict[str, list[Any]]]]:
    with path.open("rb") as stream:
        for dn, attrs in ldif.LDIFParser(stream, strict=True).parse():
            yield dn, dict(attrs)


def _read(out: Path, summary: SynthSummary) -> Dataset:
    data = Dataset(summary)
    with (out / "truth.csv").open(encoding="utf-8", newline="") as stream:
        data.truth = [(r["feed"], r["uid"], r["person"]) for r in csv.DictReader(stream)]
    persons: dict[tuple[str, str], set[str]] = defaultdict(set)
    for feed, uid, person in data.truth:
        persons[feed, uid].add(person)
    for path in summary.files:
        feed = path.stem
        data.containers[feed] = []
        for dn, attrs in _parse(path):
            if "uid" not in attrs:
                data.containers[feed].append(dn)
                continue
            entry = Entry(feed, dn, attrs)
            (entry.person,) = persons[feed, entry.uid]  # one person per (feed, uid)
            data.entries.append(entry)
    with (out / "establishments.csv").open(encoding="utf-8", newline="") as stream:
        data.establishments = list(csv.DictReader(stream))
    return data


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("synth")
    return _read(out, generate(out, people=PEOPLE, seed=SEED))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


# --- files and truth ---------------------------------------------------------------------------------


def test_writes_thirty_feeds_truth_and_establishments(dataset: Dataset) -> None:
    out = dataset.summary.out_dir
    expected = {f"ac-{a.slug}.ldif" for a in ACADEMIES} | {"truth.csv", "establishments.csv"}
    assert {p.name for p in out.iterdir()} == expected
    for academy in ACADEMIES:
        base = f"ou=ac-{academy.slug},ou=education,o=gouv,c=fr"
        # Each file starts with the containers of its own subtree, and nothing else is a container.
        assert dataset.containers[academy.feed_name] == [
            base,
            f"ou=personnels EN,{base}",
            f"ou=fonctionnelles,{base}",
        ]
    for entry in dataset.entries:
        assert entry.dn.endswith(f",ou={entry.feed},ou=education,o=gouv,c=fr")
        assert entry.one("codaca").lstrip("0") == by_slug(entry.feed).code.lstrip("0")  # type: ignore[union-attr]


def test_feed_sizes_follow_academy_staff(dataset: Dataset) -> None:
    sizes = Counter(e.feed for e in dataset.entries)
    total_staff = sum(a.staff for a in ACADEMIES)
    total = sum(sizes.values())
    for academy in ACADEMIES:
        expected = total * academy.staff / total_staff
        assert 0.6 * expected < sizes[academy.feed_name] < 1.5 * expected + 30, academy.slug
    assert sizes["ac-versailles"] > 8 * sizes["ac-corse"]


def test_truth_has_every_entry_once_and_functional_accounts_as_dash(dataset: Dataset) -> None:
    in_files = Counter((e.feed, e.uid) for e in dataset.entries)
    in_truth = Counter((feed, uid) for feed, uid, _ in dataset.truth)
    assert in_files == in_truth
    assert len(dataset.truth) == len(dataset.entries) == dataset.summary.total_entries
    functional = [e for e in dataset.entries if e.functional]
    assert all(
        ",ou=fonctionnelles," in e.dn
        for e in functional
        if not e.uid.startswith(("ADM", "test", "stag", "rem"))
    )
    assert {e.dn.split(",")[1] for e in functional} == {"ou=fonctionnelles", "ou=personnels EN"}
    assert all(re.fullmatch(r"P\d{7}", e.person) for e in dataset.entries if not e.functional)
    assert len(dataset.people()) == PEOPLE


def test_entries_carry_the_reference_attributes(dataset: Dataset) -> None:
    people = dataset.person_entries()
    for entry in people:
        assert entry.attrs["objectClass"] == [
            "top",
            "person",
            "organizationalPerson",
            "inetOrgPerson",
            "acaPerson",
        ]
        assert entry.one("codecivilite") in ("M.", "MME")
        assert entry.one("title") in ("ENS", "DIR", "ADM", "DOC", "EDU", "ORI", "INS")
    titles = Counter(e.one("title") for e in people)
    assert 0.65 < titles["ENS"] / len(people) < 0.85
    primary = sum(1 for e in people if "$1ORD$" in str(e.one("FrEduRne")))
    assert 0.33 < primary / len(people) < 0.47
    teachers = [e for e in people if e.one("title") == "ENS" and "$1ORD$" not in str(e.one("FrEduRne"))]
    assert sum(1 for e in teachers if e.one("discipline")) > 0.9 * len(teachers)
    assert not any(e.one("discipline") for e in people if e.one("title") != "ENS")
    assert all(e.one("FrEduFonctAdm") for e in people if e.one("title") in ("ADM", "DIR"))
    heads = [e for e in people if e.one("title") == "DIR"]
    assert all(e.one("FrEduRneResp") != "X" for e in heads)
    assert all(e.one("FrEduRneResp") == "X" for e in people if e.one("title") in ("ENS", "ADM"))
    cn_forms = Counter(_text(e.one("cn")).split(" ")[0].isupper() for e in people if e.one("cn"))
    assert cn_forms[True] > cn_forms[False] > 0  # mostly MARTIN Nathalie, sometimes Nathalie Martin
    nompatro = sum(1 for e in people if "nompatro" in e.attrs)
    assert 0.15 < nompatro / len(people) < 0.65
    assert any(len(e.attrs.get("FrEduRne", [])) == 2 for e in people)
    assert any("mailEquivalentAddress" in e.attrs for e in people)


# --- names ---------------------------------------------------------------------------------------------


def test_names_have_a_real_head_and_a_long_tail(dataset: Dataset) -> None:
    people = dataset.people()
    births = Counter(
        unaccent(_text(es[0].one("nompatro") or es[0].one("sn") or "")).upper() for es in people.values()
    )
    top = [name for name, _ in births.most_common(3)]
    assert top[0] == "MARTIN"
    assert 0.002 < births["MARTIN"] / len(people) < 0.008
    singletons = sum(1 for n in births.values() if n == 1)
    assert singletons > 0.5 * len(births)  # at this size, most surnames are borne by one person
    surnames = {_text(e.one("sn")) for e in dataset.person_entries() if e.one("sn")}
    for prefix in ("LE ", "DE ", "DU ", "D'", "SAINT-", "VAN ", "DI ", "DA ", "DOS ", "LA "):
        assert any(s.startswith(prefix) for s in surnames), prefix
    assert any("-" in s and not s.startswith(("SAINT", "ST")) for s in surnames)  # DURAND-DUPONT
    givens = {_text(e.one("givenName")) for e in dataset.person_entries() if e.one("givenName")}
    assert {"Jean-Pierre", "Nathalie", "Isabelle", "Julien"} <= givens
    assert any(" " in g for g in givens)  # Jean Pierre
    assert any(g != unaccent(g) for g in givens) and "Helene" in givens  # accents come and go


def test_civility_matches_the_first_name(dataset: Dataset) -> None:
    civility: dict[str, set[str]] = defaultdict(set)
    for person, entries in dataset.people().items():
        civility[person] = {e.one("codecivilite") for e in entries}
        assert len(civility[person]) == 1
    by_name = Counter(
        (unaccent(_text(e.one("givenName"))).lower(), e.one("codecivilite"))
        for e in dataset.person_entries()
        if e.one("givenName")
    )
    assert by_name["nathalie", "MME"] > 10 and by_name["nathalie", "M."] == 0
    assert by_name["philippe", "M."] > 5 and by_name["philippe", "MME"] == 0


def test_homonyms_include_same_academy_and_same_birth_year(dataset: Dataset) -> None:
    groups: dict[tuple[str, str], list[tuple[str, Entry]]] = defaultdict(list)
    for person, entries in dataset.people().items():
        first = entries[0]
        if first.one("sn") and first.one("givenName"):
            key = (unaccent(_text(first.one("givenName"))).lower(), unaccent(_text(first.one("sn"))).upper())
            groups[key].append((person, first))
    shared = [g for g in groups.values() if len(g) > 1]
    in_groups = sum(len(g) for g in shared)
    assert 0.01 < in_groups / PEOPLE < 0.10
    same_feed = [
        [e for _, e in g if e.feed == feed]
        for g in shared
        for feed, n in Counter(e.feed for _, e in g).items()
        if n > 1
    ]
    assert same_feed
    for entries in same_feed:  # told apart by a number in uid and mail
        assert (
            len({e.uid for e in entries})
            == len({str(e.one("mail")).lower() for e in entries})
            == len(entries)
        )
        assert any(re.search(r"\d$", e.uid) and re.search(r"\d@", str(e.one("mail"))) for e in entries)
    years = [{str(e.one("datenaissance"))[-4:] for _, e in g if e.one("datenaissance")} for g in shared]
    assert any(len(y) == 1 for y in years)


# --- duplicate people ------------------------------------------------------------------------------


def _birth(entry: Entry) -> str | None:
    value = entry.one("datenaissance")
    if not value:
        return None
    if "/" in value:
        d, m, y = value.split("/")
        return f"{y}{m}{d}"
    return str(value).replace("-", "")


def _numen(entry: Entry) -> str | None:
    value = entry.one("employeeNumber")
    return value if value and NUMEN.match(value) else None


def test_about_five_percent_of_people_have_several_records(dataset: Dataset) -> None:
    people = dataset.people()
    several = [es for es in people.values() if len(es) > 1]
    assert 0.04 < len(several) / len(people) < 0.07
    assert dataset.summary.counts["people_with_several_records"] == len(several)
    for entries in several:  # the same person keeps NUMEN and birth date across records
        assert len({n for e in entries if (n := _numen(e))}) <= 1
        assert len({b for e in entries if (b := _birth(e))}) <= 1
    numens = Counter(n for es in people.values() for n in {_numen(e) for e in es} if n)
    assert max(numens.values()) == 1  # and no two people share one


def test_every_duplicate_scenario_is_present(dataset: Dataset) -> None:
    pairs = ("paris creteil", "paris versailles", "creteil versailles", "lyon grenoble")
    neighbours = {frozenset(f"ac-{slug}" for slug in pair.split()) for pair in pairs}
    found: Counter[str] = Counter()
    for entries in dataset.people().values():
        if len(entries) < 2:
            continue
        feeds = {e.feed for e in entries}
        old = [e for e in entries if e.left]
        active = [e for e in entries if not e.left]
        if old and active and old[0].feed != active[0].feed:
            found["transfer"] += 1
            assert old[0].one("dateff") and old[0].uid != active[0].uid
            domains = {str(e.one("mail")).lower().split("@")[1] for e in (old[0], active[0])}
            assert len(domains) == 2
        if len({_text(e.one("sn")) for e in entries if e.one("sn")}) > 1 and len(feeds) > 1:
            found["usage_name_change"] += 1
        if len(active) >= 2 and len(feeds) >= 2 and frozenset(feeds) in neighbours:
            found["neighbour"] += 1
        by_feed = Counter(e.feed for e in entries)
        if max(by_feed.values()) > 1:
            same = [e for e in entries if by_feed[e.feed] > 1]
            if len({e.uid for e in same}) > 1:
                found["same_academy"] += 1
                assert any(re.search(r"\d$", e.uid) for e in same)
            else:
                found["duplicate_uid"] += 1
    assert found["transfer"] > 50
    assert found["usage_name_change"] > 20
    assert found["neighbour"] > 10
    assert found["same_academy"] > 30
    assert found["duplicate_uid"] >= 1


def test_spelling_varies_between_the_records_of_one_person(dataset: Dataset) -> None:
    kinds: Counter[str] = Counter()
    for entries in dataset.people().values():
        sns = {_text(e.one("sn")) for e in entries if e.one("sn")}
        givens = {_text(e.one("givenName")) for e in entries if e.one("givenName")}
        if len(givens) > 1:
            kinds["first_name"] += 1
        if any(s.startswith(("ST ", "ST-", "STE ")) for s in sns) and any(s.startswith("SAINT") for s in sns):
            kinds["saint"] += 1
        if len({s.replace(" ", "").replace("-", "").replace("'", "") for s in sns}) < len(sns):
            kinds["punctuation"] += 1
    assert kinds["first_name"] > 10 and kinds["punctuation"] >= 1
    counts = dataset.summary.counts
    assert counts["variant_typo"] >= 1 and counts["variant_accents"] > 5


# --- dirt --------------------------------------------------------------------------------------------


def test_numen_and_birth_dates_are_missing_or_mixed_at_realistic_rates(dataset: Dataset) -> None:
    people = dataset.person_entries()
    values = [e.one("employeeNumber") for e in people]
    missing = sum(1 for v in values if v is None)
    redacted = sum(1 for v in values if v and not NUMEN.match(v))
    assert 0.20 < (missing + redacted) / len(people) < 0.40
    assert redacted > 0.03 * len(people)
    assert {v for v in values if v and not NUMEN.match(v)} <= {"XXXXXXXXXXXXX", "*****", "*************"}
    dates = [e.one("datenaissance") for e in people]
    assert 0.06 < sum(1 for d in dates if d is None) / len(people) < 0.14
    shapes = Counter(re.sub(r"\d", "9", d) for d in dates if d)
    assert set(shapes) == {"99999999", "99/99/9999", "9999-99-99"}


def test_uais_are_valid_except_the_deliberately_wrong_ones(dataset: Dataset) -> None:
    registry = {row["uai"]: row for row in dataset.establishments}
    assert len(registry) == len(dataset.establishments)
    assert all(is_valid_uai(u) for u in registry)
    for uai, row in registry.items():
        assert by_slug(next(a.slug for a in ACADEMIES if a.code == row["academy"]))
        assert uai[:3] in next(a for a in ACADEMIES if a.code == row["academy"]).uai_prefixes
        assert (
            row["name"] and row["town"] and row["type"] in ("1ORD", "CLG", "LYC", "LP", "EREA", "SA", "CIO")
        )
    rnes = [str(e.one("rne")) for e in dataset.person_entries()]
    invalid = [r for r in rnes if not is_valid_uai(r)]
    lower = [r for r in rnes if r[7].islower()]
    assert 0.001 < len(invalid) / len(rnes) < 0.006
    assert 0.003 < len(lower) / len(rnes) < 0.04
    for rne in rnes:
        if is_valid_uai(rne):
            assert rne.upper() in registry  # every valid UAI used is in the registry
        else:  # a real establishment with a wrong letter
            assert rne[:7] + uai_check_letter(rne[:7]) in registry
    assert len(lower) > 0 and all(is_valid_uai(r) for r in lower)
    frrne = [_text(v) for e in dataset.person_entries() for v in e.attrs.get("FrEduRne", [])]
    assert all(v.split("$")[0].upper() in registry for v in frrne)
    assert any(re.search(r"\$\d{4}$", v) for v in frrne)  # 4-digit nature
    assert any(re.fullmatch(r"\d{7}[A-Z]", v) for v in frrne)  # bare UAI
    out_of_step = [e for e in dataset.person_entries() if str(e.one("rne")).upper()[:7] not in
                   {_text(v)[:7] for v in e.attrs.get("FrEduRne", [])}]  # fmt: skip
    assert 0.01 < len(out_of_step) / len(rnes) < 0.04


def test_mail_dirt_legacy_domains_upper_case_and_aliases(dataset: Dataset) -> None:
    mails = [(e.feed, str(e.one("mail"))) for e in dataset.person_entries()]
    normandie = [m.lower().split("@")[1] for feed, m in mails if feed == "ac-normandie"]
    assert {"ac-normandie.fr", "ac-caen.fr", "ac-rouen.fr"} <= set(normandie)
    assert any(m != m.lower() for _, m in mails)
    assert all(re.fullmatch(r"[a-z-]+\.[a-z-]+\d*@ac-[a-z-]+\.fr", m.lower()) for _, m in mails)
    assert any("  " in _text(e.one("cn")) for e in dataset.person_entries() if e.one("cn"))


def test_functional_and_test_accounts(dataset: Dataset) -> None:
    functional = [e for e in dataset.entries if e.functional]
    branch = [e for e in functional if ",ou=fonctionnelles," in e.dn]
    mixed = [e for e in functional if ",ou=personnels EN," in e.dn]
    assert {e.feed for e in branch} == {a.feed_name for a in ACADEMIES}
    assert any(e.uid == "ADM00000" for e in branch) and any(e.uid.startswith("ce.") for e in branch)
    assert mixed and all("employeeNumber" not in e.attrs for e in functional)


def test_a_small_share_of_entries_is_for_quarantine(dataset: Dataset) -> None:
    people = dataset.person_entries()
    no_sn = [e for e in people if "sn" not in e.attrs]
    control = [e for e in people for a in ("sn", "givenName", "cn")
               if isinstance(v := e.one(a), str) and re.search(r"[\x00-\x1f\x7f]", v)]  # fmt: skip
    bad_utf8 = [e for e in people for a in ("sn", "givenName") if isinstance(e.one(a), bytes)]
    uids = Counter((e.feed, e.uid) for e in dataset.entries)
    duplicate_uid = [k for k, n in uids.items() if n > 1]
    for found in (no_sn, control, bad_utf8, duplicate_uid):
        assert found
    share = (len(no_sn) + len(control) + len(bad_utf8) + len(duplicate_uid)) / len(dataset.entries)
    assert 0.001 < share < 0.004
    for feed, uid in duplicate_uid:  # the second entry cannot share the DN: named by cn
        dns = [e.dn for e in dataset.entries if (e.feed, e.uid) == (feed, uid)]
        assert len(set(dns)) == 2 and any(dn.startswith("cn=") for dn in dns)


# --- determinism -----------------------------------------------------------------------------------


def _bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        generate(tmp_path / name, people=3_000, seed=seed)
    first = _bytes(tmp_path / "a")
    assert _bytes(tmp_path / "b") == first
    other = _bytes(tmp_path / "c")
    assert other.keys() == first.keys()
    assert all(other[name] != data for name, data in first.items())


# --- loading into slapd ----------------------------------------------------------------------------

# Few people (loading over LDAP is slow) but many bad entries, so that each kind is there.
_LOAD_RATES = Rates(quarantine_no_sn=0.01, quarantine_bad_utf8=0.01, quarantine_control_char=0.01)


def test_cli_writes_and_loads_into_slapd(slapd: Slapd, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(slapd.password + "\n", encoding="utf-8")
    out = tmp_path / "data"
    args = ["synth", "--people", "400", "--seed", "3", "--out", str(out), "--ldap-load", slapd.url]
    args += ["--bind-dn", slapd.bind_dn, "--password-file", str(secret)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    total = len((out / "truth.csv").read_text(encoding="utf-8").splitlines()) - 1
    output = " ".join(result.output.split())
    loaded = re.search(r"loaded ([\d,]+) entries .* refused by the server: ([\d,]+)", output)
    assert loaded, output
    added, refused = (int(g.replace(",", "")) for g in loaded.groups())
    assert refused < 5  # the few bad entries of 400 people
    assert slapd.count() == total - refused
    assert added == total - refused + 2 + 3 * len(ACADEMIES)  # with the parents and containers
    assert slapd.count("(objectClass=organizationalUnit)") == 1 + 3 * len(ACADEMIES)


def test_cli_refuses_ldap_load_without_password_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["synth", "--people", "10", "--out", str(tmp_path), "--ldap-load", "ldap://127.0.0.1:1"]
    )
    assert result.exit_code == 1
    assert "--password-file" in result.output
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_checks_the_ldap_server_before_generating(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("secret\n", encoding="utf-8")
    out = tmp_path / "data"
    args = ["synth", "--people", "10", "--out", str(out), "--ldap-load", "ldap://127.0.0.1:1"]
    result = CliRunner().invoke(app, [*args, "--password-file", str(secret)])
    assert result.exit_code == 1
    assert "ldap://127.0.0.1:1" in result.output
    assert not out.exists()


def test_load_ldap_reports_each_refusal_and_slapadd_is_laxer(slapd: Slapd, tmp_path: Path) -> None:
    summary = generate(tmp_path, people=400, seed=3, rates=_LOAD_RATES)
    counts = summary.counts
    assert counts["quarantine_no_sn"] and counts["quarantine_bad_utf8"] and counts["quarantine_control_char"]
    report = load_ldap(summary.files, url=slapd.url, bind_dn=slapd.bind_dn, password=slapd.password)
    # The server refuses what it cannot store: no sn (the person class), names that are not UTF-8;
    # control characters are valid UTF-8 and go in.
    assert len(report.rejected) == counts["quarantine_no_sn"] + counts["quarantine_bad_utf8"]
    reasons = Counter(reason.split(":")[0] for _, reason in report.rejected)
    assert reasons == {"objectClassViolation": counts["quarantine_no_sn"],
                       "invalidAttributeSyntax": counts["quarantine_bad_utf8"]}  # fmt: skip
    containers = 2 + 3 * len(ACADEMIES)
    assert report.added == summary.total_entries + containers - len(report.rejected)
    assert slapd.count() == summary.total_entries - len(report.rejected)
    assert report.rate > 0
    again = load_ldap(summary.files[:1], url=slapd.url, bind_dn=slapd.bind_dn, password=slapd.password)
    assert again.added == 0 and all("entryAlreadyExists" in r for _, r in again.rejected)
    with Slapd() as fresh:  # slapadd without schema check keeps the entries without sn
        loaded = fresh.load_ldif(summary.files)
        assert loaded.refused == counts["quarantine_bad_utf8"]
        assert fresh.count() == summary.total_entries - counts["quarantine_bad_utf8"]


def test_ldapadd_accepts_the_files_as_written(slapd: Slapd, tmp_path: Path) -> None:
    """OpenLDAP's own LDIF parser (ldapadd) reads the files: folding, base64, raw bytes."""
    summary = generate(tmp_path / "data", people=400, seed=3, rates=_LOAD_RATES)
    parents = tmp_path / "parents.ldif"
    lines = [f"{k}: {v}" for dn, e in parent_entries() for k, vs in [("dn", [dn]), *e.items()] for v in vs]
    parents.write_text("\n".join(lines).replace("\ndn:", "\n\ndn:") + "\n", encoding="utf-8")
    password = tmp_path / "password"
    password.write_text(slapd.password, encoding="utf-8")
    command = ["ldapadd", "-x", "-c", "-H", slapd.url, "-D", slapd.bind_dn, "-y", str(password)]
    for path in [parents, *summary.files]:
        done = subprocess.run([*command, "-f", str(path)], capture_output=True, text=True, check=False)
        assert "ldif_read" not in done.stderr and "invalid format" not in done.stderr, done.stderr
    counts = summary.counts
    assert slapd.count() == summary.total_entries - counts["quarantine_no_sn"] - counts["quarantine_bad_utf8"]
