"""A throw-away PostgreSQL server started from the machine's binaries (initdb, pg_ctl)."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from glob import glob

from tgflow.sim.server import free_port


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PostgresServer:
    def __init__(self) -> None:
        self.initdb = _binary("initdb")
        self.pg_ctl = _binary("pg_ctl")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tgflow-pg-")
        self.user: str | None = None

    def unavailable_reason(self) -> str | None:
        if not self.initdb or not self.pg_ctl:
            return "PostgreSQL binaries (initdb, pg_ctl) are not installed on this machine"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no 'postgres' user to run PostgreSQL as"
            self.user = "postgres"
        return None

    def _run(self, command: str) -> None:
        if self.user:
            subprocess.run(["su", self.user, "-s", "/bin/bash", "-c", command], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        else:
            subprocess.run(["bash", "-c", command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        if self.user:
            shutil.chown(self.dir, self.user, self.user)
        data = shlex.quote(os.path.join(self.dir, "data"))
        self._run(f"{self.initdb} -D {data} -A trust -U postgres --no-sync")
        opts = shlex.quote(f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off")
        self._run(f"{self.pg_ctl} -D {data} -o {opts} -l {shlex.quote(os.path.join(self.dir, 'log'))} -w start")
        deadline = time.monotonic() + 20
        import psycopg

        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        name = f"tg_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        data = shlex.quote(os.path.join(self.dir, "data"))
        try:
            self._run(f"{self.pg_ctl} -D {data} -m immediate -w stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
