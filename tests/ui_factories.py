"""Fixture data for the review store and UI tests: records, persons, links and candidate pairs written
directly with SQL, as the importer and the matching runner would leave them."""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from directory.academies import by_code
from directory.admins import Admin, create_admin
from directory.config import Settings
from directory.db import Database
from directory.ui import mount_ui

PASSWORD = "review-password-1234"

EXPLANATION = [
    {"comparison": "surname", "level": "exact", "label": "usage name identical", "weight": 6.1},
    {"comparison": "given_name", "level": "exact", "label": "given name identical", "weight": 4.2},
    {"comparison": "birth_date", "level": "year", "label": "birth year only", "weight": 1.3},
    {"comparison": "establishment", "level": "different", "label": "different establishment", "weight": -2.4},
    {"comparison": "academy", "level": "different", "label": "different academy", "weight": -1.7},
]


def feed_for(db: Database, academy_code: str) -> str:
    """The feed ``ac-<slug>`` of an academy, created on first use."""
    academy = by_code(academy_code)
    assert academy is not None
    db.execute(
        "INSERT INTO feeds (name, academy_code, kind) VALUES (%s, %s, 'ldif') ON CONFLICT DO NOTHING",
        (academy.feed_name, academy_code),
    )
    return academy.feed_name


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def add_record(
    db: Database,
    *,
    academy: str = "25",
    given: str = "Nathalie",
    usage: str = "MARTIN",
    birth_name: str | None = None,
    uid: str | None = None,
    mail: str | None = None,
    birth_year: int | None = 1975,
    birth: str | None = None,
    numen: str | None = None,
    role: str | None = "Enseignant",
    discipline: str | None = None,
    main_uai: str | None = None,
    active: bool = True,
) -> int:
    """Insert a source record; ``birth``/``numen`` are clear values stored only as hashes."""
    feed = feed_for(db, academy)
    uid = uid or f"{given[0].lower()}{usage.lower().replace(' ', '')}{secrets.token_hex(2)}"
    domain = by_code(academy).mail_domain  # type: ignore[union-attr]
    mail = mail or f"{given.lower()}.{usage.lower().replace(' ', '-')}{secrets.token_hex(1)}@{domain}"
    raw = {"uid": [uid], "sn": [usage], "givenName": [given], "mail": [mail]}
    row = db.fetch_one(
        """WITH r AS (
           INSERT INTO source_records (feed, source_id, dn, uid, given_name, usage_name, birth_name,
               display_name, role, discipline, main_uai, academy_code, mail, numen_hash, birth_hash,
               birth_year, active, raw, content_hash)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           RETURNING id),
           -- queued for matching, as the importer does (match_queue)
           q AS (INSERT INTO match_queue (record_id) SELECT id FROM r)
           SELECT id FROM r""",
        (
            feed,
            secrets.token_hex(8),
            f"uid={uid},ou=personnels,dc={feed}",
            uid,
            given,
            usage,
            birth_name or usage,
            f"{given} {usage}",
            role,
            discipline,
            main_uai,
            academy,
            mail,
            _hash("numen" + numen) if numen else None,
            _hash("birth" + birth) if birth else None,
            birth_year,
            active,
            json.dumps(raw),
            secrets.token_hex(8),
        ),
    )
    assert row is not None
    return int(row["id"])


def add_person(
    db: Database, records: list[int], *, method: str = "model", person_id: str | None = None
) -> str:
    """A person holding these records (display fields from the first)."""
    pid = person_id or "t" + secrets.token_hex(6)
    first = db.fetch_one(
        "SELECT given_name, usage_name, academy_code FROM source_records WHERE id = %s", (records[0],)
    )
    assert first is not None
    family = first["usage_name"].title()
    db.execute(
        """INSERT INTO persons (id, display_name, given_name, family_name, academy_code)
           VALUES (%s, %s, %s, %s, %s)""",
        (pid, f"{first['given_name']} {family}", first["given_name"], family, first["academy_code"]),
    )
    for rid in records:
        db.execute(
            "INSERT INTO record_links (record_id, person_id, method, score) VALUES (%s, %s, %s, %s)",
            (rid, pid, method if len(records) > 1 else "singleton", 0.9),
        )
    return pid


def add_candidate(db: Database, a: int, b: int, *, probability: float = 0.5, explanation: Any = None) -> int:
    """A pending candidate pair (records ordered as the schema wants)."""
    a, b = min(a, b), max(a, b)
    expl = explanation if explanation is not None else EXPLANATION
    weight = sum(e["weight"] for e in (expl["comparisons"] if isinstance(expl, dict) else expl))
    return int(
        db.fetch_value(
            """INSERT INTO match_candidates (record_a, record_b, probability, weight, explanation)
               VALUES (%s, %s, %s, %s, %s) RETURNING id""",
            (a, b, probability, weight, json.dumps(expl)),
        )
    )


def admin(db: Database, username: str = "nadia", academy: str | None = None) -> Admin:
    """An administrator (national unless ``academy`` is a code) with the shared test password."""
    return create_admin(db, username=username, password=PASSWORD, academy_code=academy)


