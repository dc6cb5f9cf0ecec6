#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the Slurm test (test/e2e/slurm.test.ts) and for trying the emitted
# job files by hand:
#   bash scripts/slurm-local.sh start DIR   installs Debian's slurm-wlm and munge when absent, writes DIR/slurm.conf
#                                           (one node: this host, all its CPUs), starts munged, slurmctld and slurmd,
#                                           waits until the node is idle; then `export SLURM_CONF=DIR/slurm.conf`
#   bash scripts/slurm-local.sh stop DIR    stops the daemons it started (their pids are in DIR)
# Exit 3, with the reason on stderr, when Slurm cannot be had here (no root for apt-get, a package that will not
# install, a daemon that will not start): the test then skips and says why.
set -uo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
cannot() { echo "slurm-local: $*" >&2; exit 3; }

stop() {
  for name in slurmd slurmctld munged; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$dir/$name.pid"
  done
}

install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || cannot "slurm-wlm and munge are not installed, and installing them needs root (or sudo without a password)"
    sudo="sudo -n"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q slurm-wlm munge >"$dir/apt.log" 2>&1 ||
    cannot "apt-get install slurm-wlm munge failed (see $dir/apt.log): $(tail -n 1 "$dir/apt.log")"
}

# munged as the munge user, unless one already answers (the key is the package's /etc/munge/munge.key).
start_munge() {
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
  [ -f /etc/munge/munge.key ] || cannot "no /etc/munge/munge.key (munge's package makes it)"
  mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
  su -s /bin/sh munge -c "/usr/sbin/munged" || cannot "munged did not start"
  sleep 0.5
  pgrep -n -u munge munged >"$dir/munged.pid"
  munge -n | unmunge >/dev/null 2>&1 || cannot "munge does not answer after starting munged"
}

write_conf() {
  local host; host=$(hostname -s)
  mkdir -p "$dir/state" "$dir/spool"
  cat >"$dir/slurm.conf" <<CONF
ClusterName=xft-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 )) State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  [ "$(id -u)" = 0 ] || cannot "a local slurmctld and slurmd run as root here; this is user $(id -un)"
  install
  start_munge
  write_conf
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF" || cannot "slurmctld did not start (see $dir/slurmctld.log)"
  sleep 1
  pgrep -n -x slurmctld >"$dir/slurmctld.pid"
  slurmd -f "$SLURM_CONF" || cannot "slurmd did not start (see $dir/slurmd.log)"
  sleep 1
  # slurmd does not always write its pid file: the newest slurmd is ours.
  pgrep -n -x slurmd >"$dir/slurmd.pid"
  for _ in $(seq 60); do
    state=$(sinfo -h -o %t 2>/dev/null | head -n 1)
    [ "$state" = idle ] && return 0
    sleep 0.5
  done
  cannot "the node is not idle after 30 s (sinfo: ${state:-nothing}; see $dir/slurmctld.log, $dir/slurmd.log)"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
