#!/usr/bin/env bash
# Back up the assistant's database into a folder:   deploy/backup.sh [FOLDER]   (default: ./backups)
# The database is the one the bot would use (DATABASE_URL from the environment, DATA_DIR/.env or the
# project's .env: deploy/database.py asks the bot's settings). PYTHON: .venv/bin/python, else python3.
#   SQLite:     a consistent copy by SQLite's online backup API (safe while the bot runs), checked.
#   PostgreSQL: pg_dump --format=custom (safe while the bot runs).
# Prints the backup file's path. Keep backups off the machine, and try a restore now and then.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FOLDER="${1:-backups}"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
mapfile -t DB < <("$PYTHON" "$ROOT/deploy/database.py" target)
[[ ${#DB[@]} -ge 2 ]] || { echo "backup: could not tell which database the bot uses" >&2; exit 1; }
mkdir -p "$FOLDER"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"

if [[ "${DB[0]}" == sqlite ]]; then
  [[ -f "${DB[1]}" ]] || { echo "backup: no SQLite database at ${DB[1]} (check DATABASE_URL / DATA_DIR)" >&2; exit 1; }
  OUT="$FOLDER/assistant-$STAMP.sqlite3"
  "$PYTHON" "$ROOT/deploy/database.py" copy "${DB[1]}" "$OUT"
else
  command -v pg_dump >/dev/null || { echo "backup: pg_dump is missing (apt-get install postgresql-client)" >&2; exit 1; }
  OUT="$FOLDER/assistant-$STAMP.dump"
  PGPASSWORD="${DB[2]:-${PGPASSWORD:-}}" pg_dump --format=custom --no-owner --file="$OUT" --dbname="${DB[1]}"
fi
echo "$OUT"
