"""Entries of the synthetic dataset: how one record of a person is written in its academy's feed.

:class:`EntryBuilder` turns a :class:`Person` and one of their :class:`Record` s into the attributes
of an LDIF entry, following the feed's habits (:class:`~importers.synth_feed.FeedProfile`) and the
dirt rates (:class:`~importers.synth_feed.Rates`): name case and accents, spelling variants between
records, NUMEN and birth date missing or redacted, UAIs in lower case or with a wrong letter,
``FrEduRne`` out of step, legacy mail domains, and the few entries meant for quarantine. It also
numbers homonyms' uids and mails per feed, which is the only state that grows with the data.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from directory.academies import Academy
from importers.synth_feed import REDACTED_NUMEN, FeedProfile, Rates, format_date
from importers.synth_names import (
    compound_first_name_variant,
    mail_part,
    surname_variant,
    typo,
    uid_part,
    unaccent,
)
from importers.synth_places import AcademyPlaces, Establishment, uai_check_letter
from importers.synth_roles import Post

__all__ = [
    "BASE_DN",
    "EDUCATION_DN",
    "FUNCTIONAL_OU",
    "OBJECT_CLASSES",
    "PEOPLE_OU",
    "EntryBuilder",
    "Feed",
    "Person",
    "Record",
    "academy_dn",
]

BASE_DN = "o=gouv,c=fr"
EDUCATION_DN = f"ou=education,{BASE_DN}"
PEOPLE_OU = "personnels EN"
FUNCTIONAL_OU = "fonctionnelles"
OBJECT_CLASSES = ("top", "person", "organizationalPerson", "inetOrgPerson", "acaPerson")
_CONTROL_CHARS = ("\x07", "\t", "\x1b", "\x0b", "\x7f")


def academy_dn(academy: Academy) -> str:
    """``ou=ac-<slug>,ou=education,o=gouv,c=fr``."""
    return f"ou={academy.feed_name},{EDUCATION_DN}"


@dataclass(slots=True)
class Person:
    """A true identity: what stays the same across their records."""

    pid: str
    sex: str
    year: int
    month: int
    day: int
    first: str
    birth_name: str
    married_name: str | None
    home: Academy
    numen: str = ""


@dataclass(slots=True)
class Record:
    """One directory entry of a person: which academy, which post, and how it differs."""

    academy: Academy
    post: Post
    married: bool = True  # written with the married name, when the person has one
    left: str | None = None  # dateff (YYYYMMDD) when finfonction is FF
    variant: bool = False  # spelt differently from the person's first record
    same_uid_as: int | None = None  # quarantine: the index of the record whose uid it reuses
    new_uid: bool = False  # a transfer's new account: never the uid the person had before
    renumber_of: int | None = None  # a second account in the same feed: record i's uid, numbered


@dataclass(slots=True)
class Feed:
    """One academy's output file, its habits, establishments and homonym counters."""

    academy: Academy
    profile: FeedProfile
    places: AcademyPlaces
    stream: BinaryIO
    writer: Any  # ldif.LDIFWriter (untyped)
    uids: dict[str, int] = field(default_factory=dict)
    mails: dict[str, int] = field(default_factory=dict)
    entries: int = 0


