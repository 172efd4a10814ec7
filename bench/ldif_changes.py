"""Copy academy LDIF exports with a share of their person entries changed, for incremental benchmarks.

    python bench/ldif_changes.py SRC_DIR DST_DIR SHARE FEED...
    python bench/ldif_changes.py /work/data/synth-1.2m /tmp/changed 0.10 ac-reims ac-corse

Of the person entries drawn (``SHARE`` of each feed, seed 7): a quarter removed, a quarter renamed
(a word added to ``sn``), a quarter flipped active/inactive (``finfonction: FF`` added or removed),
a quarter copied under a new uid without mail (new duplicates). Works on the text of the entries
(blank-line separated), so entries the importer quarantines are copied as they are. Prints the
counts as JSON. Re-import the copies with ``directory import ldif --force DST_DIR/*.ldif``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path


def change_feed(text: str, share: float, rng: random.Random, counts: dict[str, int]) -> str:
    """The export ``text`` with about ``share`` of its person entries changed."""
    out: list[str] = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if not lines[0].startswith("dn: uid=") or "ou=personnels" not in lines[0]:
            out.append(block)
            continue
        x = rng.random()
        if x >= share:
            out.append(block)
            continue
        kind = int(x / share * 4)
        if kind == 0:
            counts["removed"] += 1
            continue
        if kind == 1:
            sn = [i for i, line in enumerate(lines) if line.startswith("sn: ")]
            # a folded (continued) value is left alone
            if sn and (sn[0] + 1 == len(lines) or not lines[sn[0] + 1].startswith(" ")):
                lines[sn[0]] += " " + rng.choice(["MARTIN", "DUPONT", "LE GALL"])
                counts["renamed"] += 1
        elif kind == 2:
            ff = [i for i, line in enumerate(lines) if line.lower().startswith("finfonction:")]
            if ff:
                del lines[ff[0]]
            else:
                lines.append("finfonction: FF")
            counts["flipped"] += 1
        out.append("\n".join(lines))
        if kind == 3:
            uid = next((line[5:] for line in lines if line.startswith("uid: ")), None)
            if uid is None:
                continue
            new = f"{uid}n{counts['added']}"
            copy = [lines[0].replace(f"uid={uid},", f"uid={new},", 1)]
            copy += [
                f"uid: {new}" if line == f"uid: {uid}" else line
                for line in lines[1:]
                if not line.startswith("mail:")
            ]
            out.append("\n".join(copy))
            counts["added"] += 1
    return "\n\n".join(out)


def main() -> None:
    """Command line."""
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    src, dst, share, feeds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    dst.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    counts = {"removed": 0, "renamed": 0, "flipped": 0, "added": 0}
    for feed in feeds:
        # surrogateescape: the invalid UTF-8 the generator plants for quarantine goes through untouched
        text = (src / f"{feed}.ldif").read_bytes().decode("utf-8", "surrogateescape")
        changed = change_feed(text, share, rng, counts)
        (dst / f"{feed}.ldif").write_bytes(changed.encode("utf-8", "surrogateescape"))
    print(json.dumps(counts | {"total": sum(counts.values())}))


if __name__ == "__main__":
    main()
