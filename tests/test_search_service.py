"""The per-worker search service over the store: full builds, overlays after changes, resolution."""

from __future__ import annotations

from directory.db import Database
from directory.search.hooks import bump_generation, mark_changed, read_state
from directory.search.service import SearchService
from tests.factories import World, add_person, add_record


def test_overlay_recomputes_the_sublines_of_homonyms(db: Database) -> None:
    world = World(db)
    first = world.person(given_name="Lucie", usage_name="PETIT", academy_code="25", discipline="L1300")
    service = SearchService(db)
    service.rebuild()
    (only,) = service.search("lucie petit")
    assert only.fields()["subline"] == "Professeure de mathématiques"
    # A homonym appears (an admin split, say): both must now be told apart, by academy.
    rid = add_record(db, given_name="Lucie", usage_name="PETIT", academy_code="10", discipline="L1300")
    second = add_person(db, [rid])
    mark_changed(db, [second])
    assert service.refresh() == "patched"
    found = {f.id: f.fields()["subline"] for f in service.search("lucie petit")}
    assert found == {first: "Académie de Versailles", second: "Académie de Lyon"}


def test_merged_person_disappears_and_resolution_follows(db: Database) -> None:
    a = add_record(db, given_name="Hugo", usage_name="BLANC", mail="hugo.blanc@ac-versailles.fr")
    b = add_record(
        db, given_name="Hugo", usage_name="BLANC", academy_code="24", mail="hugo.blanc@ac-creteil.fr"
    )
    pa, pb = add_person(db, [a]), add_person(db, [b])
    service = SearchService(db)
    service.rebuild()
    assert len(service.search("hugo blanc")) == 2
    # Merge b into a, as the review UI does, and announce it.
    db.execute("UPDATE record_links SET person_id = %s WHERE person_id = %s", (pa, pb))
    db.execute("UPDATE persons SET status = 'merged', merged_into = %s WHERE id = %s", (pa, pb))
    mark_changed(db, [pa, pb])
    service.refresh()
    assert [f.id for f in service.search("hugo blanc")] == [pa]
    assert [f.id for f in service.lookup(email="hugo.blanc@ac-creteil.fr")] == [pa]
    assert service.get(pb) is None


def test_generation_and_state(db: Database) -> None:
    service = SearchService(db)
    assert not service.ready
    service.rebuild()
    generation, _ = read_state(db)
    bump_generation(db)
    assert read_state(db)[0] == generation + 1
    assert service.refresh() == "rebuilt"
    assert service.refresh() == "unchanged"
