"""The Dagster UI in a real browser, on the runs ``l1k materialize`` recorded.

What a user does after the main command: ``l1k ui``, look at the asset graph, open the
classifier's page to see its metrics and plots, press Materialize. This test does the same
with the real webserver (``dagster dev`` on a free loopback port) and headless Chromium,
and checks what is rendered, not what the GraphQL API returns: the UI is a React app, so a
page is only right once the browser has run it.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``)
rather than with ``--dump-dom``: Dagster shows Markdown metadata longer than 1000
characters (every inline PNG plot) behind a "[Show Markdown]" button, so seeing a plot
takes a click, and waiting for a condition in real time is steadier than guessing a
virtual-time budget on a busy machine. Screenshots go to ``test-artifacts/``.

The server runs on a copy of the materialized home, so the run the test launches (and any
sensor tick the daemon makes) cannot change what other tests read from the session's home.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import dagster_webserver
import pytest
from dagster_graphql import DagsterGraphQLClient
from hypothesis import given, settings
from hypothesis import strategies as st

from l1k_assets.fileio import atomic_write_bytes
from tests.conftest import PROJECT_ROOT, MaterializedHome
from tests.webserver import Webserver, dagster_dev, listening_hosts, parse_listening, server_info

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
WINDOW = (1600, 1000)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]
INDICATION_GRAPH = "/locations/l1k_jobs.definitions:defs/asset-groups/indication"
GRAPH_ASSETS = ["core_tumor_normal_deltas", "out_delta_exploration", "model_indication_classifier", "out_indication_genes"]
PLOT_ASSET, PLOT_KEY = "model_indication_classifier", "reliability_plot"
LAUNCHED_ASSET = "core_tumor_normal_deltas"
PAGE_TIMEOUT = 90.0
RUN_TIMEOUT = 240.0
_DATA_PNG = re.compile(r"!\[(?P<alt>[^\]]*)\]\(data:image/png;base64,(?P<b64>[A-Za-z0-9+/=]+)\)")


def _pipe_above(minimum: int = 10) -> tuple[int, int]:
    """A close-on-exec pipe numbered above ``minimum``, so mapping its ends onto fds 3 and 4 cannot clobber either."""
    ends = os.pipe()
    high = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, minimum) for fd in ends)
    for fd in ends:
        os.close(fd)
    return high[0], high[1]


class HeadlessChromium:
    """Headless Chromium spoken to in the DevTools protocol: NUL-terminated JSON on fds 3 (in) and 4 (out).

    One page target, attached in flat mode so that page commands carry its session id.
    The browser runs in a session of its own and is killed as a group if it does not close.
    """

    def __init__(self, profile: Path, log_path: Path) -> None:
        to_browser_read, self._to_browser = _pipe_above()
        self._from_browser, from_browser_write = _pipe_above()
        argv = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        with open(log_path, "ab") as log:
            actions = [(os.POSIX_SPAWN_DUP2, to_browser_read, 3), (os.POSIX_SPAWN_DUP2, from_browser_write, 4)]
            actions += [(os.POSIX_SPAWN_DUP2, log.fileno(), 1), (os.POSIX_SPAWN_DUP2, log.fileno(), 2)]
            self.pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=True)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._log_path = log_path
        self._buffer = b""
        self._last_id = 0
        self._session = ""
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            viewport = {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False}
            self.call("Emulation.setDeviceMetricsOverride", viewport, page=True)
        except BaseException:
            self.close()
            raise

    def _receive(self, deadline: float) -> dict[str, Any]:
        """The next message from the browser (a reply or an event)."""
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"Chromium did not answer in time (its log: {self._log_path})")
            if select.select([self._from_browser], [], [], remaining)[0]:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise ConnectionError(f"Chromium closed its DevTools pipe (its log: {self._log_path})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = False, timeout: float = 60.0) -> dict:
        """Send one command (to the page's session when ``page``) and return its result; events are skipped."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self._session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data) :]
        deadline = time.monotonic() + timeout
        while (reply := self._receive(deadline)).get("id") != self._last_id:
            pass
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises awaited)."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        result = self.call("Runtime.evaluate", params, page=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = PAGE_TIMEOUT) -> Any:
        """Poll ``expression`` until it is truthy; fail with the page's text if it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        text = self.evaluate("document.body ? document.body.innerText : ''") or ""
        raise AssertionError(f"{what} not rendered within {timeout:.0f} s; the page shows:\n{text[:3000]}")

    def open(self, url: str) -> None:
        """Navigate the page to ``url`` (rendering is waited for with ``wait_for``)."""
        self.call("Page.navigate", {"url": url}, page=True)

    def screenshot(self, dest: Path) -> bytes:
        """Capture the viewport as PNG, write it atomically to ``dest`` and return the bytes."""
        png = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, page=True)["data"])
        atomic_write_bytes(dest, png)
        return png

    def close(self) -> None:
        """Ask the browser to quit; kill its process group if it has not within 10 s."""
        with contextlib.suppress(OSError, TimeoutError, ConnectionError, RuntimeError):
            self.call("Browser.close", timeout=10)
        deadline = time.monotonic() + 10
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self._to_browser)
        os.close(self._from_browser)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16–24, after the signature and chunk header)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def texts_present(names: list[str]) -> str:
    """A page expression: true once every name is in the rendered document's text."""
    return f"{json.dumps(names)}.every(n => document.body && document.body.textContent.includes(n))"


