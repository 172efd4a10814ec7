"""The review store: decisions take effect at once, are hard constraints, are audited and undoable."""

from __future__ import annotations

from typing import Any

import pytest

from directory import review
from directory.casework import audit_entries, neighbours, person, suspicious_clusters
from directory.db import Database
from directory.errors import InvalidInputError, NotFoundError
from tests.ui_factories import add_candidate, add_person, add_record, admin, pair


def _person_of(db: Database, record: int) -> str:
    return str(db.fetch_value("SELECT person_id FROM record_links WHERE record_id = %s", (record,)))


def _live(db: Database) -> list[tuple[str, int, int]]:
    rows = db.fetch_all(
        "SELECT kind, record_a, record_b FROM match_decisions WHERE revoked_at IS NULL ORDER BY id"
    )
    return [(r["kind"], r["record_a"], r["record_b"]) for r in rows]


def test_merge_moves_records_marks_the_other_person_merged_and_audits(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    extra = add_record(db, academy="10")  # a second record of person b: it moves too
    db.execute(
        "INSERT INTO record_links (record_id, person_id, method) VALUES (%s, %s, 'model')",
        (extra, p.person_b),
    )
    outcome = review.merge(db, candidate_id=p.candidate, admin=nadia)

    kept = _person_of(db, p.a)
    assert kept == _person_of(db, p.b) == _person_of(db, extra)
    gone = ({p.person_a, p.person_b} - {kept}).pop()
    assert kept == p.person_b  # the person with more records keeps its id
    assert db.fetch_one("SELECT status, merged_into FROM persons WHERE id = %s", (gone,)) == {
        "status": "merged",
        "merged_into": kept,
    }
    assert _live(db) == [("must_link", p.a, p.b)]
    assert db.fetch_value("SELECT status FROM match_candidates WHERE id = %s", (p.candidate,)) == "merged"
    methods = {
        r["record_id"]: (r["method"], r["decided_by"])
        for r in db.fetch_all(
            "SELECT record_id, method, decided_by FROM record_links WHERE person_id = %s", (kept,)
        )
    }
    # The decided pair is human-linked; the survivor's other records keep the engine's link.
    assert methods == {p.a: ("human", "nadia"), p.b: ("human", "nadia"), extra: ("model", "engine")}
    entry = db.fetch_one("SELECT * FROM audit_log WHERE id = %s", (outcome.audit_id,))
    assert entry is not None
    assert entry["actor"] == "nadia" and entry["action"] == "merge"
    assert entry["before"]["persons"][gone]["status"] == "active"
    assert entry["after"]["persons"][gone]["status"] == "merged"
    assert sorted(entry["academies"]) == ["10", "25"]
    assert set(outcome.person_ids) == {p.person_a, p.person_b}


def test_persons_merged_into_the_absorbed_one_follow_it(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    older = add_person(db, [add_record(db, academy="25")])
    db.execute("UPDATE record_links SET person_id = %s WHERE person_id = %s", (p.person_a, older))
    db.execute("UPDATE persons SET status = 'merged', merged_into = %s WHERE id = %s", (p.person_a, older))
    review.merge(db, candidate_id=p.candidate, admin=nadia)
    kept = _person_of(db, p.a)
    assert db.fetch_value("SELECT merged_into FROM persons WHERE id = %s", (older,)) == kept


def test_merge_across_a_cannot_link_is_refused(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    other = add_record(db, academy="25")
    db.execute(
        "INSERT INTO record_links (record_id, person_id, method) VALUES (%s, %s, 'model')",
        (other, p.person_a),
    )
    review.mark_distinct(db, record_a=other, record_b=p.b, admin=nadia)
    with pytest.raises(review.DecisionConflictError, match="marked distinct"):
        review.merge(db, candidate_id=p.candidate, admin=nadia)
    assert _person_of(db, p.a) != _person_of(db, p.b)


def test_a_later_merge_supersedes_distinct_on_the_same_pair(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    review.mark_distinct(db, candidate_id=p.candidate, admin=nadia)
    review.merge(db, candidate_id=p.candidate, admin=nadia)
    assert _live(db) == [("must_link", p.a, p.b)]
    assert _person_of(db, p.a) == _person_of(db, p.b)


def test_mark_distinct_writes_a_cannot_link_and_leaves_persons_alone(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    outcome = review.mark_distinct(db, candidate_id=p.candidate, admin=nadia)
    assert _live(db) == [("cannot_link", p.a, p.b)]
    assert (_person_of(db, p.a), _person_of(db, p.b)) == (p.person_a, p.person_b)
    assert db.fetch_value("SELECT status FROM match_candidates WHERE id = %s", (p.candidate,)) == "distinct"
    assert outcome.action == "distinct" and "different people" in outcome.summary
    # Deciding again does not pile up duplicate constraints.
    review.mark_distinct(db, record_a=p.b, record_b=p.a, admin=nadia)
    assert len(_live(db)) == 1


def test_mark_distinct_inside_one_person_asks_for_a_split(db: Database) -> None:
    nadia = admin(db)
    a, b = add_record(db), add_record(db, academy="10")
    add_person(db, [a, b])
    cid = add_candidate(db, a, b)
    with pytest.raises(review.DecisionConflictError, match="split"):
        review.mark_distinct(db, candidate_id=cid, admin=nadia)


def test_split_moves_chosen_records_to_a_new_person_with_constraints(db: Database) -> None:
    nadia = admin(db)
    r1, r2, r3 = add_record(db), add_record(db, academy="10"), add_record(db, academy="10", given="Natalie")
    pid = add_person(db, [r1, r2, r3])
    cid = add_candidate(db, r2, r3)
    outcome = review.split_person(db, person_id=pid, groups=[[r1, r2], [r3]], admin=nadia)

    assert _person_of(db, r1) == _person_of(db, r2) == pid
    new = _person_of(db, r3)
    assert new != pid and new in outcome.person_ids
    row = db.fetch_one("SELECT status, display_name, academy_code FROM persons WHERE id = %s", (new,))
    assert row == {"status": "active", "display_name": "Natalie Martin", "academy_code": "10"}
    assert sorted(_live(db)) == sorted(
        [("must_link", r1, r2), ("cannot_link", r1, r3), ("cannot_link", r2, r3)]
    )
    assert db.fetch_value("SELECT status FROM match_candidates WHERE id = %s", (cid,)) == "distinct"


def test_split_gives_each_instance_account_to_the_part_whose_records_it_matches(db: Database) -> None:
    nadia = admin(db)
    r1 = add_record(db, mail="nathalie.martin@ac-versailles.fr", uid="nmartin")
    r2 = add_record(db, academy="10", mail="nathalie.martin2@ac-lyon.fr", uid="nmartin2")
    pid = add_person(db, [r1, r2])
    db.execute(
        """INSERT INTO instances (name, host, capacity) VALUES
           ('cloud-a', 'a.example.fr', 100), ('cloud-b', 'b.example.fr', 100)"""
    )
    for instance, userid, email in (
        ("cloud-a", "nm", "Nathalie.Martin@ac-versailles.fr"),  # r1's, by e-mail
        ("cloud-b", "nmartin2", None),  # r2's, by uid
        ("cloud-b", "someone", "unknown@example.org"),  # nobody's: stays
    ):
        db.execute(
            "INSERT INTO instance_accounts (instance, userid, person_id, email) VALUES (%s, %s, %s, %s)",
            (instance, userid, pid, email),
        )
    db.execute("UPDATE persons SET home_instance = 'cloud-a', has_account = true WHERE id = %s", (pid,))

    split = review.split_person(db, person_id=pid, groups=[[r1], [r2]], admin=nadia)
    new = _person_of(db, r2)
    assert _accounts(db) == {"cloud-a/nm": pid, "cloud-b/nmartin2": new, "cloud-b/someone": pid}
    # The new person lives where its account is; the original keeps its home and its accounts.
    assert _homes(db, pid, new) == [("cloud-a", True), ("cloud-b", True)]

    review.undo(db, audit_id=split.audit_id, admin=nadia)
    assert set(_accounts(db).values()) == {pid}
    assert _homes(db, pid) == [("cloud-a", True)]
    assert db.fetch_value("SELECT has_account FROM persons WHERE id = %s", (new,)) is False


@pytest.mark.parametrize(
    "groups",
    [[[1]], [[1, 2], [2, 3]], [[1], [2]], [[], [1, 2, 3]]],
    ids=["one group", "record twice", "record missing", "empty staying group"],
)
def test_split_refuses_groups_that_are_not_a_partition(db: Database, groups: list[list[int]]) -> None:
    nadia = admin(db)
    ids = [add_record(db), add_record(db), add_record(db)]
    pid = add_person(db, ids)
    real = [[ids[i - 1] for i in g] for g in groups]
    with pytest.raises(InvalidInputError):
        review.split_person(db, person_id=pid, groups=real, admin=nadia)
    assert {_person_of(db, r) for r in ids} == {pid}


def test_undo_merge_restores_both_persons_and_revokes_the_decision(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    before = db.fetch_all("SELECT id, status, merged_into, display_name FROM persons ORDER BY id")
    merged = review.merge(db, candidate_id=p.candidate, admin=nadia)
    undone = review.undo(db, audit_id=merged.audit_id, admin=nadia)

    assert (_person_of(db, p.a), _person_of(db, p.b)) == (p.person_a, p.person_b)
    assert db.fetch_all("SELECT id, status, merged_into, display_name FROM persons ORDER BY id") == before
    assert _live(db) == []
    assert db.fetch_value("SELECT status FROM match_candidates WHERE id = %s", (p.candidate,)) == "pending"
    entries, _ = audit_entries(db)
    assert [e.action for e in entries] == ["undo", "merge"]
    assert entries[1].undone_by == undone.audit_id

    # Undoing twice is refused; undoing the undo is a redo.
    with pytest.raises(review.DecisionConflictError):
        review.undo(db, audit_id=merged.audit_id, admin=nadia)
    review.undo(db, audit_id=undone.audit_id, admin=nadia)
    assert _person_of(db, p.a) == _person_of(db, p.b)


def _accounts(db: Database) -> dict[str, str]:
    rows = db.fetch_all("SELECT instance, userid, person_id FROM instance_accounts ORDER BY instance, userid")
    return {f"{r['instance']}/{r['userid']}": r["person_id"] for r in rows}


def _homes(db: Database, *ids: str) -> list[tuple[str | None, bool]]:
    return [
        (r["home_instance"], r["has_account"])
        for r in (
            db.fetch_one("SELECT home_instance, has_account FROM persons WHERE id = %s", (i,)) for i in ids
        )
        if r is not None
    ]


def test_merge_moves_instance_accounts_to_the_survivor_and_undo_gives_them_back(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    extra = add_record(db, academy="10")  # person b has more records: it survives
    db.execute(
        "INSERT INTO record_links (record_id, person_id, method) VALUES (%s, %s, 'model')",
        (extra, p.person_b),
    )
    db.execute(
        """INSERT INTO instances (name, host, capacity) VALUES
           ('cloud-a', 'a.example.fr', 100), ('cloud-b', 'b.example.fr', 100)"""
    )
    for instance, userid, person_id in (
        ("cloud-a", "nmartin", p.person_a),
        ("cloud-b", "nmartin2", p.person_b),
    ):
        db.execute(
            "INSERT INTO instance_accounts (instance, userid, person_id) VALUES (%s, %s, %s)",
            (instance, userid, person_id),
        )
        db.execute(
            "UPDATE persons SET home_instance = %s, has_account = true WHERE id = %s", (instance, person_id)
        )

    merged = review.merge(db, candidate_id=p.candidate, admin=nadia)
    assert _person_of(db, p.a) == p.person_b
    # The absorbed person's account is the survivor's, who keeps the home where it has an account.
    assert _accounts(db) == {"cloud-a/nmartin": p.person_b, "cloud-b/nmartin2": p.person_b}
    assert _homes(db, p.person_b) == [("cloud-b", True)]
    entry = db.fetch_one("SELECT before, after FROM audit_log WHERE id = %s", (merged.audit_id,))
    assert entry is not None
    assert entry["before"]["accounts"][p.person_a] == [["cloud-a", "nmartin"]]
    assert sorted(entry["after"]["accounts"][p.person_b]) == [["cloud-a", "nmartin"], ["cloud-b", "nmartin2"]]

    undone = review.undo(db, audit_id=merged.audit_id, admin=nadia)
    assert _accounts(db) == {"cloud-a/nmartin": p.person_a, "cloud-b/nmartin2": p.person_b}
    assert _homes(db, p.person_a, p.person_b) == [("cloud-a", True), ("cloud-b", True)]

    # Undoing the undo (a redo) moves it to the survivor again.
    review.undo(db, audit_id=undone.audit_id, admin=nadia)
    assert _accounts(db) == {"cloud-a/nmartin": p.person_b, "cloud-b/nmartin2": p.person_b}


def test_undo_split_returns_records_and_keeps_the_new_id_resolving(db: Database) -> None:
    nadia = admin(db)
    r1, r2 = add_record(db), add_record(db, academy="10")
    pid = add_person(db, [r1, r2])
    outcome = review.split_person(db, person_id=pid, groups=[[r1], [r2]], admin=nadia)
    new = _person_of(db, r2)
    review.undo(db, audit_id=outcome.audit_id, admin=nadia)
    assert _person_of(db, r1) == _person_of(db, r2) == pid
    assert db.fetch_one("SELECT status, merged_into FROM persons WHERE id = %s", (new,)) == {
        "status": "merged",
        "merged_into": pid,
    }
    assert _live(db) == []


def test_undo_is_refused_when_a_later_decision_changed_the_records(db: Database) -> None:
    nadia = admin(db)
    p = pair(db)
    third = add_record(db, academy="10")
    third_person = add_person(db, [third])
    merged = review.merge(db, candidate_id=p.candidate, admin=nadia)
    review.merge(db, record_a=p.a, record_b=third, admin=nadia)
    with pytest.raises(review.DecisionConflictError, match="later decisions"):
        review.undo(db, audit_id=merged.audit_id, admin=nadia)
    assert third_person  # still a person id, merged into the others
    assert len({_person_of(db, r) for r in (p.a, p.b, third)}) == 1


def test_academy_administrator_only_sees_and_decides_their_academy(db: Database) -> None:
    lyon = admin(db, "lyon-admin", academy="10")
    theirs = pair(db, academies=("25", "10"))
    other = pair(db, academies=("25", "01"))
    assert review.case(db, theirs.candidate, admin=lyon).id == theirs.candidate
    with pytest.raises(NotFoundError):
        review.case(db, other.candidate, admin=lyon)
    with pytest.raises(NotFoundError):
        review.merge(db, candidate_id=other.candidate, admin=lyon)
    with pytest.raises(NotFoundError):
        person(db, other.person_a, admin=lyon)
    assert [i.id for i in review.queue(db, admin=lyon).items] == [theirs.candidate]
    national = review.merge(db, candidate_id=other.candidate, admin=admin(db))
    with pytest.raises(NotFoundError):
        review.undo(db, audit_id=national.audit_id, admin=lyon)
    assert audit_entries(db, admin=lyon) == ([], 0)


def test_queue_puts_the_most_uncertain_then_the_widest_first_and_counts(db: Database) -> None:
    nadia = admin(db)
    sure = pair(db, probability=0.92)
    doubtful = pair(db, probability=0.48)
    also_doubtful = pair(db, probability=0.52)
    # The second 0.5-ish pair touches more records: it comes first among equals.
    more = add_record(db, academy="10")
    db.execute(
        "INSERT INTO record_links (record_id, person_id, method) VALUES (%s, %s, 'model')",
        (more, also_doubtful.person_b),
    )
    decided = pair(db, academies=("01", "02"), probability=0.5)
    review.mark_distinct(db, candidate_id=decided.candidate, admin=nadia)

    page = review.queue(db, status="pending")
    assert [i.id for i in page.items] == [also_doubtful.candidate, doubtful.candidate, sure.candidate]
    assert page.items[0].records_touched == 3 and page.total == 3
    assert page.counts == {"pending": 3, "merged": 0, "distinct": 1, "obsolete": 0}
    assert [i.id for i in review.queue(db, status="distinct").items] == [decided.candidate]
    assert review.queue(db, academy="02", status=None).counts["distinct"] == 1
    assert review.queue(db, academy="02").items == ()
    assert [i.id for i in review.queue(db, limit=1, offset=1).items] == [doubtful.candidate]
    assert neighbours(db, doubtful.candidate) == (also_doubtful.candidate, sure.candidate)


def test_case_shows_differences_explanation_and_hides_confidential_values(db: Database) -> None:
    a = add_record(db, given="Hélène", usage="LEFÈVRE", numen="12ABC", birth="1975-03-04")
    b = add_record(
        db, academy="10", given="Helene", usage="LEFEVRE-DURAND", numen="99ZZZ", birth="1975-03-04"
    )
    add_person(db, [a])
    add_person(db, [b])
    cid = add_candidate(db, a, b, probability=0.41)
    c = review.case(db, cid)
    states = {d.label: d.state for d in c.diffs}
    assert states["Given name"] == "cosmetic"  # accents only
    assert states["Usage name"] == "different"
    assert states["Birth date"] == "same" and states["NUMEN"] == "different"
    shown: list[Any] = [d.a for d in c.diffs] + [d.b for d in c.diffs]
    assert "12ABC" not in shown and all("hash" not in str(x) for x in shown)
    assert c.explanation[0].label == "usage name identical"
    assert c.explanation_total == pytest.approx(7.5)
    assert c.person_a is not None and c.person_a.records[0].id == a
    assert not c.same_person


def test_case_reads_the_engines_explanation_object(db: Database) -> None:
    a, b = add_record(db), add_record(db, academy="10")
    add_person(db, [a])
    add_person(db, [b])
    engine = {
        "prior_weight": -9.5,
        "match_weight": 0.2,
        "comparisons": [
            {"comparison": "surname", "level": "exact_rare", "weight": 9.7, "tf_adjustment": 1.2}
        ],
    }
    cid = add_candidate(db, a, b, explanation=engine)
    c = review.case(db, cid)
    assert [(e.comparison, e.label, e.weight) for e in c.explanation] == [("surname", "exact rare", 9.7)]
    assert c.prior_weight == -9.5


def test_suspicious_clusters_flag_records_that_look_like_two_people(db: Database) -> None:
    a = add_record(db, numen="1", birth_year=1970)
    b = add_record(db, academy="10", numen="2", birth_year=1988)
    pid = add_person(db, [a, b])
    fine = add_person(db, [add_record(db, numen="3"), add_record(db, academy="10", numen="3")])
    found = suspicious_clusters(db)
    assert [c.person_id for c in found] == [pid]
    assert set(found[0].reasons) == {"different NUMENs", "different birth years"}
    assert fine not in [
        c.person_id for c in suspicious_clusters(db, admin=admin(db, "lyon-admin", academy="10"))
    ]


def test_decisions_tell_the_search_index_which_persons_changed(db: Database) -> None:
    p = pair(db)
    review.merge(db, candidate_id=p.candidate, admin=admin(db))
    changed = {r["person_id"] for r in db.fetch_all("SELECT person_id FROM search_changes")}
    assert changed == {p.person_a, p.person_b}
