"""The admin review UI in a real browser (Debian's headless Chromium driven by Playwright), served by
the real application on a live port against this test's database."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from directory.config import Settings
from directory.db import Database
from directory.instances import Instance, sync_instances
from tests.conftest import require
from tests.ui_factories import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    SCREENSHOTS,
    LiveServer,
    ReviewData,
    admin,
    make_app,
    seed_review,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def data(db: Database) -> ReviewData:
    admin(db, "nadia")  # national
    admin(db, "lyon-admin", academy="10")
    return seed_review(db)


@pytest.fixture
def server(settings: Settings, data: ReviewData) -> Iterator[LiveServer]:
    with LiveServer(make_app(settings)) as live:
        yield live


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, username: str = "nadia", password: str = PASSWORD) -> None:
    page.goto("/admin/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()


def status_of(db: Database, candidate: int) -> str:
    return str(db.fetch_value("SELECT status FROM match_candidates WHERE id = %s", (candidate,)))


def person_of(db: Database, record: int) -> str:
    return str(db.fetch_value("SELECT person_id FROM record_links WHERE record_id = %s", (record,)))


def test_sign_in_then_work_through_the_queue_with_mouse_and_keyboard(
    page: Page, db: Database, data: ReviewData
) -> None:
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fadmin"))
    page.get_by_label("Username").fill("nadia")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong password")
    shot(page, "login")
    sign_in(page)

    # Most uncertain first: Martin (0.49), Lefèvre (0.56), Dupont (0.81).
    rows = page.locator("table[data-list] tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Nathalie MARTIN")
    expect(rows.nth(2)).to_contain_text("Jean-Pierre DUPONT")
    expect(page.locator(".counts")).to_contain_text("3pending")
    shot(page, "queue")

    # Mouse: open the first case, read it, merge.
    page.get_by_role("link", name=f"#{data.martin.candidate}").click()
    expect(page.get_by_role("heading", name=f"Case #{data.martin.candidate}")).to_be_visible()
    expect(page.locator("tr.different", has_text="Discipline")).to_contain_text("Mathématiques")
    expect(page.locator("table.weights")).to_contain_text("usage name identical")
    expect(page.locator("table.weights tfoot")).to_contain_text("+7.5")
    expect(page.locator(".actions")).to_contain_text("is merged into")
    shot(page, "case")
    page.get_by_role("button", name="Same person: merge").click()

    # The next case opens with the decision and its undo on top.
    expect(page.get_by_role("heading", name=f"Case #{data.lefevre.candidate}")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("merged person")
    assert status_of(db, data.martin.candidate) == "merged"
    assert person_of(db, data.martin.a) == person_of(db, data.martin.b)
    expect(page.locator("tr.cosmetic", has_text="Given name")).to_be_visible()  # Hélène / Helene
    shot(page, "case-after-merge")

    # Keyboard: j / k move between cases, d marks distinct, m merges.
    page.keyboard.press("j")
    expect(page.get_by_role("heading", name=f"Case #{data.dupont.candidate}")).to_be_visible()
    page.keyboard.press("k")
    expect(page.get_by_role("heading", name=f"Case #{data.lefevre.candidate}")).to_be_visible()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_contain_text("Keyboard shortcuts")
    shot(page, "shortcuts")
    page.keyboard.press("Escape")
    page.keyboard.press("d")
    expect(page.get_by_role("heading", name=f"Case #{data.dupont.candidate}")).to_be_visible()
    assert status_of(db, data.lefevre.candidate) == "distinct"
    page.keyboard.press("m")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    assert status_of(db, data.dupont.candidate) == "merged"
    expect(page.locator(".counts")).to_contain_text("0pending")

    # The queue keyboard: j focuses rows, Enter opens.
    page.goto("/admin?status=all")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Case #")).to_be_visible()

    # Every decision is in the audit log.
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator("tbody")).to_contain_text("nadia")
    shot(page, "audit")


def test_undo_from_the_banner_and_from_the_audit_log(page: Page, db: Database, data: ReviewData) -> None:
    sign_in(page)
    page.goto(f"/admin/cases/{data.martin.candidate}")
    page.get_by_role("button", name="Same person: merge").click()
    expect(page.get_by_role("status").first).to_contain_text("merged person")
    assert person_of(db, data.martin.a) == person_of(db, data.martin.b)
    page.keyboard.press("u")  # undo from the banner
    expect(page.get_by_role("status").first).to_contain_text("undid")
    assert (person_of(db, data.martin.a), person_of(db, data.martin.b)) == (
        data.martin.person_a,
        data.martin.person_b,
    )
    assert status_of(db, data.martin.candidate) == "pending"

    page.goto(f"/admin/cases/{data.lefevre.candidate}")
    page.get_by_role("button", name="Different people").click()
    page.goto("/admin/audit")
    page.locator("tbody tr", has_text="different people").get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status").first).to_contain_text("undid")
    assert status_of(db, data.lefevre.candidate) == "pending"
    assert db.fetch_value("SELECT count(*) FROM match_decisions WHERE revoked_at IS NULL") == 0


def test_split_a_person_choosing_which_records_go(page: Page, db: Database, data: ReviewData) -> None:
    sign_in(page)
    page.get_by_role("link", name="Suspicious clusters").click()
    expect(page.locator("tbody")).to_contain_text("different birth years")
    shot(page, "clusters")
    page.get_by_role("link", name="Sophie Bernard").click()
    expect(page.get_by_role("heading", name="Split this person")).to_be_visible()
    b1, b2, b3 = data.bernard_records
    page.get_by_label(f"new person 1 for record #{b3}").check()
    shot(page, "person-split")
    page.get_by_role("button", name="Split").click()
    expect(page.get_by_role("status").first).to_contain_text("split person")
    assert person_of(db, b1) == person_of(db, b2) == data.bernard
    new = person_of(db, b3)
    assert new != data.bernard
    assert db.fetch_value("SELECT status FROM persons WHERE id = %s", (new,)) == "active"
    kinds = db.fetch_all(
        "SELECT kind, count(*) AS n FROM match_decisions WHERE revoked_at IS NULL GROUP BY kind"
    )
    assert {r["kind"]: r["n"] for r in kinds} == {"must_link": 1, "cannot_link": 2}
    expect(page.locator(".records")).to_contain_text("different people")


def test_move_a_persons_home_instance_with_a_reason(page: Page, db: Database, data: ReviewData) -> None:
    sync_instances(
        db,
        [
            Instance("cloud-lyon", "lyon.cloud.example", 1000, ("10",)),
            Instance("cloud-any", "any.cloud.example", 1000),
        ],
    )
    db.execute("UPDATE persons SET home_instance = 'cloud-lyon' WHERE id = %s", (data.bernard,))
    sign_in(page)
    page.goto(f"/admin/persons/{data.bernard}")
    form = page.locator("form[action$='/move']")
    expect(form).to_contain_text("Shares reach this person on cloud-lyon")
    form.get_by_label("Move to").select_option("cloud-any")
    form.get_by_label("Reason").fill("works at the rectorate now")
    shot(page, "person-move")
    form.get_by_role("button", name="Move").click()
    banner = page.get_by_role("status").first
    expect(banner).to_contain_text("home instance cloud-lyon → cloud-any: works at the rectorate now")
    expect(banner.get_by_role("button", name="Undo")).to_have_count(0)  # moved back by another move
    expect(page.locator("form[action$='/move']")).to_contain_text("Shares reach this person on cloud-any")
    assert db.fetch_value("SELECT home_instance FROM persons WHERE id = %s", (data.bernard,)) == "cloud-any"
    row = db.fetch_one("SELECT actor, target, after FROM audit_log WHERE action = 'person.move'")
    assert row is not None and (row["actor"], row["target"]) == ("nadia", data.bernard)
    assert row["after"]["reason"] == "works at the rectorate now"

    # No reason, or an unknown instance: refused, nothing moves.
    token = page.locator("input[name=csrf_token]").first.input_value()
    for form_data, status in (
        ({"instance": "cloud-lyon", "reason": "  "}, 422),
        ({"instance": "nope", "reason": "x"}, 404),
    ):
        answer = page.request.post(
            f"/admin/persons/{data.bernard}/move", form={"csrf_token": token, **form_data}
        )
        assert answer.status == status
    assert db.fetch_value("SELECT home_instance FROM persons WHERE id = %s", (data.bernard,)) == "cloud-any"

    # An academy administrator moves only people of their academy (Dupont: Versailles, Aix-Marseille).
    page.context.clear_cookies()
    sign_in(page, "lyon-admin")
    page.goto(f"/admin/persons/{data.bernard}")
    token = page.locator("input[name=csrf_token]").first.input_value()
    answer = page.request.post(
        f"/admin/persons/{data.dupont.person_b}/move",
        form={"csrf_token": token, "instance": "cloud-lyon", "reason": "mine now"},
    )
    assert answer.status == 403
    assert db.fetch_value("SELECT home_instance FROM persons WHERE id = %s", (data.dupont.person_b,)) is None
    assert db.fetch_value("SELECT count(*) FROM audit_log WHERE action = 'person.move'") == 1


def test_academy_administrator_cannot_open_another_academys_case(
    page: Page, db: Database, data: ReviewData, server: LiveServer
) -> None:
    sign_in(page, "lyon-admin")
    body = page.locator("table[data-list] tbody")
    # Lyon is in the Martin and Lefèvre pairs, not in Dupont (Versailles / Aix-Marseille).
    expect(body.locator("tr")).to_have_count(2)
    expect(body).not_to_contain_text("DUPONT")
    expect(page.get_by_label("Academy")).to_be_disabled()

    response = page.goto(f"/admin/cases/{data.dupont.candidate}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Case not found")).to_be_visible()
    shot(page, "not-yours")

    # Even a well-formed POST with this session's token is refused.
    page.goto(f"/admin/cases/{data.martin.candidate}")
    token = page.locator("input[name=csrf_token]").first.input_value()
    answer = page.request.post(
        f"/admin/cases/{data.dupont.candidate}/merge", form={"csrf_token": token}, max_redirects=0
    )
    assert answer.status == 404
    assert status_of(db, data.dupont.candidate) == "pending"
    assert page.request.get(f"/admin/persons/{data.dupont.person_b}").status == 404


def test_a_forged_form_is_refused_and_nothing_changes(page: Page, db: Database, data: ReviewData) -> None:
    sign_in(page)
    page.goto(f"/admin/cases/{data.martin.candidate}")
    page.eval_on_selector_all(
        "input[name=csrf_token]", "els => els.forEach(e => { e.value = 'forged-token' })"
    )
    page.get_by_role("button", name="Same person: merge").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    assert status_of(db, data.martin.candidate) == "pending"

    # No token at all, and a token from another session, are refused too.
    assert page.request.post(f"/admin/cases/{data.martin.candidate}/merge", form={}).status == 403
    assert status_of(db, data.martin.candidate) == "pending"


def test_signing_out_ends_the_session_even_for_a_copied_cookie(page: Page, data: ReviewData) -> None:
    sign_in(page)
    cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.context.add_cookies(cookies)  # replay the cookie from before the sign-out
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_stale_session_refuses_the_form(
    browser: Browser, settings: Settings, db: Database, data: ReviewData
) -> None:
    short = settings.model_copy(update={"admin_session_idle_seconds": 2})
    with LiveServer(make_app(short)) as live:
        context = browser.new_context(base_url=live.url)
        page = context.new_page()
        sign_in(page)
        page.goto(f"/admin/cases/{data.martin.candidate}")
        time.sleep(3.2)  # longer than the idle lifetime
        page.get_by_role("button", name="Same person: merge").click()
        expect(page.get_by_role("alert")).to_contain_text("session expired")
        assert status_of(db, data.martin.candidate) == "pending"
        # Signing in again brings the administrator back to the case, which is still pending.
        page.get_by_label("Username").fill("nadia")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name=f"Case #{data.martin.candidate}")).to_be_visible()
        context.close()


def test_import_runs_and_quarantine_pages_hide_confidential_values(page: Page, db: Database) -> None:
    run = db.fetch_value(
        """INSERT INTO import_runs
               (feed, mode, status, ended_at, read, added, updated, removed, unchanged, quarantined)
           VALUES ('ac-lyon', 'full', 'ok', now(), 1200, 1180, 0, 0, 0, 2) RETURNING id"""
    )
    db.execute(
        """INSERT INTO quarantine (feed, run_id, dn, reason, detail, raw) VALUES
           ('ac-lyon', %s, 'uid=x1,ou=personnels,dc=ac-lyon', 'missing_surname', 'sn is empty',
            '{"uid": ["x1"], "employeeNumber": ["[redacted]"], "givenName": ["Paul"],
              "userPassword": ["{SSHA}abc"], "numen_hash": ["0123456789abcdef0123456789abcdef"]}'),
           ('ac-lyon', %s, 'uid=x2,ou=personnels,dc=ac-lyon', 'invalid_mail', NULL, '{"uid": ["x2"]}')""",
        (run, run),
    )
    sign_in(page)
    page.get_by_role("link", name="Imports").click()
    expect(page.locator("table").first).to_contain_text("ac-lyon")
    expect(page.locator("table").first).to_contain_text("1200")
    shot(page, "imports")
    page.get_by_role("link", name="Quarantine").click()
    expect(page.locator("table").first).to_contain_text("missing_surname")
    entry = page.locator("tbody tr", has_text="uid=x1")
    entry.get_by_text("Raw entry").click()
    raw = entry.locator("pre.json").inner_text()
    assert "Paul" in raw
    assert "{SSHA}" not in raw and "0123456789abcdef" not in raw
    shot(page, "quarantine")


def _directory(settings: Settings, tmp_path: Path, *args: str) -> None:
    env = {
        **os.environ,
        "DIRECTORY_DATABASE_URL": str(settings.database_url),
        "DIRECTORY_DATA_DIR": str(tmp_path / "data"),
        "DIRECTORY_SECRET_KEY": settings.hashing_secret(),
    }
    result = subprocess.run(
        [sys.executable, "-c", "from directory.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"directory {' '.join(args)}: {result.stderr[-2000:]}"


def test_a_human_separation_holds_when_matching_runs_again(
    browser: Browser, db: Database, settings: Settings, tmp_path: Path
) -> None:
    """On a real small dataset (synth, import, match): separate two records the engine linked,
    run matching again, and they stay apart."""
    if importlib.util.find_spec("directory.matchrun") is None:
        pytest.fail(
            "the matching runner (directory.matchrun, `directory match`, issue 4) is missing: "
            "cannot check that a later matching run honours a human decision"
        )
    _directory(
        settings, tmp_path, "synth", "--people", "1500", "--seed", "7", "--out", str(tmp_path / "synth")
    )
    _directory(
        settings, tmp_path, "import", "ldif", *sorted(str(p) for p in (tmp_path / "synth").glob("*.ldif"))
    )
    _directory(settings, tmp_path, "match", "--full")
    # A person the engine built from two records of two academies (a transfer, say).
    row = db.fetch_one(
        """SELECT l.person_id, array_agg(l.record_id ORDER BY l.record_id) AS records
           FROM record_links l JOIN source_records r ON r.id = l.record_id
           GROUP BY l.person_id HAVING count(*) = 2 AND count(DISTINCT r.academy_code) = 2
           ORDER BY l.person_id LIMIT 1"""
    )
    assert row is not None, "the engine linked no record across academies"
    person, (r1, r2) = row["person_id"], row["records"]
    admin(db, "nadia")
    with LiveServer(make_app(settings)) as live:
        context = browser.new_context(base_url=live.url)
        page = context.new_page()
        sign_in(page)
        page.goto(f"/admin/persons/{person}")
        page.get_by_label(f"new person 1 for record #{r2}").check()
        page.get_by_role("button", name="Split").click()
        expect(page.get_by_role("status").first).to_contain_text("split person")
        context.close()
    assert person_of(db, r1) == person and person_of(db, r2) != person
    assert (
        db.fetch_value(
            "SELECT count(*) FROM match_decisions WHERE kind = 'cannot_link' AND revoked_at IS NULL"
        )
        == 1
    )

    _directory(settings, tmp_path, "match", "--full")
    assert person_of(db, r1) != person_of(db, r2), (
        "a later matching run put the separated records back together"
    )
    assert person_of(db, r1) == person  # and the person kept its id
