#!/usr/bin/env bash
# Stop the cluster started by scripts/slurm-local-start.sh: kill exactly the PIDs it recorded,
# then remove the /etc/slurm files it wrote (only if they carry its marker) and its state folder.
#   scripts/slurm-local-stop.sh [STATE_DIR]   (default: $MSAFLOW_SLURM_STATE or /tmp/msaflow-slurm)
set -uo pipefail

STATE=${1:-${MSAFLOW_SLURM_STATE:-/tmp/msaflow-slurm}}
MARKER="# msaflow-local-test-cluster"

stop_pid() {  # name pidfile
  local name=$1 file=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm-local-stop: $name ($pid) ignored SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$file"
}

# Cancel our jobs first so no job step outlives the daemons.
if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
  ids=$(squeue -h -o %i 2>/dev/null)
  # shellcheck disable=SC2086
  [ -n "$ids" ] && scancel $ids 2>/dev/null
  sleep 1
fi
stop_pid slurmd "$STATE/slurmd.pid"
stop_pid slurmctld "$STATE/slurmctld.pid"
stop_pid munged "$STATE/munged.pid"

for file in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
  [ -f "$file" ] && grep -qF "$MARKER" "$file" && rm -f "$file"
done
case "$STATE" in
  /tmp/*|/var/tmp/*) rm -rf "$STATE" ;;
  *) echo "slurm-local-stop: left $STATE in place (not under /tmp)" >&2 ;;
esac
echo "slurm-local: cluster stopped"
