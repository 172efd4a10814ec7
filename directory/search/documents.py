"""What the search index knows of a person, computed from the store: one ``PersonDoc`` per person.

A person is offered when its status is ``active`` and at least one of its records is an active,
not removed, ``person``-kind record: people who have left everywhere are not offered. Everything
the index shows is computed here from those live records, whatever the matching runner wrote in
``persons.display_name``: the clean label (:mod:`directory.names`), the name tokens
(:mod:`matching.normalize`), the subline (:mod:`directory.sublines`), the e-mails and uids that
resolve to the person, the establishments and academies that give proximity, and the home
instance and cloud user id that make the federated cloud id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from directory.db import Database
from directory.names import display_name, sort_key
from directory.sublines import (
    SublineFacts,
    academy_label,
    assign_sublines,
    establishment_label,
    role_label,
)
from matching.normalize import given_name_tokens, name_tokens, normalize_text, surname_key

__all__ = ["PersonDoc", "index_tokens", "load_documents", "load_establishments"]


@dataclass(slots=True)
class PersonDoc:
    """One searchable person, as the index and the API see it (no confidential field exists here)."""

    id: str
    label: str
    tokens: tuple[str, ...]
    email: str | None = None
    emails: tuple[str, ...] = ()
    uids: tuple[str, ...] = ()
    academies: tuple[str, ...] = ()
    establishments: tuple[str, ...] = ()
    has_account: bool = False
    instance: str | None = None
    host: str | None = None
    userid: str | None = None
    subline: str = ""
    facts: SublineFacts = field(default_factory=SublineFacts)

    @property
    def cloud_id(self) -> str | None:
        """The federated cloud id ``userid@host``, when the person has a home instance."""
        if self.userid and self.host:
            return f"{self.userid}@{self.host}"
        return None

    @property
    def group_key(self) -> str:
        """Homonyms share this key: the label without accents, case or punctuation."""
        return sort_key(self.label)


def index_tokens(
    given_name: str | None, usage_name: str | None, birth_name: str | None, fallback: str | None = None
) -> set[str]:
    """The name tokens a query token may match (as an exact token or a prefix of one).

    Every word of every name part (``matching.normalize.name_tokens``: particles kept and glued,
    Saint forms expanded), the glued surname (``DURAND--DUPONT`` → ``duranddupont``), and for a
    compound first name its glued form and initials (``Jean-Pierre`` → ``jeanpierre``, ``jp``).
    """
    tokens: set[str] = set()
    for part in (given_name, usage_name, birth_name):
        tokens.update(name_tokens(part))
    for part in (usage_name, birth_name):
        key = surname_key(part)
        if key:
            tokens.add(key)
    words = given_name_tokens(given_name)
    if len(words) > 1:
        tokens.add("".join(words))
        tokens.add("".join(w[0] for w in words))
    if not usage_name and fallback:
        tokens.update(name_tokens(fallback))
    return tokens


_PERSON_SQL = """
SELECT p.id AS person_id, p.has_account, p.home_instance, i.host,
       coalesce(a.userid, c.userid) AS userid,
       r.uid, r.given_name, r.usage_name, r.birth_name, r.display_name, r.civility, r.role,
       r.discipline, r.main_uai, r.academy_code, r.mail, r.mail_aliases,
       ARRAY(SELECT e->>'uai' FROM jsonb_array_elements(r.establishments) e
             WHERE e->>'uai' IS NOT NULL) AS uais
FROM persons p
JOIN record_links l ON l.person_id = p.id
JOIN source_records r ON r.id = l.record_id
LEFT JOIN instances i ON i.name = p.home_instance
LEFT JOIN cloud_userids c ON c.person_id = p.id
-- The account an instance reported on the home instance wins over the assigned user id. Joined
-- (not a correlated subquery) so that a full build is hash joins over the whole tables.
LEFT JOIN (SELECT person_id, instance, min(userid) AS userid FROM instance_accounts
           WHERE person_id IS NOT NULL GROUP BY person_id, instance) a
       ON a.person_id = p.id AND a.instance = p.home_instance
WHERE p.status = 'active' AND r.active AND r.removed_at IS NULL AND r.kind = 'person'
  {where}
