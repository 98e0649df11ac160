"""The `sqlkeep serve` dashboard (src/dashboard.html) in a real browser (issue 16).

Headless Chromium, driven by Selenium through Debian's chromedriver, opens the page
against the real binary serving a real SQLite database: "Back up now" shows progress and
the new row arriving through Server-Sent Events; with `server.token_env` the page asks for
the token (window.prompt) and then works; incremental backups are marked in the list with
what they added, what they restore to and how many backups they depend on. The first test leaves its screenshot in
artifacts/dashboard.png and copies it to docs/dashboard.png (the README's picture).

Run by scripts/test-browser, which installs chromium, chromium-driver and selenium and
builds target/debug/sqlkeep (SQLKEEP_BIN names another binary).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SQLKEEP_BIN", ROOT / "target" / "debug" / "sqlkeep"))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACT = ROOT / "artifacts" / "dashboard.png"
DOC_PICTURE = ROOT / "docs" / "dashboard.png"
TOKEN_VAR = "SQLKEEP_BROWSER_TEST_TOKEN"

# Random blobs do not compress, so the backup really moves this many bytes (and a full
# verification reads them back): a second or more in a debug build, time enough for the
# page to show progress events.
DB_MEGABYTES = 48


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_database(path: Path, megabytes: int) -> None:
    """A WAL-mode database of `megabytes` MB of incompressible rows, plus a small table."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE employee (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hired TEXT)")
        con.executemany(
            "INSERT INTO employee (name, hired) VALUES (?, ?)",
            [(f"Employee {i}", f"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}") for i in range(500)],
        )
        con.execute("CREATE TABLE document (id INTEGER PRIMARY KEY, employee INTEGER, body BLOB)")
        blob = 64 * 1024
        con.executemany(
            "INSERT INTO document (employee, body) VALUES (?, ?)",
            ((i % 500 + 1, os.urandom(blob)) for i in range(megabytes * 1024 * 1024 // blob)),
        )
        con.commit()
    finally:
        con.close()


@dataclass
class Server:
    """`sqlkeep --config <file> serve`, a child process."""

    proc: subprocess.Popen
    url: str
    database: Path
    output: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: dict | None = None):
        """The JSON answer of one API request (no token)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGTERM: the server stops accepting requests and lets a running backup end.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def start_server(tmp_path, request):
    """start_server(megabytes, token=None, config=None) -> Server, stopped when the test
    ends; `config` adds keys to the configuration file."""
    if not BIN.is_file():
        pytest.fail(f"{BIN} is missing: run `cargo build --bin sqlkeep` (scripts/test-browser does)")

    def start(megabytes: int, token: str | None = None, config: dict | None = None) -> Server:
        # A short folder of its own, since the page shows the database's path (and the
        # screenshot goes into the README); the configuration stays in tmp_path.
        folder = Path(tempfile.mkdtemp(prefix="sqlkeep-browser-"))
        request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
        db = folder / "app.db"
        make_database(db, megabytes)
        port = free_port()
        settings = {
            "database": str(db),
            "schedule": "off",
            "server": {"listen": f"127.0.0.1:{port}"},
            "verify_after_backup": "full",
            **(config or {}),
        }
        env = dict(os.environ)
        env.pop(TOKEN_VAR, None)
        if token is not None:
            settings["server"]["token_env"] = TOKEN_VAR
            env[TOKEN_VAR] = token
        cfg = tmp_path / "sqlkeep.json"
        cfg.write_text(json.dumps(settings, indent=2))
        proc = subprocess.Popen(
            [str(BIN), "--config", str(cfg), "serve"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        server = Server(proc=proc, url="", database=db)
        request.addfinalizer(server.stop)  # runs before the folder's removal
        # Drain the output on a thread (so the server never blocks on a full pipe); the
        # first line says where it serves.
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in proc.stdout:
                server.output.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            pytest.fail("sqlkeep serve printed nothing in 60 s")
        if first is None or not first.startswith("sqlkeep serving http://"):
            time.sleep(0.5)
            pytest.fail(f"sqlkeep serve did not start: {''.join(server.output)!r}")
        server.url = first.split()[2]
        assert server.url == f"http://127.0.0.1:{port}/", first
        return server

    return start


@pytest.fixture
def driver(tmp_path_factory, request):
    """Headless Chromium at 1280x800 with a fresh profile, quit when the test ends."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        # The network is closed here: without these Chromium stalls on refused connections.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,800",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    # The tests answer window.prompt themselves (the default would dismiss it).
    options.unhandled_prompt_behavior = "ignore"
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile / "chromedriver.log"))
    drv = webdriver.Chrome(options=options, service=service)
    request.addfinalizer(drv.quit)
    drv.set_window_size(1280, 800)
    # The page itself 1280x800 too (the window's frame would take ~140 px of it), so the
    # screenshot is that size.
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    drv.set_page_load_timeout(30)
    return drv


def wait(drv, seconds: float = 30, poll: float = 0.05) -> WebDriverWait:
    return WebDriverWait(drv, seconds, poll_frequency=poll)


