"""A throwaway PostgreSQL cluster for tests that must run against the real server.

The Docker stack keeps Dagster's runs, events and daemon heartbeats in PostgreSQL, and SQLite
behaves differently (locking, schema migrations, connection handling), so the deployment's
dagster.yaml is only proven by a real server. No Docker engine is available to tests, so the
cluster is built from Debian's PostgreSQL binaries (installed by .ci/run) in a temporary
folder, listens on 127.0.0.1 on a free port, and is stopped and deleted afterwards.
PostgreSQL refuses to run as root, and CI runs as root, so the cluster then belongs to the
``postgres`` system user that the Debian package creates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

BINARIES = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
MISSING_BINARIES = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/<version>/bin; "
    ".ci/run installs them (apt-get install postgresql)"
)


@dataclass(frozen=True)
class PostgresServer:
    """Connection parameters of a running cluster, for one database on it."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def dagster_env(self) -> dict[str, str]:
        """The variables docker/dagster.yaml reads, as docker-compose.yml sets them."""
        return {
            "DAGSTER_POSTGRES_HOST": self.host,
            "DAGSTER_POSTGRES_PORT": str(self.port),
            "DAGSTER_POSTGRES_USER": self.user,
            "DAGSTER_POSTGRES_PASSWORD": self.password,
            "DAGSTER_POSTGRES_DB": self.database,
        }

    def connect(self) -> psycopg2.extensions.connection:
        """A direct connection, to look at what landed in the tables."""
        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=self.database, connect_timeout=10
        )


def server_binaries() -> Path:
    """The bin folder of the newest installed PostgreSQL major version; fails the test if there is none."""
    found = [
        folder / "bin"
        for folder in BINARIES.glob("*")
        if (folder / "bin" / "initdb").is_file() and (folder / "bin" / "pg_ctl").is_file()
    ]
    if not found:
        pytest.fail(MISSING_BINARIES, pytrace=False)
    return max(found, key=lambda b: tuple(int(part) for part in b.parent.name.split(".") if part.isdigit()))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_server_user(command: list[str]) -> list[str]:
    """Root hands the command to the ``postgres`` user; anyone else runs the cluster as themselves."""
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def run_checked(command: list[str], cwd: Path, log: Path | None = None) -> None:
    """Run a cluster command; on failure raise with its output and the server log, which say why."""
    done = subprocess.run(as_server_user(command), cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        server_log = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{server_log}")


def give_to_server_user(*paths: Path) -> None:
    """The cluster's folder must belong to the user the server runs as."""
    if os.geteuid() == 0:
        for path in paths:
            shutil.chown(path, SERVER_USER, SERVER_USER)


def create_database(server: PostgresServer, name: str) -> PostgresServer:
    """A new empty database on the same cluster, so each test gets its own Dagster storage."""
    connection = dataclasses.replace(server, database="postgres").connect()
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()
    return dataclasses.replace(server, database=name)


@contextlib.contextmanager
def postgres_server(user: str = "l1k", database: str = "l1k") -> Iterator[PostgresServer]:
    """Start a fresh cluster with a password-protected superuser and one database; remove it on exit.

    Durability settings are off (``fsync``, synchronous commit): the data dies with the test.
    The Unix socket lives in the temporary folder so the system's /var/run/postgresql is untouched.
    """
    binaries = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="l1k-pg-"))
    data, log, password_file = root / "data", root / "server.log", root / "password"
    password = secrets.token_hex(12)
    try:
        password_file.write_text(password)
        give_to_server_user(root, password_file)
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", user, f"--pwfile={password_file}"]
        run_checked([*initdb, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync"], root)
        port = free_port()
        settings = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off -c synchronous_commit=off"
        )
        pg_ctl = str(binaries / "pg_ctl")
        run_checked([pg_ctl, "-D", str(data), "-l", str(log), "-o", settings, "-w", "-t", "60", "start"], root, log)
        try:
            yield create_database(PostgresServer("127.0.0.1", port, user, password, "postgres"), database)
        finally:
            run_checked([pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"], root, log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
