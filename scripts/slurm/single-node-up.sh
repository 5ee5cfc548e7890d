#!/usr/bin/env bash
# Bring up a real one-node SLURM cluster on this machine (munged + slurmctld + slurmd from
# Debian's packages) for tests/test_slurm.py and CI. Nothing is mocked: jobs that
# `snakemake --profile slurm` submits go through sbatch/srun as on a production cluster.
#
#   bash scripts/slurm/single-node-up.sh      # as root (or: sudo bash ...)
#   bash scripts/slurm/single-node-down.sh    # stops what this script started
#
# What it does, in order:
#   1. apt-get installs munge, slurmctld, slurmd and slurm-client where missing (Debian 12:
#      SLURM 22.05), with the packages' own daemon starts blocked (no systemd needed);
#   2. creates a munge key if there is none and starts munged unless munge already works;
#   3. writes /etc/slurm/slurm.conf (that exact path: inside a job, snakemake's jobstep plugin
#      drops SLURM_CONF before its nested srun, which then reads only the compiled-in path)
#      with the machine's CPUs and 90 % of its memory, partition `debug` (the one
#      profiles/slurm/config.yaml names), no slurmdbd (finished jobs stay visible to squeue
#      for MinJobAge = 1 h; the profile uses slurm-status-command: squeue);
#   4. starts slurmctld and slurmd, recording the PIDs of what it started in
#      /run/routerlab-slurm/ (the down script stops exactly those);
#   5. waits for the node to be idle and, when it started anything, runs one `srun hostname`
#      smoke job through munge, slurmctld, slurmd and slurmstepd.
# It prints the elapsed seconds; on any failure it exits 1 with the daemons' last log lines.
#
# Idempotent: a second run leaves running daemons alone (same PIDs) and restarts the ones it
# started only when the generated slurm.conf changed. A controller that was not running
# starts with -c (no jobs recovered from an earlier session that was killed without the
# down script: SLURM would otherwise requeue and rerun them).
#
# Environment:
#   ROUTERLAB_SLURM_PARTITION  partition name (default: debug, as profiles/slurm expects)
#   ROUTERLAB_SLURM_TIMEOUT    seconds to wait for the node to become idle (default: 60)
#   ROUTERLAB_SLURM_FORCE=1    replace an /etc/slurm/slurm.conf this script did not write
#                              (a copy is kept; `single-node-down.sh --purge` restores it)
#
# Logs: /var/log/slurm/{slurmctld,slurmd,jobcomp}.log, /var/log/munge/munged.log.
set -euo pipefail

ME=single-node-up
STATE=/run/routerlab-slurm            # PIDs of the daemons this script started
SPOOL=/var/spool/routerlab-slurm      # slurmctld state + slurmd spool (removed by down)
LOGDIR=/var/log/slurm
CONF=/etc/slurm/slurm.conf
MARK="# managed-by: routerlab scripts/slurm/single-node-up.sh"
PARTITION=${ROUTERLAB_SLURM_PARTITION:-debug}
TIMEOUT=${ROUTERLAB_SLURM_TIMEOUT:-60}
MIN_JOB_AGE=3600

