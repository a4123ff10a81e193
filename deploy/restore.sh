#!/usr/bin/env bash
# Restore a backup made by deploy/backup.sh:   deploy/restore.sh --yes FILE
# Stop every bot process first (systemctl stop 'invoice-assistant*', or docker compose stop bot), restore,
# start them again. The database is the one the bot would use (see backup.sh).
#   SQLite:     the current file (and its -wal, -shm) is kept beside it as *.before-restore-<time>.
#   PostgreSQL: pg_restore --clean --if-exists, in one transaction: the backup's tables replace the
#               database's (a backup of an older release: run `bot.py db upgrade` before starting).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" != --yes || -z "${2:-}" ]]; then
  echo "usage: deploy/restore.sh --yes FILE   (replaces the database's contents: stop the bot first)" >&2
  exit 2
fi
FILE="$2"
[[ -f "$FILE" ]] || { echo "restore: no such file: $FILE" >&2; exit 1; }
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
mapfile -t DB < <("$PYTHON" "$ROOT/deploy/database.py" target)
[[ ${#DB[@]} -ge 2 ]] || { echo "restore: could not tell which database the bot uses" >&2; exit 1; }

if [[ "${DB[0]}" == sqlite ]]; then
  TARGET="${DB[1]}"
  STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$(dirname "$TARGET")"
  for suffix in "" -wal -shm; do
    if [[ -f "$TARGET$suffix" ]]; then mv "$TARGET$suffix" "$TARGET$suffix.before-restore-$STAMP"; fi
  done
  "$PYTHON" "$ROOT/deploy/database.py" copy "$FILE" "$TARGET"
  echo "restored $FILE into $TARGET"
else
  command -v pg_restore >/dev/null || { echo "restore: pg_restore is missing (apt-get install postgresql-client)" >&2; exit 1; }
  PGPASSWORD="${DB[2]:-${PGPASSWORD:-}}" pg_restore --clean --if-exists --no-owner --single-transaction \
    --exit-on-error --dbname="${DB[1]}" "$FILE"
  echo "restored $FILE into the PostgreSQL database"
fi
