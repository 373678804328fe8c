#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on localhost, for tests (run as root).
#
#   scripts/slurm-local-start.sh [STATE_DIR]        (default: $MSAFLOW_SLURM_STATE or /tmp/msaflow-slurm)
#   scripts/slurm-local-stop.sh  [STATE_DIR]
#
# What it does (Debian packages slurm-wlm and munge; `make test-system-deps` installs them):
#   * a private munge key and a munged on a private socket under STATE_DIR (the system munge,
#     if any, is not touched);
#   * /etc/slurm/slurm.conf and /etc/slurm/gres.conf (marked as ours; an existing slurm.conf that
#     is not ours is never overwritten). The file must be at /etc/slurm: the Snakemake SLURM
#     plugin's job step drops SLURM_CONF, so a conf elsewhere is invisible inside jobs;
#   * slurmctld and slurmd as root, listening on 127.0.0.1, no accounting (no slurmdbd);
#     MinJobAge=300 so that `squeue` still reports finished jobs to the plugin;
#   * one node = this machine (its CPUs, or MSAFLOW_SLURM_CPUS; memory not consumable; one fake GPU GRES so that GPU
#     rules mapped to `--gres=gpu:1` can be scheduled and the mapping tested).
# PIDs are written to STATE_DIR/*.pid; slurm-local-stop.sh kills exactly those processes.
set -euo pipefail

STATE=${1:-${MSAFLOW_SLURM_STATE:-/tmp/msaflow-slurm}}
CTLD_PORT=${MSAFLOW_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${MSAFLOW_SLURMD_PORT:-6818}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARKER="# msaflow-local-test-cluster"

die() { echo "slurm-local-start: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it starts slurmctld/slurmd and writes $CONF)"
for tool in munged slurmctld slurmd sinfo scontrol sbatch squeue; do
  command -v "$tool" >/dev/null || die "$tool not found; install Debian packages slurm-wlm and munge (make test-system-deps)"
done
if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
  die "$CONF exists and was not written by this script; refusing to overwrite a real cluster's configuration"
fi
if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
  die "a cluster from $STATE is already running (stop it with scripts/slurm-local-stop.sh $STATE)"
fi

NODE=$(hostname -s)
# MSAFLOW_SLURM_CPUS declares more CPUs than the machine has (config_overrides below lets slurmd
# accept it): the test pipeline's jobs are mostly job-step start-up, not computation, and with the
# real count they queue behind each other two at a time.
CPUS=${MSAFLOW_SLURM_CPUS:-$(nproc)}
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)

rm -rf "$STATE"
mkdir -p "$STATE"/{munge,log,ctld,slurmd}
chmod 700 "$STATE" "$STATE/munge"

# --- munge: private key, private socket ---------------------------------------------------
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$STATE/munge/munge.key"
SOCKET=$STATE/munge/munge.socket
munged --force \
  --key-file="$STATE/munge/munge.key" \
  --socket="$SOCKET" \
  --pid-file="$STATE/munged.pid" \
  --log-file="$STATE/log/munged.log" \
  --seed-file="$STATE/munge/munged.seed"
for _ in $(seq 50); do [ -S "$SOCKET" ] && break; sleep 0.1; done
[ -S "$SOCKET" ] || die "munged did not create $SOCKET (see $STATE/log/munged.log)"

# --- slurm.conf ---------------------------------------------------------------------------
mkdir -p "$CONF_DIR"
cat >"$CONF" <<EOF
$MARKER (written by scripts/slurm-local-start.sh; state in $STATE; removed by slurm-local-stop.sh)
ClusterName=msaflowtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers rarely allow them), no accounting (no slurmdbd).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
# Finished jobs stay visible to squeue for 5 minutes: the Snakemake plugin's squeue status
# command needs MinJobAge >= 3 x slurm-init-seconds-before-status-checks.
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
InactiveLimit=0
KillWait=10
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# A GPU GRES needs a device file; a plain file stands in for /dev/nvidia0 (no CUDA behind it).
touch "$STATE/fake-nvidia0"
cat >"$CONF_DIR/gres.conf" <<EOF
$MARKER
AutoDetect=off
NodeName=$NODE Name=gpu File=$STATE/fake-nvidia0
EOF

# --- daemons ------------------------------------------------------------------------------
slurmctld -i
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q "is UP" && break; sleep 0.2; done
scontrol ping | grep -q "is UP" || die "slurmctld did not come up (see $STATE/log/slurmctld.log)"
slurmd -N "$NODE"
for _ in $(seq 100); do
  state=$(sinfo -h -N -o %T 2>/dev/null | head -1)
  case "$state" in idle*|mixed*|allocated*) break ;; esac
  sleep 0.2
done
state=$(sinfo -h -N -o %T 2>/dev/null | head -1)
case "$state" in
  idle*|mixed*|allocated*) ;;
  *) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true; sleep 1
     state=$(sinfo -h -N -o %T | head -1)
     case "$state" in idle*|mixed*) ;; *) die "node $NODE is '$state' (see $STATE/log/slurmd.log)";; esac ;;
esac
echo "slurm-local: cluster up (node $NODE, $CPUS CPUs, state $STATE, pids: munged $(cat "$STATE/munged.pid")," \
  "slurmctld $(cat "$STATE/slurmctld.pid"), slurmd $(cat "$STATE/slurmd.pid"))"
