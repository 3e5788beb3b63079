#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine (munged, slurmctld, slurmd) for naga's
# Slurm tests and for trying `--slurm_config` by hand. Everything lives in one state directory
# (default /tmp/naga-slurm, or $NAGA_SLURM_DIR): slurm.conf, munge key and socket, spool, logs.
# Its own ports ($NAGA_SLURM_PORT for slurmctld, default 16817, and the next one for slurmd)
# and a private munge socket keep it clear of a real Slurm, or another such cluster, on the host.
# Needs root and Debian's slurm-wlm + munge (scripts/test installs them).
# Prints the line to eval so sbatch/squeue find the cluster:  export SLURM_CONF=...
# Stop it with scripts/slurm/down.sh.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"  # the daemons live there, not always on a user's PATH
state=${NAGA_SLURM_DIR:-/tmp/naga-slurm}
node=$(hostname -s)
cpus=${NAGA_SLURM_CPUS:-4}  # more than the cores, so a few tiny array tasks run side by side
port=${NAGA_SLURM_PORT:-16817}
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)

for cmd in munged slurmctld slurmd sinfo; do
  command -v "$cmd" >/dev/null || { echo "up.sh: $cmd not found: apt-get install slurm-wlm munge" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "up.sh: must run as root (slurmd starts jobs as their user)" >&2; exit 1; }

if [ -f "$state/slurmctld.pid" ] && kill -0 "$(cat "$state/slurmctld.pid")" 2>/dev/null; then
  echo "export SLURM_CONF=$state/slurm.conf"
  exit 0  # already up
fi

mkdir -p "$state/ctld" "$state/spool" "$state/munge"
chmod 755 "$state"
chmod 700 "$state/munge"
[ -f "$state/munge/munge.key" ] || dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$state/munge/munge.key"

cat >"$state/slurm.conf" <<CONF
ClusterName=naga-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobRequeue=1
EnforcePartLimits=ALL
MinJobAge=30
KillWait=2
InactiveLimit=0
MessageTimeout=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF=$state/slurm.conf
munged --force --socket="$state/munge/munge.socket" --key-file="$state/munge/munge.key" \
  --pid-file="$state/munge/munged.pid" --log-file="$state/munge/munged.log" \
  --seed-file="$state/munge/munged.seed"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

for _ in $(seq 150); do
  if sinfo -h -n "$node" -o '%t' 2>/dev/null | grep -qx 'idle'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "up.sh: node $node not idle after 30 s; see $state/slurmctld.log and $state/slurmd.log" >&2
sinfo >&2 || true
exit 1
