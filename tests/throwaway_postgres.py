"""A PostgreSQL cluster of a test's own (initdb in a temporary directory, a free port) to stop and start at will.

Tests that need the database to die use this, never the machine's server, which other runs may be using.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from pathlib import Path

from assistant.store.engine import make_engine
from assistant.store.migrate import upgrade


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: the PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest first)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name,
                      reverse=True)
    return versions[0].parent if versions else None


def available() -> bool:
    return _bindir() is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowawayPostgres:
    """One cluster: created on `create`, stopped and started by the test, removed on `destroy`."""

    def __init__(self, settings: dict[str, str] | None = None, fsync: bool = False) -> None:
        """`settings`: the server's configuration beyond the defaults (`-c name=value`); `fsync` off unless told
        (tests do not need their data to survive a crash of the machine)."""
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("initdb was not found (install PostgreSQL's server package)")
        self._bin = bindir
        self._root = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
        self.data = self._root / "data"
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._settings = {**(settings or {}), **({} if fsync else {"fsync": "off"})}

    def _as_owner(self, *argv: str) -> list[str]:
        """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    async def _run(self, *argv: str) -> None:
        process = await asyncio.create_subprocess_exec(*self._as_owner(*argv), stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.STDOUT)
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {output.decode(errors='replace')}")

    async def create(self, migrate: bool = True) -> None:
        """initdb, start and (unless told not to) migrate."""
        if os.geteuid() == 0:
            shutil.chown(self._root, "postgres", "postgres")
        await self._run(str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                        "--no-sync", "-E", "UTF8", "--locale=C")
        await self.start()
        if not migrate:
            return
        engine = make_engine(self.url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    async def start(self) -> None:
        options = f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1" + "".join(
            f" -c {name}={value}" for name, value in self._settings.items())
        await self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                        "-l", str(self._root / "server.log"), "-w", "start")

    async def stop(self) -> None:
        await self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    async def destroy(self) -> None:
        try:
            await self.stop()
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self._root, ignore_errors=True)