t0=$(date +%s%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
log() { echo "$ME: $*"; }
SHOW_LOGS=0 # 1 once daemons are involved: a failure then prints their last log lines
die() {
    local f
    echo "$ME: ERROR: $*" >&2
    if [ "$SHOW_LOGS" = 1 ]; then
        for f in "$LOGDIR/slurmctld.log" "$LOGDIR/slurmd.log" /var/log/munge/munged.log; do
            [ -s "$f" ] || continue
            echo "----- last lines of $f -----" >&2
            tail -n 25 "$f" >&2
        done
    fi
    echo "$ME: FAILED after $(elapsed) s" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it starts daemons, writes /etc/slurm and may apt-get install)"
[[ "$PARTITION" =~ ^[A-Za-z0-9_-]+$ ]] || die "bad ROUTERLAB_SLURM_PARTITION '$PARTITION'"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "bad ROUTERLAB_SLURM_TIMEOUT '$TIMEOUT'"

# ------------------------------------------------------------------------ 1. packages
missing=()
for p in munge slurmctld slurmd slurm-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v ps >/dev/null || missing+=(procps)
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
    log "installing ${missing[*]} with apt-get ..."
    ta=$(date +%s)
    # Keep the maintainer scripts from starting munge/slurm themselves: this script starts
    # (and the down script stops) exactly its own daemons. Only where no policy exists yet.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    aptlog=$(mktemp)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
        >"$aptlog" 2>&1; then
        tail -n 30 "$aptlog" >&2
        rm -f "$aptlog"
        die "apt-get failed (see above)"
    fi
    rm -f "$aptlog"
    if [ "$made_policy" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    log "apt-get done in $(($(date +%s) - ta)) s"
fi
for b in munged munge unmunge slurmctld slurmd sinfo scontrol squeue sbatch srun ps; do
    command -v "$b" >/dev/null || die "'$b' not on PATH after the install"
done
id munge >/dev/null 2>&1 || die "user 'munge' missing (the munge package creates it)"
id slurm >/dev/null 2>&1 || die "user 'slurm' missing (the slurm packages create it)"

# --------------------------------------------------------------------- process helpers
mkdir -p "$STATE"
chmod 755 "$STATE"
# alive NAME PID: PID is a live (not zombie) process named NAME. Stopped daemons stay
# zombies for a while where PID 1 reaps orphans late, so a zombie counts as stopped.
alive() {
    local st cm
    [ -n "${2:-}" ] || return 1
    read -r st cm < <(ps -o stat=,comm= -p "$2" 2>/dev/null) || return 1
    [ "${st:0:1}" != Z ] && [ "$cm" = "$1" ]
}
# ours NAME: this script started NAME and it still runs
ours() {
    local pid
    pid=$(cat "$STATE/$1.pid" 2>/dev/null || true)
    alive "$1" "$pid" && return 0
    rm -f "$STATE/$1.pid"
    return 1
}
# pid_from_file NAME FILE: print the pid in FILE when it is a live NAME process
pid_from_file() {
    local pid
    [ -r "$2" ] || return 1
    pid=$(tr -dc '0-9' <"$2" 2>/dev/null || true)
    alive "$1" "$pid" && echo "$pid"
}
# wait_pidfile NAME FILE SECONDS: wait for FILE to name a live NAME process; print its pid
wait_pidfile() {
    local pid
    for _ in $(seq 1 $(($3 * 10))); do
        if pid=$(pid_from_file "$1" "$2"); then
            echo "$pid"
            return 0
        fi
        sleep 0.1
    done
    return 1
}
# stop_ours NAME: stop a daemon this script started (TERM; KILL after 15 s)
stop_ours() {
    local pid
    ours "$1" || return 0
    pid=$(cat "$STATE/$1.pid")
    log "stopping $1 (pid $pid) to apply the new slurm.conf"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        alive "$1" "$pid" || break
        sleep 0.1
    done
    alive "$1" "$pid" && kill -KILL "$pid" 2>/dev/null
    rm -f "$STATE/$1.pid"
}

# --------------------------------------------------------------------------- 2. munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

SHOW_LOGS=1
started=0 # 1 once this run starts any daemon
if munge_ok; then
    if ours munged; then
        log "munged already running (pid $(cat "$STATE/munged.pid"), started by this script)"
    else
        log "munged already running, not started by this script: reused, and the down script leaves it"
    fi
else
    rm -f "$STATE/munged.pid"
    log "starting munged"
    started=1
    runuser -u munge -- munged </dev/null >>/var/log/munge/munged.start.log 2>&1 || die "munged did not start"
    pid=$(wait_pidfile munged /run/munge/munged.pid 10) || die "munged wrote no pid file"
    echo "$pid" >"$STATE/munged.pid"
    for _ in $(seq 1 50); do
        munge_ok && break
        sleep 0.1
    done
    munge_ok || die "munge credential round trip (munge -n | unmunge) fails"
fi

# ---------------------------------------------------------------------- 3. slurm.conf
NODE=$(hostname -s 2>/dev/null || hostname)
NODE=${NODE%%.*}
[[ "$NODE" =~ ^[A-Za-z0-9_-]+$ ]] || NODE=localhost
# e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
hw=$(slurmd -C 2>/dev/null | head -n 1) || true
field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$hw"; }
CPUS=$(field CPUs)
SOCKETS=$(field SocketsPerBoard)
CORES=$(field CoresPerSocket)
THREADS=$(field ThreadsPerCore)
MEM=$(field RealMemory)
for v in "$CPUS" "$SOCKETS" "$CORES" "$THREADS" "$MEM"; do
    [ -n "$v" ] || die "could not read the hardware from 'slurmd -C' (got: '$hw')"
done
# RealMemory above what slurmd finds drains the node: offer 90 %. Without DefMemPerCPU a job
# that asks for no memory gets the whole node and every other job waits (PENDING Resources).
REALMEM=$((MEM * 9 / 10))
DEFMEM=$((REALMEM / CPUS))
[ "$DEFMEM" -gt 1024 ] && DEFMEM=1024

new=$(mktemp)
cat >"$new" <<EOF
$MARK
# Written by scripts/slurm/single-node-up.sh on every run: edit the script, not this file.
ClusterName=routerlab
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
# task/affinity: the executor plugin's srun --cpu-bind=q otherwise warns on every job
TaskPlugin=task/affinity
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No slurmdbd, so sacct cannot see jobs: finished jobs stay visible to squeue and scontrol
# for MinJobAge seconds, and each one gets a line in the jobcomp log.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
MinJobAge=$MIN_JOB_AGE
MaxJobCount=100000
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEFMEM
InactiveLimit=0
KillWait=10
SlurmdTimeout=300
SlurmctldTimeout=120
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$REALMEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

changed=0
if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
    if [ "${ROUTERLAB_SLURM_FORCE:-0}" = 1 ]; then
        cp -p "$CONF" "$CONF.before-routerlab"
        log "ROUTERLAB_SLURM_FORCE=1: kept the existing $CONF as $CONF.before-routerlab"
    else
        rm -f "$new"
        SHOW_LOGS=0
        die "$CONF exists and was not written by this script; refusing to overwrite it" \
            "(ROUTERLAB_SLURM_FORCE=1 replaces it and keeps a copy)"
    fi
fi
if ! cmp -s "$new" "$CONF" 2>/dev/null; then
    install -D -m 0644 "$new" "$CONF"
    changed=1
    log "wrote $CONF (node $NODE: $CPUS CPUs, RealMemory=$REALMEM MB, DefMemPerCPU=$DEFMEM MB, partition $PARTITION)"
fi
rm -f "$new"
install -d -o slurm -g slurm -m 0755 "$LOGDIR" "$SPOOL" "$SPOOL/ctld"
install -d -o root -g root -m 0755 "$SPOOL/d"
touch "$LOGDIR/jobcomp.log"
chown slurm:slurm "$LOGDIR/jobcomp.log"

# ------------------------------------------------------------ 4. slurmctld + slurmd
# -i: ignore unreadable state files; -c: a controller that is not running starts clean
# (see the header). A restart for a new slurm.conf keeps the jobs (no -c).
ctld_args=(-i -c)
if ours slurmctld; then ctld_args=(-i); fi
if [ "$changed" = 1 ]; then
    stop_ours slurmd
    stop_ours slurmctld
fi
start_daemon() { # start_daemon NAME PIDFILE CMD...
    local name=$1 pidfile=$2 pid
    shift 2
    if ours "$name"; then
        log "$name already running (pid $(cat "$STATE/$name.pid"), started by this script)"
        return 0
    fi
    if pid=$(pid_from_file "$name" "$pidfile"); then
        die "$name is already running (pid $pid) but was not started by this script; stop it first"
    fi
    log "starting $name"
    started=1
    "$@" </dev/null >>"$LOGDIR/$name.stdout" 2>&1 || die "$name exited with an error at start"
    pid=$(wait_pidfile "$name" "$pidfile" 15) || die "$name did not come up (no live pid in $pidfile)"
    echo "$pid" >"$STATE/$name.pid"
}
start_daemon slurmctld /run/slurmctld.pid slurmctld "${ctld_args[@]}"
for _ in $(seq 1 100); do
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.1
done
scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld does not answer 'scontrol ping'"
start_daemon slurmd /run/slurmd.pid slurmd -N "$NODE"

# ------------------------------------------------------------------ 5. node idle, smoke job
state=""
resumed=0
deadline=$(($(date +%s) + TIMEOUT))
while :; do
    state=$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n 1 || true)
    case "$state" in
    idle | mixed | allocated) break ;;
    down* | drain* | fail*)
        # after a restart the node can still be marked down; ReturnToService=2 normally
        # clears that, so resume by hand only once and not straight away
        if [ "$resumed" = 0 ] && [ $(($(date +%s) + TIMEOUT - deadline)) -ge 5 ]; then
            log "node is '$state' ($(sinfo -h -n "$NODE" -o '%E' 2>/dev/null)); resuming it"
            scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
            resumed=1
        fi
        ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || die "node $NODE is '${state:-unknown}' after ${TIMEOUT} s, not idle"
    sleep 0.2
done

# sinfo can still show the node idle from before a restart: prove the whole path with a job.
if [ "$started" = 1 ] && [ "$state" = allocated ]; then
    log "node fully allocated by running jobs: no smoke job"
elif [ "$started" = 1 ]; then
    if ! out=$(timeout -k 5 60 srun -N 1 -n 1 -t 1 -J routerlab-smoke -p "$PARTITION" hostname 2>&1); then
        echo "$out" >&2
        die "smoke job 'srun hostname' failed"
    fi
    log "smoke job ran on: $out"
fi
sinfo
log "cluster ready: node $NODE is $state in partition $PARTITION, in $(elapsed) s"