@dataclass
class Pair:
    """Two records, each in its own person, and the candidate between them."""

    a: int
    b: int
    person_a: str
    person_b: str
    candidate: int


def pair(
    db: Database,
    *,
    academies: tuple[str, str] = ("25", "10"),
    names: tuple[tuple[str, str], tuple[str, str]] = (("Nathalie", "MARTIN"), ("Nathalie", "MARTIN")),
    probability: float = 0.5,
    **common: Any,
) -> Pair:
    """A doubtful pair across two academies (a transfer, or two homonyms)."""
    a = add_record(db, academy=academies[0], given=names[0][0], usage=names[0][1], **common)
    b = add_record(db, academy=academies[1], given=names[1][0], usage=names[1][1], **common)
    pa, pb = add_person(db, [a]), add_person(db, [b])
    return Pair(a, b, pa, pb, add_candidate(db, a, b, probability=probability))


# -- a live server and a real browser -----------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"


def make_app(settings: Settings) -> FastAPI:
    """The real application: the API's factory (which mounts the UI), else a bare app with the UI."""
    try:
        from directory.api.app import create_app
    except ImportError:  # the API has not landed: the UI alone
        app = FastAPI()
        mount_ui(app, settings)
        return app
    app = create_app(settings, index="blocking")
    if not hasattr(app.state, "ui"):
        mount_ui(app, settings)
    return app


class LiveServer:
    """Uvicorn serving an app on a free 127.0.0.1 port, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", ws="none", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ui-test-server", daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def add_establishment(db: Database, uai: str, name: str, town: str, academy: str) -> str:
    """An establishment of the registry."""
    db.execute(
        """INSERT INTO establishments (uai, name, town, academy_code) VALUES (%s, %s, %s, %s)
           ON CONFLICT DO NOTHING""",
        (uai, name, town, academy),
    )
    return uai


@dataclass
class ReviewData:
    """The data set of the UI tests."""

    martin: Pair  # homonyms across Versailles and Lyon: the most uncertain case
    lefevre: Pair  # a transfer Paris -> Lyon with accents lost on one side
    dupont: Pair  # Versailles / Aix-Marseille, fairly sure
    bernard: str  # a person with three records, one of which is someone else
    bernard_records: list[int]


def seed_review(db: Database) -> ReviewData:
    """Three doubtful pairs in different academies and a suspicious person to split."""
    e1 = add_establishment(db, "0781234A", "Collège Jean Moulin", "Versailles", "25")
    e2 = add_establishment(db, "0691234B", "Lycée Ampère", "Lyon", "10")
    e3 = add_establishment(db, "0751234C", "Lycée Henri-IV", "Paris", "01")
    e4 = add_establishment(db, "0131234D", "Collège Longchamp", "Marseille", "02")
    martin = pair(
        db,
        academies=("25", "10"),
        probability=0.49,
        birth_year=1978,
    )
    db.execute(
        "UPDATE source_records SET main_uai = %s, discipline = 'Mathématiques' WHERE id = %s", (e1, martin.a)
    )
    db.execute(
        "UPDATE source_records SET main_uai = %s, discipline = 'Anglais' WHERE id = %s", (e2, martin.b)
    )
    lefevre = pair(
        db,
        academies=("01", "10"),
        names=(("Hélène", "LEFÈVRE"), ("Helene", "LEFEVRE")),
        probability=0.56,
        birth="1980-02-03",
    )
    db.execute("UPDATE source_records SET main_uai = %s WHERE id = %s", (e3, lefevre.a))
    db.execute(
        "UPDATE source_records SET main_uai = %s, active = false, left_on = '2024-08-31' WHERE id = %s",
        (e2, lefevre.b),
    )
    dupont = pair(
        db,
        academies=("25", "02"),
        names=(("Jean-Pierre", "DUPONT"), ("Jean Pierre", "DUPONT")),
        probability=0.81,
        numen="07ABC12345",
    )
    db.execute("UPDATE source_records SET main_uai = %s WHERE id = %s", (e4, dupont.b))
    b1 = add_record(db, academy="10", given="Sophie", usage="BERNARD", birth_year=1985, main_uai=e2)
    b2 = add_record(
        db, academy="10", given="Sophie", usage="BERNARD", birth_year=1985, main_uai=e2, role="Documentaliste"
    )
    b3 = add_record(db, academy="10", given="Sophie", usage="BERNARD", birth_year=1962)
    bernard = add_person(db, [b1, b2, b3])
    for p in (martin, lefevre, dupont):
        db.execute(
            """UPDATE persons SET display_name = r.given_name || ' ' || initcap(r.usage_name)
               FROM source_records r JOIN record_links l ON l.record_id = r.id
               WHERE persons.id = l.person_id AND l.person_id IN (%s, %s)""",
            (p.person_a, p.person_b),
        )
    return ReviewData(martin, lefevre, dupont, bernard, [b1, b2, b3])
