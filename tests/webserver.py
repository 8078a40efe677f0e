"""Start and stop the Dagster UI (``dagster dev``) for tests, on a free loopback port.

``dagster dev`` is a tree of processes: the webserver, the daemon, a code server and one
worker per launched run. Started in the background it ignores SIGINT and SIGTERM (the shell
leaves them ignored), and a survivor would keep the port and the SQLite files of the next
test. So the helper starts the tree the way ``l1k ui`` does (``l1k_jobs.processes``: one
process group, default signal dispositions), waits until the webserver has loaded every code
location, and on exit interrupts that group (so ``dagster dev`` shuts its children down
cleanly), then kills whatever of the group is left.

It also reads the kernel's socket table, so a test can check which address the UI listens
on: the UI runs code on request and must be reachable from this machine only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from l1k_jobs.processes import start_group, stop_group

LOOPBACK = "127.0.0.1"
_TCP_LISTEN = "0A"  # st column of /proc/net/tcp* for a listening socket
_PROC_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


@dataclass(frozen=True)
class Webserver:
    """A running ``dagster dev``: its process (the group leader), address and log file."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL of the UI and of its GraphQL endpoint (``/graphql``)."""
        return f"http://{self.host}:{self.port}"

    def log_tail(self, n_chars: int = 6000) -> str:
        """The end of the combined stdout/stderr, for failure messages."""
        return self.log_path.read_text(errors="replace")[-n_chars:] if self.log_path.exists() else ""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def decode_proc_address(field: str) -> tuple[str, int]:
    """Decode a ``local_address`` field of ``/proc/net/tcp{,6}`` (``0100007F:1F90``) to (ip, port).

    The kernel prints the address as 32-bit words in host byte order, so each word is
    reversed on little-endian machines; the port is plain big-endian hex. Eight hex digits
    are an IPv4 address, thirty-two an IPv6 one.
    """
    hex_ip, hex_port = field.split(":")
    raw = bytes.fromhex(hex_ip)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw)), int(hex_port, 16)


def parse_listening(table: str) -> set[tuple[str, int]]:
    """The (ip, port) pairs in LISTEN state in the text of one ``/proc/net/tcp{,6}`` table."""
    rows = (line.split() for line in table.splitlines()[1:])
    return {decode_proc_address(row[1]) for row in rows if len(row) > 3 and row[3] == _TCP_LISTEN}


def listening_hosts(port: int) -> set[str]:
    """Every local address with a socket listening on ``port`` (IPv4 and IPv6)."""
    found: set[str] = set()
    for path in _PROC_TABLES:
        with contextlib.suppress(FileNotFoundError):
            found |= {ip for ip, p in parse_listening(Path(path).read_text()) if p == port}
    return found


_LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def server_info(url: str) -> dict:
    """The webserver's ``/server_info`` JSON (its own and Dagster's versions)."""
    with urllib.request.urlopen(f"{url}/server_info", timeout=10) as response:
        return json.loads(response.read())


def _post_json(url: str, payload: dict) -> dict:
    """POST ``payload`` as JSON and decode the JSON answer."""
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _locations_loaded(url: str) -> bool:
    """True once the webserver answers and every code location has loaded; a load error is raised."""
    try:
        answer = _post_json(f"{url}/graphql", {"query": _LOCATIONS_QUERY})
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return False
    if "data" not in answer:
        raise RuntimeError(f"the webserver refused the workspace query: {answer}")
    workspace = answer["data"]["workspaceOrError"]
    entries = workspace.get("locationEntries")
    if entries is None:
        raise RuntimeError(f"the webserver could not read its workspace: {workspace}")
    errors = {e["name"]: e["locationOrLoadError"]["message"] for e in entries if (e["locationOrLoadError"] or {}).get("message")}
    if errors:
        raise RuntimeError(f"code location failed to load: {errors}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def wait_until_ready(server: Webserver, timeout: float) -> None:
    """Poll until the UI answers with every code location loaded; fail early, with the log, if the process died.

    ``/server_info`` answers before the definitions are imported; a page or a launch in that
    window would see an empty or loading workspace, so readiness is the workspace's.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {server.process.returncode}:\n{server.log_tail()}")
        if _locations_loaded(server.url):
            return
        time.sleep(0.5)
    raise TimeoutError(
        f"dagster dev at {server.url} did not load its code locations within {timeout:.0f} s:\n{server.log_tail()}"
    )


@contextlib.contextmanager
def dagster_dev(
    project_root: Path,
    env: Mapping[str, str],
    log_path: Path,
    *,
    host: str = LOOPBACK,
    ready_timeout: float = 180.0,
) -> Iterator[Webserver]:
    """Run ``dagster dev -w workspace.yaml`` on a free port of ``host`` for the duration of the block.

    ``env`` is the whole environment of the server (DAGSTER_HOME, L1K_HOME, ...). The group
    is stopped on the way out, whether the block or the start-up failed.
    """
    port = free_port(host)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(project_root / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = start_group(command, env, cwd=project_root, stdout=log, stderr=subprocess.STDOUT)
    server = Webserver(process, host, port, log_path)
    try:
        wait_until_ready(server, ready_timeout)
        yield server
    finally:
        stop_group(process)