class EntryBuilder:
    """Builds entries and counts each scenario and kind of dirt into ``counts``."""

    def __init__(self, rates: Rates, counts: Counter[str]) -> None:
        self.rates = rates
        self.counts = counts

    def person_entry(
        self, rng: random.Random, feed: Feed, person: Person, record: Record, uids: list[str]
    ) -> tuple[dict[str, list[Any]], str, str]:
        """The attributes of one record of a person as its academy's feed writes them; with the uid
        (numbered for homonyms, or another record's for a duplicate uid) and the cn."""
        prof, rates, counts = feed.profile, self.rates, self.counts
        canonical = person.married_name if record.married and person.married_name else person.birth_name
        accented = rng.random() < prof.sn_accented
        sn = (canonical if accented else unaccent(canonical)).upper()
        if sn.startswith("SAINT") and rng.random() < prof.saint_short:
            sn = sn.replace("SAINTE-", "STE ").replace("SAINT-", "ST ")
        given = person.first
        if rng.random() < prof.given_unaccented:
            given = unaccent(given)
        if "-" in given and rng.random() < prof.compound_space:
            given = given.replace("-", " ", 1)
        if rng.random() < prof.given_upper:
            given = given.upper()
        if record.variant:
            sn, given = self._variant(rng, sn, given)
        if rng.random() < rates.typo and record.variant:
            sn = typo(sn, rng)
            counts["variant_typo"] += 1
        cn = f"{sn} {given}" if rng.random() < prof.cn_surname_first else f"{given} {sn.title()}"
        display = cn if prof.display_same_as_cn else f"{given} {sn}"
        if rng.random() < rates.double_space:
            cn = cn.replace(" ", "  ", 1)
            counts["double_space"] += 1
        if record.same_uid_as is not None:
            uid = uids[record.same_uid_as]
        elif record.renumber_of is not None and record.renumber_of < len(uids):
            uid = self._next_uid(feed, uids[record.renumber_of].rstrip("0123456789"))
        else:
            uid = self._uid(feed, person.first, sn)
            while record.new_uid and uid in uids:
                uid = self._uid(feed, person.first, sn)
        entry: dict[str, list[Any]] = {"objectClass": list(OBJECT_CLASSES), "uid": [uid], "sn": [sn]}
        entry["givenName"] = [given]
        entry["cn"] = [cn]
        entry["displayName"] = [display]
        if rng.random() < prof.nompatro:
            birth_upper = (person.birth_name if accented else unaccent(person.birth_name)).upper()
            entry["nompatro"] = [sn if rng.random() < 0.1 else birth_upper]
        self._confidential(rng, feed, person, entry)
        entry["codecivilite"] = ["MME" if person.sex == "F" else "M."]
        self._post_attributes(rng, feed, record.post, entry)
        entry["codaca"] = [feed.academy.codaca]
        entry.update(self._mail(rng, feed, person.first, sn, record.post.place))
        if record.left:
            entry["finfonction"] = ["FF"]
            entry["dateff"] = [record.left]
        self._quarantine(rng, entry)
        return entry, uid, cn

    def _variant(self, rng: random.Random, sn: str, given: str) -> tuple[str, str]:
        """A second record's spelling: another surname form, first-name form, or accents."""
        options = []
        if " " in sn or "-" in sn or "'" in sn:
            options.append("surname")
        if "-" in given or " " in given:
            options.append("first_name")
        if unaccent(given) != given:
            options.append("accents")
        if not options:
            return sn, given
        kind = rng.choice(options)
        if kind == "surname":
            sn, label = surname_variant(sn, rng)
            self.counts[f"variant_{label}"] += 1
        elif kind == "first_name":
            given = compound_first_name_variant(given.replace(" ", "-", 1), rng)
            self.counts["variant_compound_first_name"] += 1
        else:
            given = unaccent(given)
            self.counts["variant_accents"] += 1
        return sn, given

    def _uid(self, feed: Feed, first: str, sn: str) -> str:
        initials = "".join(part[0] for part in unaccent(first).lower().split("-"))
        return self._next_uid(feed, initials + uid_part(sn))

    def _next_uid(self, feed: Feed, base: str) -> str:
        """``base`` the first time in this feed, then ``base2``, ``base3``..."""
        n = feed.uids.get(base, 0) + 1
        feed.uids[base] = n
        if n > 1:
            self.counts["uid_numbered"] += 1
        return base if n == 1 else f"{base}{n}"

    def _confidential(
        self, rng: random.Random, feed: Feed, person: Person, entry: dict[str, list[Any]]
    ) -> None:
        prof, counts = feed.profile, self.counts
        roll = rng.random()
        if roll < prof.numen_missing:
            counts["numen_missing"] += 1
        elif roll < prof.numen_missing + prof.numen_redacted:
            entry["employeeNumber"] = [rng.choice(REDACTED_NUMEN)]
            counts["numen_redacted"] += 1
        else:
            entry["employeeNumber"] = [person.numen]
        fmt = prof.birth_date_format(rng)
        counts[f"birth_date_{fmt or 'missing'}"] += 1
        if fmt:
            entry["datenaissance"] = [format_date(person.year, person.month, person.day, fmt)]

    def _post_attributes(
        self, rng: random.Random, feed: Feed, post: Post, entry: dict[str, list[Any]]
    ) -> None:
        rates, counts = self.rates, self.counts
        entry["title"] = [post.title]
        if post.fonct_adm:
            entry["FrEduFonctAdm"] = [post.fonct_adm]
        if post.discipline:
            entry["discipline"] = [post.discipline]
        place = post.place
        rne = place.uai
        roll = rng.random()
        if roll < rates.uai_invalid:
            wrong = uai_check_letter(rne[:7])
            rne = rne[:7] + rng.choice([c for c in "ABCDEFGHJKLMNPRSTUVWXYZ" if c != wrong])
            counts["uai_invalid"] += 1
        elif roll < rates.uai_invalid + feed.profile.uai_lower:
            rne = rne[:7] + rne[7].lower()
            counts["uai_lower"] += 1
        entry["rne"] = [rne]
        workplaces = [place] + ([post.second] if post.second else [])
        if rng.random() < rates.rne_out_of_step:
            workplaces[0] = feed.places.pick(rng, place.type)
            counts["rne_out_of_step"] += 1
        values = [w.rne_value(post.title) for w in workplaces]
        roll = rng.random()
        if roll < rates.frrne_four_digit_nature:
            values[0] = values[0] + "0"
            counts["frrne_four_digit_nature"] += 1
        elif roll < rates.frrne_four_digit_nature + rates.frrne_bare_uai:
            values[0] = workplaces[0].uai
            counts["frrne_bare_uai"] += 1
        entry["FrEduRne"] = values
        entry["FrEduRneResp"] = [place.resp_value() if post.responsible else "X"]

    def _mail(
        self, rng: random.Random, feed: Feed, first: str, sn: str, place: Establishment
    ) -> dict[str, list[Any]]:
        prof = feed.profile
        domain = feed.academy.mail_domain
        if feed.academy.legacy_domains and rng.random() < prof.legacy_domain:
            # Normandie: the former academies' domains linger, by département.
            domain = "ac-rouen.fr" if place.departement in ("027", "076") else "ac-caen.fr"
            self.counts["mail_legacy_domain"] += 1
        local = f"{mail_part(first)}.{mail_part(sn)}"
        n = feed.mails.get(local, 0) + 1
        feed.mails[local] = n
        mail = f"{local}{n if n > 1 else ''}@{domain}"
        if rng.random() < prof.mail_upper:
            mail = mail.upper() if rng.random() < 0.5 else mail.title()
            self.counts["mail_upper"] += 1
        out: dict[str, list[Any]] = {"mail": [mail]}
        if rng.random() < self.rates.mail_alias:
            out["mailEquivalentAddress"] = [
                f"{mail_part(first)[0]}.{mail_part(sn)}{n if n > 1 else ''}@{feed.academy.mail_domain}"
            ]
        return out

    def _quarantine(self, rng: random.Random, entry: dict[str, list[Any]]) -> None:
        """The few entries a strict importer must refuse (rates per entry)."""
        rates, counts = self.rates, self.counts
        roll = rng.random()
        if roll < rates.quarantine_no_sn:
            del entry["sn"]
            counts["quarantine_no_sn"] += 1
        elif roll < (limit := rates.quarantine_no_sn + rates.quarantine_control_char):
            attr = rng.choice(("sn", "givenName", "cn"))
            value: str = entry[attr][0]
            cut = rng.randrange(1, len(value)) if len(value) > 1 else 1
            # bytes: the LDIF writer base64-encodes them, which keeps the file line-safe
            entry[attr] = [(value[:cut] + rng.choice(_CONTROL_CHARS) + value[cut:]).encode()]
            counts["quarantine_control_char"] += 1
        elif roll < limit + rates.quarantine_bad_utf8:
            attr = rng.choice(("sn", "givenName"))
            value = entry[attr][0]
            latin1 = value.encode("latin-1", "replace")
            if latin1.isascii():  # make sure it is not UTF-8: a Latin-1 É in place of an E
                at = max(0, latin1.find(b"E"))
                latin1 = latin1[:at] + b"\xc9" + latin1[at + 1 :]
            entry[attr] = [latin1]
            counts["quarantine_bad_utf8"] += 1

    def functional_entry(
        self, rng: random.Random, feed: Feed, *, uid: str | None = None, label: str = "", mixed: bool = False
    ) -> tuple[str, dict[str, list[Any]], str]:
        """A functional or test account (DN, attributes, uid): a mailbox, not a person."""
        if uid is None:  # a test account left among the people
            kind = rng.choice(("ADM", "test", "stagiaire.test", "remplacant"))
            number = feed.uids.get(kind, 0) + 1
            feed.uids[kind] = number
            uid = f"ADM{number:05d}" if kind == "ADM" else f"{kind}{number}"
            label = "TEST" if kind != "ADM" else "ADMIN"
            self.counts["functional_mixed"] += 1
        else:
            self.counts["functional"] += 1
        entry: dict[str, list[Any]] = {"objectClass": list(OBJECT_CLASSES), "uid": [uid], "sn": [label]}
        entry["cn"] = [label]
        if mixed:
            entry["givenName"] = ["Compte"]
            entry["cn"] = [f"{label} Compte"]
            entry["title"] = ["ADM"]
            if rng.random() < 0.3:
                entry["datenaissance"] = ["19000101"]  # a placeholder date, as test accounts have
        entry["codaca"] = [feed.academy.codaca]
        entry["mail"] = [f"{uid.lower()}@{feed.academy.mail_domain}"]
        ou = PEOPLE_OU if mixed else FUNCTIONAL_OU
        return f"uid={uid},ou={ou},{academy_dn(feed.academy)}", entry, uid
