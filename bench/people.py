"""Generated people for the search benchmark when no imported and matched dataset is at hand.

The shape matters more than the exact figures: surnames with a real head (Martin, Bernard...
from ``importers/data/surnames.tsv`` when present) and a long tail of rare surnames made of
syllables; first names of the 1960-2000 cohorts; particles, double names and compound first
names at realistic rates; establishments and academies so that proximity means something.
Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from directory.academies import ACADEMIES
from directory.names import display_name
from directory.search.documents import PersonDoc, index_tokens
from directory.sublines import SublineFacts, academy_label, assign_sublines, establishment_label, role_label

DATA = Path(__file__).resolve().parent.parent / "importers" / "data"
_HEAD = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent"]
_FIRST = [
    "Nathalie", "Isabelle", "Sylvie", "Catherine", "Valérie", "Sandrine", "Céline", "Stéphanie",
    "Philippe", "Christophe", "Stéphane", "Nicolas", "Julien", "Frédéric", "Jean-Pierre",
    "Marie-Claire", "Hélène", "Émilie", "Jérôme", "François", "Anne-Sophie", "Michèle", "Aurélie",
    "Sébastien",
]  # fmt: skip
_SYL = [
    "ba", "ber", "bou", "ca", "char", "che", "co", "da", "de", "di", "dor", "du", "fa", "fer", "ga",
    "gau", "gil", "gra", "la", "lan", "le", "li", "lo", "ma", "mar", "mer", "mi", "mo", "na", "ne",
    "no", "pa", "pel", "per", "pi", "po", "ra", "re", "ri", "ro", "rou", "sa", "se", "si", "ta", "te",
    "ti", "tou", "va", "ve", "vi", "quet", "ard", "in", "on", "ot", "eau", "ier", "and", "ault",
    "elle", "et", "oux",
]  # fmt: skip
_PARTICLES = ["LE ", "DE ", "DU ", "D'", "LA ", "DE LA ", "ST ", "VAN "]
_DISCIPLINES = ["L1300", "L0202", "L0422", "L1000", "L1500", "L1600", "L1900", "L0426", "L1400", None]
_ROLES = ["ENS"] * 15 + ["DIR", "ADM", "ADM", "DOC", "EDU", "ORI", "INS"]
_EST = ["Collège", "Lycée", "École élémentaire", "École maternelle", "Lycée professionnel"]
_EPONYMS = [
    "Jean Moulin", "Victor Hugo", "Jules Ferry", "Marie Curie", "Jean Jaurès", "Louis Pasteur",
    "Paul Éluard", "Albert Camus", "Simone Veil", "Condorcet", "Voltaire", "Les Tilleuls",
]  # fmt: skip


def _read_tsv(name: str) -> list[tuple[str, float]]:
    path = DATA / name
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        cols = line.split("\t")
        try:
            out.append((cols[0], float(cols[-1] if name == "surnames.tsv" else sum(map(float, cols[2:6])))))
        except (ValueError, IndexError):
            continue
    return out


@dataclass
class Generated:
    """Generated people (documents ready to index) and the facts a benchmark needs about them."""

    docs: list[PersonDoc]
    given: list[str]
    surname: list[str]


def generate(n: int, *, seed: int = 42) -> Generated:
    """``n`` people with a realistic name distribution, spread over the 30 academies."""
    rng = random.Random(seed)
    head = _read_tsv("surnames.tsv") or [(s, 100.0 / (i + 1)) for i, s in enumerate(_HEAD)]
    firsts = _read_tsv("firstnames.tsv") or [(f, 1.0) for f in _FIRST]
    # Long tail: syllable surnames, each borne by few people (half of surnames by fewer than 10).
    tail = [
        "".join(rng.choice(_SYL) for _ in range(rng.choice((2, 2, 3, 3, 4)))).upper() for _ in range(n // 4)
    ]
    head_share = 0.35
    head_names = [s.upper() for s, _ in head]
    head_w = [w for _, w in head]
    first_names = [f for f, _ in firsts]
    first_w = [max(w, 0.01) for _, w in firsts]
    academies = list(ACADEMIES)
    acad_w = [a.staff for a in academies]
    docs: list[PersonDoc] = []
    givens: list[str] = []
    surnames: list[str] = []
    keys, facts = [], []
    heads = rng.choices(head_names, head_w, k=n)
    fns = rng.choices(first_names, first_w, k=n)
    acs = rng.choices(academies, acad_w, k=n)
    for i in range(n):
        if rng.random() < head_share:
            sn = heads[i]
        else:
            sn = tail[int(rng.paretovariate(1.2)) % len(tail)] if rng.random() < 0.5 else rng.choice(tail)
            if rng.random() < 0.04:
                sn = rng.choice(_PARTICLES) + sn
        if rng.random() < 0.05:
            sn = sn + rng.choice(("--", " ", "-")) + rng.choice(head_names)
        given = fns[i]
        academy = acs[i]
        est_no = rng.randrange(max(1, academy.staff // 40))
        uai = f"{academy.uai_prefixes[est_no % len(academy.uai_prefixes)]}{est_no:04d}X"
        est_name = f"{_EST[est_no % len(_EST)]} {_EPONYMS[est_no % len(_EPONYMS)]}"
        town = f"Ville-{academy.slug}-{est_no % 97}"
        role = rng.choice(_ROLES)
        uid = f"{given[0].lower()}{sn.split()[-1].lower().replace(chr(39), '')[:12]}{i}"
        mail = f"{uid}@{academy.mail_domain}"
        label = display_name(given, sn)
        facts.append(
            SublineFacts(
                role_label(
                    role, rng.choice(_DISCIPLINES) if role == "ENS" else None, rng.choice(("M.", "MME"))
                ),
                establishment_label(est_name, town),
                academy_label(academy.code),
            )
        )
        birth = rng.choice(head_names) if rng.random() < 0.1 else None
        doc = PersonDoc(
            id=f"P{i:07d}",
            label=label,
            tokens=tuple(sorted(index_tokens(given, sn, birth))),
            email=mail,
            emails=(mail,),
            uids=(uid,),
            academies=(academy.code,),
            establishments=(uai,),
            has_account=rng.random() < 0.6,
            instance=f"cloud{int(academy.code) % 40:02d}",
            host=f"cloud{int(academy.code) % 40:02d}.example.fr",
            userid=uid,
        )
        keys.append(doc.group_key)
        docs.append(doc)
        givens.append(given)
        surnames.append(sn)
    for doc, line, f in zip(docs, assign_sublines(keys, facts), facts, strict=True):
        doc.subline = line
        doc.facts = f
    return Generated(docs, givens, surnames)


def iter_chunks(seq: list[PersonDoc], size: int) -> Iterator[list[PersonDoc]]:
    """``seq`` in chunks of ``size``."""
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