def click_show_markdown(key: str) -> str:
    """A page expression: press "[Show Markdown]" in the metadata row of ``key``; true if the row has that button."""
    return f"""(() => {{
        const key = {json.dumps(key)};
        const row = [...document.querySelectorAll('tr')]
            .find(r => r.cells.length && r.cells[0].textContent.trim() === key);
        const button = row && [...row.querySelectorAll('*')]
            .find(e => e.children.length === 0 && e.textContent.trim() === '[Show Markdown]');
        if (button) button.click();
        return Boolean(button);
    }})()"""


# A page expression: the first decoded inline PNG, with the text of the dialog around it.
SHOWN_PNG = """(() => {
    const img = [...document.images]
        .find(i => i.src.startsWith('data:image/png;base64,') && i.complete && i.naturalWidth > 0);
    const dialog = img && img.closest('[role="dialog"]');
    return img && {alt: img.alt, title: dialog && dialog.textContent, width: img.naturalWidth,
                   height: img.naturalHeight, b64: img.src.split(',')[1]};
})()"""

# The graph draws its nodes first and fills in each node's status ("Loading..." until then).
STATUS_LOADED = "document.body.textContent.includes('Materialized') && !document.body.textContent.includes('Loading...')"


@dataclass
class UiHome:
    """The webserver and the copy of the materialized home it serves."""

    server: Webserver
    dagster_home: Path

    def instance(self) -> dg.DagsterInstance:
        """The instance the webserver records runs in."""
        return dg.DagsterInstance.from_config(str(self.dagster_home))


