"""The database the bot would use, for deploy/backup.sh and deploy/restore.sh (not for the bot itself).

    python deploy/database.py target     three lines: "sqlite" and the file's path, or "postgresql", libpq's
                                         URL for pg_dump / pg_restore without the password, and the password
    python deploy/database.py copy A B   SQLite's online backup of file A into file B, then B checked

DATABASE_URL, DATA_DIR and the .env files are read by the bot's own settings code, so this names the same
database as `bot.py run` would.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def target() -> None:
    from sqlalchemy.engine import URL, make_url

    from assistant.settings import Settings

    url = make_url(Settings().database_url)
    if url.get_backend_name() == "sqlite":
        print("sqlite", url.database or "", "", sep="\n")
    else:
        libpq = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database)
        print("postgresql", libpq.render_as_string(hide_password=False), url.password or "", sep="\n")


def copy(source: str, destination: str) -> None:
    """A consistent snapshot, even while the bot writes (WAL); refused if either side fails its check."""
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    (checked,) = reading.execute("PRAGMA quick_check").fetchone()
    if checked != "ok":
        sys.exit(f"{source} failed SQLite's check: {checked}")
    written = sqlite3.connect(destination)
    reading.backup(written)
    reading.close()
    (checked,) = written.execute("PRAGMA integrity_check").fetchone()
    written.close()
    if checked != "ok":
        sys.exit(f"the copy {destination} failed SQLite's check: {checked}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["target"]:
        target()
    elif sys.argv[1:2] == ["copy"] and len(sys.argv) == 4:
        copy(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
