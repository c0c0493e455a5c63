"""A PostgreSQL cluster of its own in a temporary folder (initdb + pg_ctl), for tests and
bench/: never a shared server. Run as root (a container), the cluster belongs to the
`postgres` user, because PostgreSQL refuses to run as root."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from broker.config import free_port


def find_pg_bin() -> Path:
    """The folder with initdb and pg_ctl; fails (never skips) when PostgreSQL is missing."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += ["/usr/local/bin", "/usr/bin"]
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise RuntimeError("PostgreSQL (initdb, pg_ctl) not found: `make test` installs Debian's postgresql (scripts/system-deps.sh)")


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class RunningPostgres:
    directory: Path
    port: int
    bin: Path

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=xephang dbname={dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop"]),
                       check=False, capture_output=True, timeout=60)
        if self.directory.name.startswith("xephang-pg-"):
            shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(directory: Path, settings: str = "") -> RunningPostgres:
    """initdb a cluster in `directory` (trust on 127.0.0.1 only, superuser `xephang`),
    start it on a free port and wait until it accepts connections. `settings`: more
    `-c name=value` options (bench/national.py sizes its memory for a year's load)."""
    pg_bin = find_pg_bin()
    if os.geteuid() == 0:
        # pytest's folders are private to root: the postgres user gets one of its own.
        directory = Path(tempfile.mkdtemp(prefix="xephang-pg-"))
        shutil.chown(directory, "postgres", "postgres")
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    _run([str(pg_bin / "initdb"), "-D", str(data), "-U", "xephang", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
    port = free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory} -c fsync=off {settings}".strip()
    _run([str(pg_bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "-t", "60", "start"])
    return RunningPostgres(directory, port, pg_bin)


def _run(command: list[str]) -> None:
    done = subprocess.run(_as_owner(command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {(done.stderr or done.stdout)[-800:]}")
