#!/bin/bash
# The ARS atlas rows, in order of cost, one process each (--workers 1: the row's trials run in lockstep), niced,
# resumable: rerunning skips the stored trials. Usage: nohup atlas/pilots/run_rows.sh > /tmp/ars_rows.log 2>&1 &
set -u
cd "$(dirname "$0")/../.."
. .venv/bin/activate
export OMP_NUM_THREADS=1
for row in "$@"; do
  echo "== $row $(date -u +%FT%TZ)"
  nice -n 10 rlsub atlas run "atlas/protocols/$row.toml" --workers 1
done
