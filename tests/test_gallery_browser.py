"""The gallery page, opened in a real browser (headless Chromium).

A page can be valid HTML and still show broken images or silent players;
only a browser tells. The test needs Debian's `chromium` and
`chromium-driver`; without them it is skipped, except in CI (CI=true),
where `.ci/run` installs them and their absence is a failure.
"""

import os
import re
import time
import urllib.parse

import pytest

from polyframe import gallery
from polyframe import writer as writer_lib
from test_writers import CHORALE, make_piece

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LOAD_TIMEOUT_S = 30.0


def _require_browser():
    """Skips (or, in CI, fails) unless Chromium, its driver and selenium exist."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    try:
        import selenium  # noqa: F401  (the `test` extra installs it)
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    reason = f"{' and '.join(missing)} missing"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run should install chromium and "
                    "chromium-driver (apt-get) and selenium (the test extra).")
    pytest.skip(f"{reason}; install chromium and chromium-driver (apt) and "
                "selenium to run the browser test")


@pytest.fixture(scope="module")
def gallery_page(tmp_path_factory):
    """Two pieces in every format (builtin audio) and their gallery."""
    folder = tmp_path_factory.mktemp("gallery")
    second = [(v, p + 2, o, d) for v, p, o, d in CHORALE]
    pieces = [
            make_piece(folder / "sample_000", title="Sample <1> & more",
                       metadata={"primer": "first 8 events of bwv1.6",
                                 "nll_per_generated_note": 1.23456, "rank": 1}),
            make_piece(folder / "sample_001", second, key_fifths=None,
                       primer_end_time=None, title="Sample 2",
                       metadata={"nll_per_generated_note": 1.5, "rank": 2}),
    ]
    writers = writer_lib.make_writers(options={"wav": {"renderer": "builtin"}})
    writer_lib.write_all(writers, pieces)
    os.remove(pieces[1].stem + ".png")  # A missing file must not be linked.
    path = gallery.write_gallery(str(folder), pieces, {
            "config": "duration_rnn <test>",
            "metrics": {"valid_nll_per_note": 1.1, "test_bits_per_note": 1.7,
                        "steps": 300}})
    return path


def test_gallery_html_escapes_and_links_only_existing_files(gallery_page):
    folder = os.path.dirname(gallery_page)
    page = open(gallery_page, encoding="utf-8").read()
    assert "Sample &lt;1&gt; &amp; more" in page
    assert "duration_rnn &lt;test&gt;" in page
    assert "valid NLL per note (nats)" in page and "1.1000" in page
    assert "first 8 events of bwv1.6" in page
    assert "<script" not in page
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    files = [link for link in links if not link.startswith("data:")]
    assert files
    for link in files:
        assert "//" not in link and not os.path.isabs(link), link
        assert os.path.isfile(os.path.join(folder, urllib.parse.unquote(link))), link
    assert "sample_001.png" not in page
    for name in ("sample_000.svg", "sample_000.png", "sample_000.wav",
                 "sample_000.mid", "sample_000.musicxml", "sample_001.svg"):
        assert f'"{name}"' in page


def test_gallery_shows_every_image_and_audio_in_chromium(gallery_page, tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--mute-audio",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(LOAD_TIMEOUT_S)
        driver.get("file://" + os.path.abspath(gallery_page))
        _wait_until(driver, "return document.readyState === 'complete' && "
                    "Array.from(document.images).every(i => i.complete) && "
                    "Array.from(document.querySelectorAll('audio'))"
                    ".every(a => a.readyState >= 1 || a.error !== null);")
        images = driver.execute_script(
                "return Array.from(document.images).map("
                "i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]);")
        audios = driver.execute_script(
                "return Array.from(document.querySelectorAll('audio')).map("
                "a => [a.getAttribute('src'), a.duration, a.error && a.error.code]);")
        log = driver.get_log("browser")
    finally:
        driver.quit()

    assert len(images) == 3  # Two scores, one piano roll.
    for src, width, height in images:
        assert width > 0 and height > 0, f"{src} did not load"
    assert len(audios) == 2
    for src, duration, error in audios:
        assert error is None and (duration or 0) > 0, (
                f"{src}: duration {duration}, error {error}")
    assert [entry for entry in log if entry["level"] == "SEVERE"] == []


def _wait_until(driver, script: str) -> None:
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            pytest.fail(f"the page did not finish loading in {LOAD_TIMEOUT_S:g} s")
        time.sleep(0.05)
