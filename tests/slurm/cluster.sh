#!/usr/bin/env bash
# A one-node SLURM cluster for the cluster-path test: partitions `cpu` (default) and `gpu`, two fake GPUs.
#   cluster.sh install   apt-get the Debian packages when missing (root only; no-op otherwise)
#   cluster.sh start DIR write /etc/slurm/{slurm,gres}.conf, start munged, slurmctld, slurmd; PIDs and
#                        state in DIR. Refuses (exit 3) when /etc/slurm/slurm.conf exists and is not this
#                        script's: a real cluster's configuration is never touched.
#   cluster.sh stop DIR  stop the daemons this script started (by PID) and remove the configuration it wrote,
#                        so no later SLURM client (nor Snakemake's SLURM plugin, which runs `scontrol show
#                        config`) waits for a controller that is gone.
# The configuration must live at the default path: Snakemake's job-step plugin removes SLURM_* variables
# (SLURM_CONF included) before its inner srun.
# No accounting: Snakemake must be run with --slurm-status-command squeue.
set -euo pipefail
MUNGED_PID=/run/munge/synthctx-test-munged.pid

install() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "cluster.sh: SLURM is not installed and cannot be installed here (needs root and apt-get)" >&2
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

start() {
  local dir=$1 host cpus mem
  mkdir -p "$dir/state" "$dir/spool" /run/munge /etc/slurm
  if [ -e /etc/slurm/slurm.conf ] && ! ours; then
    echo "cluster.sh: /etc/slurm/slurm.conf exists and is not this test's: not touching it" >&2
    return 3
  fi
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=synthctx-test
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
ReturnToService=2
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmUser=root
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host Default=NO MaxTime=INFINITE State=UP
CONF
  echo "NodeName=$host Name=gpu File=/dev/tty[0-1]" > /etc/slurm/gres.conf
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  # munged runs as the munge user, who cannot write into DIR (pytest's temporary folders are root's, mode 700):
  # its PID file goes to /run/munge. A munged already running (the machine's own) is used and left alone.
  if ! pgrep -x munged >/dev/null; then
    su -s /bin/sh munge -c "munged --pid-file=$MUNGED_PID" 2>/dev/null || munged --force --pid-file="$MUNGED_PID"
  fi
  slurmctld
  slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -q idle; then
      sinfo
      return 0
    fi
    sleep 1
  done
  echo "cluster.sh: the node never became idle" >&2
  sinfo -N -l >&2 || true
  tail -n 20 "$dir"/slurm*.log >&2 || true
  return 1
}

ours() {
  grep -qx 'ClusterName=synthctx-test' /etc/slurm/slurm.conf 2>/dev/null
}

remove_config() {
  if ours; then
    rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf
  fi
}

stop() {
  local dir=$1 pidfile
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$MUNGED_PID"; do
    if [ -s "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  done
  sleep 1
  rm -f "$MUNGED_PID"
  remove_config
}

case "${1:-}" in
  install) install ;;
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