@pytest.fixture(scope="module")
def ui(tiny_home: MaterializedHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiHome]:
    """``dagster dev`` with the same environment ``l1k ui`` sets, on a copy of the tiny home."""
    root = tmp_path_factory.mktemp("ui")
    home = shutil.copytree(tiny_home.home, root / "l1k_home")
    dagster_home = home / tiny_home.dagster_home.relative_to(tiny_home.home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("L1K_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(dagster_home), L1K_HOME=str(home), L1K_SCALE="tiny", L1K_MODE="embedded")
    with dagster_dev(PROJECT_ROOT, env, root / "dagster-dev.log") as server:
        yield UiHome(server, dagster_home)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadlessChromium]:
    """One headless Chromium for the module; its absence is a failure, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install --no-install-recommends chromium)")
    root = tmp_path_factory.mktemp("chromium")
    chromium = HeadlessChromium(root / "profile", root / "chromium.log")
    try:
        yield chromium
    finally:
        chromium.close()


def _proc_hex(packed: bytes) -> str:
    """How the kernel prints an address in /proc/net/tcp*: each 32-bit word as a host-order integer."""
    return "".join(f"{int.from_bytes(packed[i : i + 4], sys.byteorder):08X}" for i in range(0, len(packed), 4))


def _proc_line(slot: int, packed: bytes, port: int, state: str) -> str:
    """One row of /proc/net/tcp* with the given local address, port and state."""
    local, remote = f"{_proc_hex(packed)}:{port:04X}", f"{_proc_hex(packed)}:0000"
    return f"{slot:4d}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000 0 0 7 1"


PROC_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"


def test_parse_listening_reads_hand_written_table() -> None:
    """127.0.0.1:8080 and 0.0.0.0:22 listen; an established connection on 8080 is not a listener."""
    loopback = "0100007F" if sys.byteorder == "little" else "7F000001"
    table = "\n".join(
        [
            PROC_HEADER,
            f"   0: {loopback}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
            "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 2 1",
            f"   2: {loopback}:1F90 {loopback}:D431 01 00000000:00000000 00:00000000 00000000 0 0 3 1",
        ]
    )
    assert parse_listening(table) == {("127.0.0.1", 8080), ("0.0.0.0", 22)}
    v6_loopback = "00000000000000000000000001000000" if sys.byteorder == "little" else "00000000000000000000000000000001"
    v6 = f"{PROC_HEADER}\n   0: {v6_loopback}:0BB8 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0"
    assert parse_listening(v6) == {("::1", 3000)}


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.ip_addresses(), st.integers(0, 65535), st.sampled_from(["0A", "01", "06", "08"])), max_size=6))
def test_parse_listening_round_trips_kernel_format(rows: list[tuple[Any, int, str]]) -> None:
    """Whatever addresses the kernel prints (IPv4 and IPv6 rows mixed), exactly the LISTEN rows come back."""
    table = "\n".join([PROC_HEADER, *(_proc_line(i, ip.packed, port, state) for i, (ip, port, state) in enumerate(rows))])
    assert parse_listening(table) == {(str(ip), port) for ip, port, state in rows if state == "0A"}


def test_webserver_listens_on_loopback_only(ui: UiHome) -> None:
    """The UI launches runs on request: it must listen on 127.0.0.1 and nowhere else."""
    assert listening_hosts(ui.server.port) == {"127.0.0.1"}
    assert server_info(ui.server.url)["dagster_webserver_version"] == dagster_webserver.__version__


def test_asset_graph_shows_the_indication_assets(ui: UiHome, browser: HeadlessChromium) -> None:
    """The indication group's lineage graph renders its asset nodes by name."""
    browser.open(ui.server.url + INDICATION_GRAPH)
    browser.wait_for(f"{texts_present(GRAPH_ASSETS)} && {STATUS_LOADED}", f"asset graph nodes {GRAPH_ASSETS} with their status")
    png = browser.screenshot(ARTIFACTS / "ui_asset_graph.png")
    assert png_size(png) == WINDOW


def test_asset_page_shows_the_reliability_plot(ui: UiHome, browser: HeadlessChromium, tiny_home: MaterializedHome) -> None:
    """The classifier's page lists its metrics; its reliability plot opens as the very PNG that was recorded."""
    recorded = _DATA_PNG.fullmatch(tiny_home.metadata(PLOT_ASSET)[PLOT_KEY].value)
    assert recorded is not None, "the reliability plot is not an inline PNG in the metadata"
    expected_size = png_size(base64.b64decode(recorded["b64"]))

    browser.open(f"{ui.server.url}/assets/{PLOT_ASSET}")
    browser.wait_for(texts_present([PLOT_ASSET, "balanced_accuracy", "ece", PLOT_KEY]), "the classifier's metadata")
    assert not browser.evaluate(SHOWN_PNG), "a PNG is shown before the button was pressed"
    assert browser.evaluate(click_show_markdown(PLOT_KEY)), f"no [Show Markdown] button in the {PLOT_KEY} row"
    shown = browser.wait_for(SHOWN_PNG, "the reliability plot image")
    browser.screenshot(ARTIFACTS / "ui_asset_plot.png")
    assert shown["alt"] == recorded["alt"] == "reliability"
    assert shown["title"] is not None and PLOT_KEY in shown["title"], "the plot is not in a dialog titled with its metadata key"
    assert (shown["width"], shown["height"]) == expected_size
    assert shown["b64"] == recorded["b64"]


def test_materialize_from_the_ui_api_records_a_new_materialization(ui: UiHome) -> None:
    """Launch what the Materialize button launches (the implicit asset job, one asset selected) and wait for it."""
    with ui.instance() as instance:
        before = instance.get_latest_materialization_event(dg.AssetKey(LAUNCHED_ASSET))
    assert before is not None, f"{LAUNCHED_ASSET} was not materialized by l1k materialize"

    client = DagsterGraphQLClient(ui.server.host, port_number=ui.server.port, timeout=60)
    run_id = client.submit_job_execution("__ASSET_JOB", asset_selection=[LAUNCHED_ASSET])
    deadline = time.monotonic() + RUN_TIMEOUT
    while (status := client.get_run_status(run_id)) not in {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}:
        assert status != dg.DagsterRunStatus.CANCELED, f"run {run_id} was canceled"
        assert time.monotonic() < deadline, (
            f"run {run_id} still {status.value} after {RUN_TIMEOUT:.0f} s:\n{ui.server.log_tail()}"
        )
        time.sleep(1)

    with ui.instance() as instance:
        if status != dg.DagsterRunStatus.SUCCESS:
            failures = [
                e.dagster_event.event_specific_data.error
                for e in instance.all_logs(run_id)
                if e.is_dagster_event and e.dagster_event.is_step_failure
            ]
            pytest.fail(f"run {run_id} ended {status.value}: {[err.to_string() for err in failures]}")
        after = instance.get_latest_materialization_event(dg.AssetKey(LAUNCHED_ASSET))
        run = instance.get_run_by_id(run_id)
    assert run is not None and run.asset_selection == {dg.AssetKey(LAUNCHED_ASSET)}
    assert after is not None and after.run_id == run_id != before.run_id
    assert after.timestamp > before.timestamp
    recorded, relaunched = before.asset_materialization.metadata, after.asset_materialization.metadata
    assert relaunched.keys() == recorded.keys()
    assert relaunched["table_sha256"] == recorded["table_sha256"], "same inputs, same code: the table must be byte-identical"
