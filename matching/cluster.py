"""Deciding and clustering: links, the review queue, chaining guards and human constraints.

Each scored pair gets a decision from its match probability: ``link`` at or above the upper
threshold, ``review`` between the two thresholds, ``distinct`` below. Links are then applied as
merges of clusters, strongest first (a greedy, constrained variant of connected components, in
the spirit of the "pivot"/correlation-clustering family): a merge is refused when the merged
cluster would hold

- two different NUMEN hashes (a NUMEN is one person's for life), or
- two *active* records of the same academy with different birth dates (one academy does not
  keep two live accounts of one person under two birth dates: those are two people), or
- (on by default) any two different birth dates that are not day/month swaps of each other: the
  typical chain is two dated records of two people joined through a third record with no date, or
- two records a human declared distinct (cannot-link, or two parts of a split).

so that one wrong link cannot chain two people together through a third record. Human must-links
(and the inside of each part of a split) are applied first and unconditionally; a must-link that
meets a cannot-link raises :class:`~matching.errors.ConstraintConflictError`.

The result depends only on the pairs, their weights and the records' ids (ties are broken by
ids), never on row order, so an incremental run reproduces a full run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .errors import ConstraintConflictError
from .features import MISSING, RecordTable
from .scoring import ScoredPairs

__all__ = ["DISTINCT", "LINK", "REVIEW", "Clustering", "Constraints", "RefusedLink", "cluster"]

LINK, REVIEW, DISTINCT = 2, 1, 0
"""Pair decisions, as stored in :attr:`Clustering.decisions`."""


@dataclass(frozen=True, slots=True)
class Constraints:
    """Human decisions, by record id; every run honours them."""

    must_link: tuple[tuple[int, int], ...] = ()
    cannot_link: tuple[tuple[int, int], ...] = ()
    splits: tuple[tuple[frozenset[int], ...], ...] = ()
    """Each split: a person's records partitioned into groups (linked inside, distinct across)."""

    def expanded(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Must-link and cannot-link pairs with the splits spelt out."""
        must = list(self.must_link)
        cannot = list(self.cannot_link)
        for groups in self.splits:
            heads = []
            for group in groups:
                ordered = sorted(group)
                if not ordered:
                    continue
                heads.append(ordered[0])
                must.extend((ordered[0], other) for other in ordered[1:])
            cannot.extend((a, b) for i, a in enumerate(heads) for b in heads[i + 1 :])
        return must, cannot

    def record_ids(self) -> set[int]:
        """Every record id a constraint names."""
        must, cannot = self.expanded()
        return {x for pair in (*must, *cannot) for x in pair}


@dataclass(frozen=True, slots=True)
class RefusedLink:
    """A pair above the link threshold whose merge a guard refused, and why."""

    pair: int
    """Index of the pair in the scored pairs."""
    reason: str


@dataclass(slots=True)
class Clustering:
    """Clusters as a label per row (the smallest record id of the cluster), and pair decisions."""

    labels: npt.NDArray[np.int64]
    decisions: npt.NDArray[np.int8]
    """:data:`LINK`, :data:`REVIEW` or :data:`DISTINCT` per scored pair (a refused link is REVIEW)."""
    refused: list[RefusedLink] = field(default_factory=list)
    applied: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    """Per pair: its link merged two clusters (false when they were already one, or refused)."""

    def clusters(self, ids: npt.NDArray[np.int64]) -> dict[int, list[int]]:
        """Cluster label → record ids of that cluster."""
        out: dict[int, list[int]] = {}
        for rid, lab in zip(ids.tolist(), self.labels.tolist(), strict=True):
            out.setdefault(lab, []).append(rid)
        return out


class _Groups:
    """Union-find over rows with, at each root, what the guards need."""

    def __init__(self, table: RecordTable, forbidden: dict[int, set[int]], *, all_births: bool) -> None:
        self.t = table
        self.all_births = all_births
        self.births: dict[int, set[tuple[int, int]]] = {}
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.numens: dict[int, set[int]] = {}
        self.active_births: dict[int, dict[int, set[int]]] = {}
        self.forbidden = forbidden  # row → rows it may not share a cluster with

    def find(self, x: int) -> int:
        root = x
        while (p := self.parent.get(root, root)) != root:
            root = p
        while (p := self.parent.get(x, x)) != root:
            self.parent[x] = root
            x = p
        return root

    def _init(self, x: int) -> None:
        if x in self.members:
            return
        t = self.t
        self.members[x] = [x]
        numen = int(t.numen[x])
        self.numens[x] = {numen} if numen != MISSING else set()
        birth = int(t.birth_date[x])
        self.active_births[x] = {int(t.academy[x]): {birth}} if t.active[x] and birth != MISSING else {}
        self.births[x] = {(birth, int(t.birth_swapped[x]))} if birth != MISSING else set()

    def conflict(self, a: int, b: int) -> str | None:
        """Why roots ``a`` and ``b`` may not merge, or None."""
        self._init(a)
        self._init(b)
        if len(self.numens[a] | self.numens[b]) > 1:
            return "different NUMEN"
        ba, bb = self.active_births[a], self.active_births[b]
        for academy in ba.keys() & bb.keys():
            if ba[academy] != bb[academy]:
                return "two active records of one academy with different birth dates"
        if self.all_births:
            for da, sa in self.births[a]:
                for db, sb in self.births[b]:
                    if da != db and sa != db and da != sb:
                        return "two different birth dates"
        if self.forbidden:
            small, large = sorted((a, b), key=lambda r: len(self.members[r]))
            partners = set().union(*(self.forbidden.get(row, ()) for row in self.members[small]))
            if partners and not partners.isdisjoint(self.members[large]):
                return "human cannot-link"
        return None

    def union(self, a: int, b: int) -> None:
        self._init(a)
        self._init(b)
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a].extend(self.members.pop(b))
        self.numens[a] |= self.numens.pop(b)
        for academy, births in self.active_births.pop(b).items():
            self.active_births[a].setdefault(academy, set()).update(births)
        self.births[a] |= self.births.pop(b)


def cluster(
    table: RecordTable,
    scored: ScoredPairs,
    *,
    link_threshold: float,
    review_threshold: float,
    constraints: Constraints | None = None,
    birth_date_guard: bool = True,
) -> Clustering:
    """Decide every pair and build clusters under the guards and the human constraints.

    With ``birth_date_guard``, no cluster may hold two birth dates that are not day/month swaps of
    each other: a record without a date cannot chain two dated records of different people.
    """
    row = {int(r): i for i, r in enumerate(table.ids.tolist())}
    must, cannot = (constraints or Constraints()).expanded()
    forbidden: dict[int, set[int]] = {}
    for a, b in cannot:
        if a in row and b in row:
            forbidden.setdefault(row[a], set()).add(row[b])
            forbidden.setdefault(row[b], set()).add(row[a])
    groups = _Groups(table, forbidden, all_births=birth_date_guard)
    for a, b in sorted(must):
        if a not in row or b not in row:
            continue  # a record that left the directory
        ra, rb = groups.find(row[a]), groups.find(row[b])
        if ra == rb:
            continue
        if groups.conflict(ra, rb) == "human cannot-link":
            raise ConstraintConflictError(
                f"records {a} and {b} must be linked but their clusters hold a cannot-link pair",
                record_ids=(a, b),
            )
        groups.union(ra, rb)

    prob = scored.match_probability
    decisions = np.where(prob >= link_threshold, LINK, np.where(prob >= review_threshold, REVIEW, DISTINCT))
    decisions = decisions.astype(np.int8)
    applied = np.zeros(len(scored), dtype=np.bool_)
    refused: list[RefusedLink] = []
    links = np.flatnonzero(decisions == LINK)
    if len(links):
        ids = table.ids
        lo = np.minimum(ids[scored.left[links]], ids[scored.right[links]])
        hi = np.maximum(ids[scored.left[links]], ids[scored.right[links]])
        # strongest first; ties by record ids so that the order does not depend on rows
        order = np.lexsort((hi, lo, -scored.match_weight[links]))
        for k in links[order].tolist():
            ra, rb = groups.find(int(scored.left[k])), groups.find(int(scored.right[k]))
            if ra == rb:
                continue
            reason = groups.conflict(ra, rb)
            if reason is not None:
                refused.append(RefusedLink(pair=k, reason=reason))
                decisions[k] = REVIEW
                continue
            groups.union(ra, rb)
            applied[k] = True
    labels = table.ids.copy()
    for root, members in groups.members.items():
        del root
        if len(members) > 1:
            labels[members] = int(table.ids[members].min())
    return Clustering(labels=labels, decisions=decisions, refused=refused, applied=applied)


def components(pairs: Iterable[tuple[int, int]], n: int) -> npt.NDArray[np.int64]:
    """Connected-component label (smallest row) of each of ``n`` rows under undirected ``pairs``."""
    parent = np.arange(n, dtype=np.int64)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)], dtype=np.int64)