def headline_filled(drv) -> str | bool:
    text = drv.find_element(By.ID, "headline").text.strip()
    return text if text and text != "loading…" else False


# Records, inside the page, every state of #progress and #message (a MutationObserver
# sees each change, however short, that a poll from Python could miss).
RECORDER = """
window.__seen = [];
const note = () => window.__seen.push({
  progressVisible: !document.getElementById("progress").hidden,
  value: document.getElementById("progress").value,
  max: document.getElementById("progress").max,
  message: document.getElementById("message").textContent,
});
const observer = new MutationObserver(note);
for (const id of ["progress", "message"]) {
  observer.observe(document.getElementById(id),
                   {attributes: true, childList: true, characterData: true, subtree: true});
}
"""


def test_back_up_now_shows_progress_and_the_new_row(start_server, driver):
    server = start_server(DB_MEGABYTES)
    driver.get(server.url)
    headline = wait(driver).until(headline_filled)
    assert driver.title == "sqlkeep"
    assert driver.find_element(By.ID, "database").text.endswith("app.db")
    assert driver.find_elements(By.CSS_SELECTOR, "#backups tr") == []
    assert not driver.find_element(By.ID, "progress").is_displayed()
    # Give the event stream its moment to connect (it has no visible sign).
    time.sleep(0.5)
    driver.execute_script(RECORDER)

    driver.find_element(By.ID, "backup-now").click()

    # Poll quickly while the backup runs: the bar shows and the message counts up.
    polled = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = driver.execute_script(
            "return [!document.getElementById('progress').hidden,"
            " document.getElementById('message').textContent,"
            " document.querySelector('#backups tr[data-id$=\"-manual\"]') !== null];"
        )
        polled.append(state)
        if state[2]:
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"no -manual row in #backups after 120 s; server output: {''.join(server.output)!r}")

    seen = driver.execute_script("return window.__seen;")
    progress_messages = [s["message"] for s in seen if re.fullmatch(r"backing up \S+-manual: \d+%", s["message"])]
    assert progress_messages, f"no 'backing up … %' message seen: {seen}"
    assert any(s["progressVisible"] for s in seen), f"#progress never shown: {seen}"
    percents = [int(m.rsplit(" ", 1)[1].rstrip("%")) for m in progress_messages]
    assert percents == sorted(percents), percents
    assert len(set(percents)) > 1, f"progress did not move: {percents}"
    # The poll from Python, too, caught the bar on screen at least once.
    assert any(visible for visible, _, _ in polled), polled

    # The row arrives (refresh on the `backup_succeeded` event) and the bar goes away.
    row = driver.find_element(By.CSS_SELECTOR, '#backups tr[data-id$="-manual"]')
    backup_id = row.get_attribute("data-id")
    assert re.fullmatch(r"app-\d{8}T\d{6}Z-manual", backup_id), backup_id
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == backup_id and cells[1] == "manual", cells
    assert re.fullmatch(r"\d+(\.\d)? MB", cells[3]), cells
    assert cells[4] == "full ok", cells
    wait(driver).until(lambda d: not d.find_element(By.ID, "progress").is_displayed())
    assert driver.find_element(By.ID, "message").text == f"backup {backup_id} written"
    # Events reached the page through SSE: only onEvent writes the log.
    log = driver.find_element(By.ID, "log").text
    assert f"backup_started {backup_id}" in log, log
    assert f"backup_succeeded {backup_id}" in log, log
    # The run history and the statistics follow.
    wait(driver).until(lambda d: backup_id in d.find_element(By.ID, "history").text)
    history = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#history tr:first-child td")]
    assert history[1:3] == ["manual", "verified"] and history[4] == backup_id, history
    wait(driver).until(lambda d: "Backups 1 (" in d.find_element(By.ID, "stats").text)
    assert headline_filled(driver), headline

    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACT))
    assert ARTIFACT.stat().st_size > 10_000
    assert driver.execute_script("return [innerWidth, innerHeight];") == [1280, 800]
    DOC_PICTURE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACT, DOC_PICTURE)


def answer_prompts(drv, answer: str, seconds: float) -> list[str]:
    """Answers every window.prompt that opens within `seconds` (after the first, until
    none has opened for a second); returns their texts."""
    texts = []
    deadline = time.monotonic() + seconds
    quiet_since = None
    while time.monotonic() < deadline:
        try:
            alert = drv.switch_to.alert
        except NoAlertPresentException:
            if texts:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 1:
                    break
            time.sleep(0.05)
            continue
        quiet_since = None
        texts.append(alert.text)
        alert.send_keys(answer)
        alert.accept()
    return texts


