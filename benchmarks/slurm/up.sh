#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the `cluster` test lane (tests/test_slurm_cluster.py)
# and for trying `cifar-tui --sweep FILE --slurm` as a user of a real cluster would.
#
#   bash benchmarks/slurm/up.sh        # as root; safe to run again (it only does what is missing)
#   bash benchmarks/slurm/up.sh --down # stop the daemons it started
#
# It installs Debian's slurmctld, slurmd, slurm-client and munge when missing, writes
# /etc/slurm/slurm.conf for this host (its real CPU count and memory, one partition "debug",
# requeue on preemption, no cgroup: proctrack/linuxproc and task/none work inside a container,
# accounting off as on many small clusters), starts munged, slurmctld and slurmd, and waits
# until sinfo shows the node idle. Exit 0 when the cluster answers, non-zero with a line when not.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
say() { echo "slurm-up: $*"; }
die() { echo "slurm-up: $*" >&2; exit 1; }

if [[ "${1:-}" == "--down" ]]; then
  for daemon in slurmd slurmctld munged; do
    pid=$(pgrep -x "$daemon" | head -n1 || true)
    [[ -n "$pid" ]] && kill "$pid" && say "stopped $daemon ($pid)"
  done
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts daemons)"

# 1. Packages, only when missing.
need=()
for pkg in slurmctld slurmd slurm-client munge; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. Munge's key (the package makes one on most systems; a fresh container may lack it).
if [[ ! -s /etc/munge/munge.key ]]; then
  say "creating /etc/munge/munge.key"
  if command -v mungekey >/dev/null; then mungekey --create --force
  else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; fi
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge

# 3. slurm.conf for this host as it is now.
host=$(hostname -s)
cpus=$(nproc --all)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$CONF_DIR" "$STATE" "$SPOOL" "$LOGS"
conf=$(cat <<CONF
# Written by benchmarks/slurm/up.sh: a one-node cluster for cifar-tui's cluster tests.
ClusterName=cifar
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroup inside a container: processes tracked by their parent ids, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Preemption requeues (the jobs a sweep submits are --requeue), as production clusters do.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
JobRequeue=1
ReturnToService=2
# Quick turnaround for a test cluster: short kill wait, fast polling, no minimum job age.
KillWait=30
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
)
if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$conf" ]]; then
  say "writing $CONF ($host, $cpus CPUs, ${mem_mb} MB)"
  printf '%s\n' "$conf" > "$CONF"
  restart=1
else
  restart=0
fi

# 4. Daemons: start what is not running (restart the Slurm ones when the conf changed).
if ! pgrep -x munged >/dev/null; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged --force 2>/dev/null || /usr/sbin/munged --force
fi
for _ in $(seq 20); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munged does not answer"
if ((restart)); then
  for daemon in slurmd slurmctld; do
    pid=$(pgrep -x "$daemon" | head -n1 || true)
    if [[ -n "$pid" ]]; then kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; fi
  done
fi
if ! pgrep -x slurmctld >/dev/null; then say "starting slurmctld"; /usr/sbin/slurmctld; fi
if ! pgrep -x slurmd >/dev/null; then say "starting slurmd"; /usr/sbin/slurmd; fi

# 5. Wait until the node takes jobs. Jobs an earlier run left (slurmctld keeps its state in
# $STATE across restarts, and a test killed mid-way leaves its jobs "running" with no process)
# would hold the node: once slurmctld answers, cancel them and wait for the node to free.
stale=""
checked=0
for _ in $(seq 90); do
  state=$(sinfo -h -N -n "$host" -o %t 2>/dev/null | head -n1 || true)
  if [[ -n "$state" ]] && ((!checked)); then
    checked=1
    stale=$(squeue -h -o "%A %j" 2>/dev/null | awk '$2 ~ /^cifar-tu/ {print $1}' | sort -u || true)
    if [[ -n "$stale" ]]; then
      say "cancelling $(echo "$stale" | wc -l) cifar-tui job(s) left from an earlier run"
      # shellcheck disable=SC2086
      scancel $stale || true
    fi
  fi
  if [[ -n "$stale" && "$state" == alloc* ]]; then sleep 1; continue; fi
  case "$state" in
    idle|mix|alloc) say "node $host $state: the cluster is up"; exit 0 ;;
    down*|drain*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
die "node $host never became idle (state '${state:-none}'); see $LOGS/slurmctld.log and slurmd.log"
