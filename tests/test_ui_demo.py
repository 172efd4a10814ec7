"""The share-dialog demo in a real browser: the people-picker against the real search API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from directory.config import Settings
from directory.db import Database
from tests.conftest import require
from tests.ui_factories import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    LiveServer,
    add_establishment,
    add_person,
    add_record,
    make_app,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _people(db: Database) -> None:
    """Two homonym Marie Martins (different roles, establishments, academies), Hélène Lefèvre with
    her accents, and a few others so that searches have something to rank."""
    lyon = add_establishment(db, "0691234B", "Lycée Ampère", "Lyon", "10")
    vers = add_establishment(db, "0781234A", "Collège Jean Moulin", "Versailles", "25")
    add_person(
        db,
        [
            add_record(
                db, academy="10", given="Marie", usage="MARTIN", discipline="Mathématiques", main_uai=lyon
            )
        ],
    )
    add_person(
        db,
        [
            add_record(
                db,
                academy="25",
                given="Marie",
                usage="MARTIN",
                discipline="Histoire-géographie",
                main_uai=vers,
            )
        ],
    )
    add_person(db, [add_record(db, academy="25", given="Hélène", usage="LEFÈVRE", main_uai=vers)])
    add_person(db, [add_record(db, academy="10", given="Martine", usage="MARCHAND", main_uai=lyon)])
    add_person(db, [add_record(db, academy="10", given="Paul", usage="DURAND", main_uai=lyon)])


@pytest.fixture
def page(browser: Browser, settings: Settings, db: Database) -> Iterator[Page]:
    _people(db)
    with LiveServer(make_app(settings)) as live:
        context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        yield context.new_page()
        context.close()


def _pick(page: Page, query: str) -> None:
    box = page.get_by_role("combobox", name="Name, e-mail or identifier")
    box.fill("")
    box.press_sequentially(query, delay=30)


def test_the_picker_finds_people_despite_typos_and_accents_and_tells_homonyms_apart(
    page: Page, db: Database
) -> None:
    page.goto("/demo/share")
    page.get_by_role("button", name="Get a demo key").click()  # dev, and the browser is local
    expect(page.get_by_role("status")).to_contain_text("Demo key ready")
    assert db.fetch_value("SELECT scopes FROM api_keys WHERE name LIKE 'demo-%%'") == ["search"]

    listbox = page.get_by_role("listbox", name="People found")
    _pick(page, "marie martin")
    options = listbox.get_by_role("option")
    expect(options.filter(has_text="Marie Martin")).to_have_count(2)
    sublines = [
        s.strip() for s in options.filter(has_text="Marie Martin").locator(".who-sub").all_inner_texts()
    ]
    assert len(set(sublines)) == 2 and all(sublines), sublines
    page.screenshot(path=str(SCREENSHOTS / "share-homonyms.png"))

    _pick(page, "helene lefevre")  # no accents
    expect(options.first).to_contain_text("Hélène Lefèvre")
    _pick(page, "heleen lefevre")  # one typo
    expect(options.first).to_contain_text("Hélène Lefèvre")

    # Keyboard: arrows move, Enter chooses; the federated id and e-mail show.
    _pick(page, "marie mar")
    expect(options.filter(has_text="Marie Martin")).to_have_count(2)
    page.wait_for_timeout(400)  # let the debounce settle: no late answer re-renders the list
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page.locator("#chosen")).to_be_visible()
    expect(page.locator("#chosen-email")).to_contain_text("@ac-")
    expect(page.locator("#chosen-id")).not_to_be_empty()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "share-chosen.png"), full_page=True)


def test_no_demo_key_outside_development(browser: Browser, settings: Settings, db: Database) -> None:
    prod = settings.model_copy(update={"environment": "prod"})
    with LiveServer(make_app(prod)) as live:
        context = browser.new_context(base_url=live.url)
        page = context.new_page()
        page.goto("/demo/share")
        expect(page.get_by_label("API key")).to_be_visible()
        expect(page.get_by_role("button", name="Get a demo key")).to_have_count(0)
        assert page.request.post("/demo/key", form={"token": "x"}).status == 404
        context.close()
    assert db.fetch_value("SELECT count(*) FROM api_keys") == 0