def test_token_is_asked_for_then_the_page_works(start_server, driver):
    token = "browser-test-" + os.urandom(8).hex()
    server = start_server(2, token=token)
    # The page itself needs no token; its API calls do (401 without it).
    driver.get(server.url)
    try:
        wait(driver, 30).until(EC.alert_is_present())
    except TimeoutException:
        pytest.fail("the page did not ask for the token")
    prompts = answer_prompts(driver, token, 30)
    assert prompts and all("token" in p for p in prompts), prompts
    headline = wait(driver).until(headline_filled)
    assert driver.find_element(By.ID, "headline").get_attribute("class") != "error", headline
    assert driver.execute_script("return sessionStorage.getItem('sqlkeep-token');") == token
    wait(driver).until(lambda d: d.find_element(By.ID, "database").text.endswith("app.db"))

    # With the token the event stream connects too (it retries every 2 s): a backup's
    # events reach the log and its row arrives.
    time.sleep(2.5)
    driver.find_element(By.ID, "backup-now").click()
    wait(driver, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '#backups tr[data-id$="-manual"]')
        and "backup_succeeded" in d.find_element(By.ID, "log").text
    )
    assert "backup_started" in driver.find_element(By.ID, "log").text
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - no further prompt once the token is kept


def test_token_is_asked_for_once(start_server, driver):
    token = "browser-test-" + os.urandom(8).hex()
    server = start_server(1, token=token)
    driver.get(server.url)
    wait(driver, 30).until(EC.alert_is_present())
    prompts = answer_prompts(driver, token, 30)
    wait(driver).until(headline_filled)
    assert len(prompts) == 1, prompts


def test_cancel_stops_the_backup(start_server, driver):
    server = start_server(DB_MEGABYTES)
    driver.get(server.url)
    wait(driver).until(headline_filled)
    time.sleep(0.5)  # the event stream connects
    assert not driver.find_element(By.ID, "cancel").is_displayed()
    driver.find_element(By.ID, "backup-now").click()
    cancel = wait(driver, 60, 0.01).until(EC.visibility_of_element_located((By.ID, "cancel")))
    cancel.click()
    wait(driver, 60).until(
        lambda d: d.find_element(By.ID, "message").text == "backup cancelled; nothing was kept"
    )
    assert not driver.find_element(By.ID, "cancel").is_displayed()
    assert driver.find_elements(By.CSS_SELECTOR, "#backups tr") == []
    wait(driver, 30).until(
        lambda d: any("cancelled" in r.text for r in d.find_elements(By.CSS_SELECTOR, "#history tr"))
    )


def test_incremental_backups_are_marked(start_server, driver):
    server = start_server(2, config={"incremental": True})
    first = server.call("POST", "/api/backups?wait=true", {})
    with sqlite3.connect(server.database) as con:
        con.execute("UPDATE employee SET name = name || ' (moved)' WHERE id <= 20")
    inc = server.call("POST", "/api/backups?wait=true", {})
    assert inc["incremental"]["parent"] == first["id"], inc
    assert inc["size_bytes"] * 10 < first["size_bytes"], (inc, first)

    driver.get(server.url)
    wait(driver).until(headline_filled)
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#backups tr")) == 2)

    def size(n: int) -> str:
        """`n` bytes as the page writes sizes."""
        return driver.execute_script("return size(arguments[0]);", n)

    # Newest first: the incremental one, its size what it added (its changed pages), and
    # under its id the mark, the database it restores to and the backup it is rebuilt from.
    row = driver.find_element(By.CSS_SELECTOR, f'#backups tr[data-id="{inc["id"]}"]')
    assert row.get_attribute("data-incremental") == "1"
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    restores = f"restores to {size(inc['raw_size_bytes'])},"
    assert cells[0].splitlines() == [inc["id"], f"incremental {restores} depends on 1 backup"], cells
    assert cells[1:5] == ["manual", cells[2], "+" + size(inc["size_bytes"]), "full ok"], cells
    mark = row.find_element(By.CSS_SELECTOR, ".sub .incremental")
    assert mark.text == "incremental" and first["id"] in mark.get_attribute("title")
    depends = row.find_element(By.CSS_SELECTOR, ".sub .depends")
    assert depends.get_attribute("title") == f"rebuilt from {first['id']}"

    # The full backup it builds on: no mark, its whole file.
    row = driver.find_element(By.CSS_SELECTOR, f'#backups tr[data-id="{first["id"]}"]')
    assert row.get_attribute("data-incremental") is None
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == first["id"] and cells[3] == size(first["size_bytes"]), cells
    assert row.find_elements(By.CSS_SELECTOR, ".sub") == []

    # The statistics: what the folder holds against the databases the backups restore to.
    stats = server.call("GET", "/api/stats")
    assert stats["incremental"] == 1, stats
    wait(driver).until(lambda d: "On disk" in d.find_element(By.ID, "stats").text)
    cells = {
        r.find_element(By.CSS_SELECTOR, "td:first-child").text: r.find_element(By.CSS_SELECTOR, "td + td").text.splitlines()
        for r in driver.find_elements(By.CSS_SELECTOR, "#stats tr")
    }
    assert cells["Backups"] == [f"2 ({size(stats['total_bytes'])})", "1 incremental"], cells
    assert cells["On disk"] == [
        size(stats["bytes_on_disk"]),
        f"for {size(stats['raw_bytes'])} of databases",
    ], cells
