"""The built-in page in headless Chromium: sign in with a token, upload an image, read the answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_page_login_upload_answer_in_chromium(live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    url, token, _, _ = live_server("--model", "always:No pleural effusion.", "--backend", "mock", "--phi", "mask")
    image = tmp_path / "chest.png"
    Image.new("L", (64, 64), 90).save(image)
    errors: list[str] = []
    outside: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
            page.goto(url + "/", wait_until="load")
            page.fill("#token", token)
            page.click("#signin")
            page.wait_for_selector("#ask:not([hidden])", timeout=10_000)
            assert page.input_value("#model") == "always:No pleural effusion."
            page.set_input_files("#image", str(image))
            page.wait_for_selector("#preview:not([hidden])", timeout=10_000)
            page.fill("#question", "Patient Quillon Vexbridge, MRN 48151623: is there an effusion?")
            page.click("#send")
            page.wait_for_selector("#answer:not(:empty)", timeout=20_000)  # the CSP forbids eval'd waits
            answer = page.text_content("#answer")
            warnings = page.text_content("#warnings") or ""
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "serve-page.png"), full_page=True)
        finally:
            browser.close()
    assert answer == "No pleural effusion."
    assert "masked" in warnings and "name" in warnings and "Vexbridge" not in warnings
    assert errors == [] and outside == []
