#!/usr/bin/env bash
# The 1.2 million LDIF first import, two versions of the code alternately, each into a fresh
# database, with the raw read (parse only, one process) first and last: docs/benchmarks.md.
#
#   bench/ldif_alternate.sh BEFORE_DIR AFTER_DIR [PAIRS]
#
# BEFORE_DIR and AFTER_DIR are checkouts (a `git worktree` of the older commit, and this one);
# both run with this checkout's virtualenv. The files are those of
# `directory synth --people 1200000 --seed 1 --out /work/data/synth-1.2m` (LDIF_DIR overrides).
# PostgreSQL: the server of PGHOST/PGPORT/PGUSER (default 127.0.0.1:5432, postgres); the
# databases are named ldif_ab_<version><n> and dropped afterwards.
set -euo pipefail
before=$(realpath "$1") after=$(realpath "$2") pairs=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
py=$here/.venv/bin/python
data=${LDIF_DIR:-/work/data/synth-1.2m}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export DIRECTORY_SECRET_KEY=${DIRECTORY_SECRET_KEY:-bench-secret-key-that-is-long-enough-0123456789}
cli='from directory.cli import main; main()'

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }   # jiffies, all processes

raw() {
    (cd "$after" && /usr/bin/time -f "raw read: wall %e s, user %U s, sys %S s, peak %M kB" \
        "$py" -c "import sys; from importers.ldif import raw_read; raw_read(sys.argv[1:])" "$data"/ac-*.ldif)
}

one() {  # version dir, database
    local src=$1 db=$2
    dropdb --if-exists "$db" 2>/dev/null; createdb "$db"
    export DIRECTORY_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db"
    export DIRECTORY_DATA_DIR; DIRECTORY_DATA_DIR=$(mktemp -d)
    (cd "$src" && PYTHONPATH=$src "$py" -c "$cli" db migrate >/dev/null 2>&1)
    psql -q -d "$db" -c checkpoint
    local b0 b1; b0=$(busy)
    (cd "$src" && PYTHONPATH=$src /usr/bin/time -f "$db: wall %e s, user %U s, sys %S s, peak %M kB" \
        "$py" -c "$cli" import ldif --jobs 2 "$data"/ac-*.ldif 2>&1 >/dev/null | tail -n 1)
    b1=$(busy)
    echo "$db: both cores busy $(( (b1 - b0) / $(getconf CLK_TCK) )) CPU-s;" \
        "records $(psql -Atd "$db" -c 'SELECT count(*) FROM source_records')"
    dropdb "$db"; rm -rf "$DIRECTORY_DATA_DIR"
}

raw
for n in $(seq "$pairs"); do
    one "$after" "ldif_ab_after$n"
    one "$before" "ldif_ab_before$n"
done
raw
