#!/usr/bin/env bash
# A real single-node SLURM on this machine, for the cluster tests and for trying the cluster path on a laptop.
#
#   scripts/local_slurm.sh start    # install slurm-wlm and munge if missing (Debian, as root), write slurm.conf,
#                                   # start munged, slurmctld and slurmd (no systemd), wait until the node is idle
#   scripts/local_slurm.sh status   # sinfo, and the daemons this script started
#   scripts/local_slurm.sh stop     # end only the daemons this script started (their PIDs are in $STATE/pids)
#
# State (slurm.conf, spool, logs, PIDs) lives in $WGAN_SLURM_STATE (default /tmp/wgan_repro_slurm), wiped at each
# start: job IDs then restart at 1, so give submitit a fresh folder per launch (the harness does).
# Accounting is off (no slurmdbd, no database): `sacct` fails without it, and submitit reads job states through
# sacct, so the harness reads them from `scontrol show job` instead (wgan_repro/cluster.py). One daemon and one
# package fewer, and a job SLURM kills before it writes its result is still seen to end.
set -euo pipefail

STATE="${WGAN_SLURM_STATE:-/tmp/wgan_repro_slurm}"
CONF="$STATE/slurm.conf"
export SLURM_CONF="$CONF"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "local_slurm.sh: $1 needs root (it installs packages and starts daemons as their users)" >&2
    exit 2
  fi
}

install() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
  need_root "installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >"$STATE/apt.log" 2>&1 \
    || { echo "local_slurm.sh: apt-get install slurm-wlm munge failed; see $STATE/apt.log" >&2; exit 1; }
}

write_conf() {
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"  # MB, leaving the system its share
  cat >"$CONF" <<EOF
ClusterName=wgan_repro
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=cred_expire=10
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
ReturnToService=2
KillWait=5
MinJobAge=3600
InactiveLimit=0
Waittime=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start() {
  need_root "start"
  if [ -f "$STATE/pids" ]; then
    echo "local_slurm.sh: already running (PIDs $(tr '\n' ' ' <"$STATE/pids")); stop it first" >&2
    exit 1
  fi
  rm -rf "$STATE" && mkdir -p "$STATE/ctld" "$STATE/d"
  install
  write_conf
  # munge: its key, its run directory, run as its own user
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge && chown munge:munge /run/munge /var/lib/munge /var/log/munge
  # each daemon in the foreground of its own session, its PID recorded as it starts
  if ! pgrep -x munged >/dev/null; then  # (one already running, not started here, is used and left alone)
    setsid runuser -u munge -- /usr/sbin/munged -F >>"$STATE/munged.log" 2>&1 </dev/null &
    echo $! >>"$STATE/pids"
    for _ in $(seq 50); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.1; done
  fi
  if [ -L /etc/slurm/slurm.conf ] && [ ! -e /etc/slurm/slurm.conf ]; then  # left by a start never stopped
    rm -f /etc/slurm/slurm.conf
  fi
  if [ ! -e /etc/slurm/slurm.conf ]; then  # the commands (sbatch, sinfo: submitit's) find it without SLURM_CONF
    ln -s "$CONF" /etc/slurm/slurm.conf
  fi
  setsid /usr/sbin/slurmctld -D -f "$CONF" >>"$STATE/slurmctld.out" 2>&1 </dev/null &
  echo $! >>"$STATE/pids"
  setsid /usr/sbin/slurmd -D -f "$CONF" >>"$STATE/slurmd.out" 2>&1 </dev/null &
  echo $! >>"$STATE/pids"
  for _ in $(seq 120); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qx 'idle'; then
      echo "local SLURM up: node $(hostname -s), $(nproc) CPUs, partition debug (SLURM_CONF=$CONF)"
      return
    fi
    sleep 0.5
  done
  echo "local_slurm.sh: the node did not become idle in 60 s; see $STATE/slurmctld.log and $STATE/slurmd.log" >&2
  sinfo >&2 || true
  exit 1
}

stop() {
  [ -f "$STATE/pids" ] || { echo "local_slurm.sh: nothing started here ($STATE/pids absent)"; return; }
  local pid
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$STATE/pids"
  while read -r pid; do  # each gone (munged removes its socket on the way out)
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done <"$STATE/pids"
  rm -f "$STATE/pids"
  if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$CONF" ]; then rm -f /etc/slurm/slurm.conf; fi
  echo "local SLURM stopped"
}

status() {
  sinfo
  [ -f "$STATE/pids" ] && echo "started here: PIDs $(tr '\n' ' ' <"$STATE/pids")"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status (state in $STATE)" >&2; exit 2 ;;
esac