ORDER BY p.id, r.updated_at DESC, r.id DESC
"""


@dataclass(frozen=True, slots=True)
class Establishment:
    """An establishment of the registry, as sublines need it."""

    name: str
    town: str | None
    type: str | None
    academy_code: str | None


def load_establishments(db: Database) -> dict[str, Establishment]:
    """UAI → establishment, for sublines (tens of thousands of rows: loaded whole)."""
    rows = db.fetch_all("SELECT uai, name, town, type, academy_code FROM establishments")
    return {r["uai"]: Establishment(r["name"], r["town"], r["type"], r["academy_code"]) for r in rows}


def _rows(db: Database, person_ids: Sequence[str] | None) -> Iterator[dict[str, Any]]:
    where = "AND p.id = ANY(%(ids)s)" if person_ids is not None else ""
    query = _PERSON_SQL.replace("{where}", where)
    with db.connection() as conn, conn.cursor(name="search_documents") as cur:
        cur.itersize = 20_000
        cur.execute(query.encode(), {"ids": list(person_ids or [])})
        yield from cur


def _doc(rows: list[dict[str, Any]], establishments: dict[str, Establishment]) -> PersonDoc:
    """One person's document from its live records (the most recently updated first)."""
    first = rows[0]
    tokens: set[str] = set()
    emails: list[str] = []
    uids: list[str] = []
    academies: list[str] = []
    uais: list[str] = []
    for r in rows:
        tokens |= index_tokens(r["given_name"], r["usage_name"], r["birth_name"], r["display_name"])
        for mail in (r["mail"], *(r["mail_aliases"] or ())):
            if mail:
                emails.append(mail.strip().lower())
        if r["uid"]:
            uids.append(r["uid"].strip().lower())
        if r["academy_code"]:
            academies.append(r["academy_code"])
        if r["main_uai"]:
            uais.append(r["main_uai"])
        uais.extend(r["uais"] or ())
    # The label and the subline come from the primary record: the most recently updated one
    # that has a usage name (a record without one is a poor source for a label).
    primary = next((r for r in rows if r["usage_name"]), first)
    label = display_name(primary["given_name"], primary["usage_name"], primary["display_name"])
    main_uai = primary["main_uai"] or next(iter(primary["uais"] or ()), None)
    est = establishments.get(main_uai) if main_uai else None
    facts = SublineFacts(
        role=role_label(
            primary["role"],
            primary["discipline"],
            primary["civility"],
            primary_school=bool(est and est.type in {"1ORD", "ECOLE", "EEPU", "EMPU"}),
        ),
        establishment=establishment_label(est.name, est.town) if est else None,
        academy=academy_label(primary["academy_code"]),
    )
    return PersonDoc(
        id=first["person_id"],
        label=label,
        tokens=tuple(sorted(tokens)),
        email=(primary["mail"] or "").strip().lower() or (emails[0] if emails else None),
        emails=tuple(dict.fromkeys(emails)),
        uids=tuple(dict.fromkeys(uids)),
        academies=tuple(dict.fromkeys(academies)),
        establishments=tuple(dict.fromkeys(uais)),
        has_account=bool(first["has_account"]),
        instance=first["home_instance"],
        host=first["host"],
        userid=first["userid"],
        facts=facts,
    )


def _group_rows(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    current: list[dict[str, Any]] = []
    for row in rows:
        if current and row["person_id"] != current[0]["person_id"]:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def load_documents(
    db: Database,
    *,
    person_ids: Sequence[str] | None = None,
    establishments: dict[str, Establishment] | None = None,
    with_sublines: bool = True,
) -> list[PersonDoc]:
    """The documents of every offered person (or of ``person_ids`` only), sublines assigned.

    With ``person_ids`` the sublines are computed within the loaded set only: the caller (the
    index's incremental patch) loads the homonyms of the changed people along with them.
    """
    ests = establishments if establishments is not None else load_establishments(db)
    docs = [_doc(rows, ests) for rows in _group_rows(_rows(db, person_ids))]
    if with_sublines:
        lines = assign_sublines([d.group_key for d in docs], [d.facts for d in docs])
        for doc, line in zip(docs, lines, strict=True):
            doc.subline = line
    return docs


def label_key(label: str) -> str:
    """The homonym key of a label (same as :attr:`PersonDoc.group_key`)."""
    return normalize_text(label)
