#!/usr/bin/env bash
# Stop the one-node SLURM cluster that scripts/slurm/single-node-up.sh started.
#
#   bash scripts/slurm/single-node-down.sh           # cancel jobs, stop our daemons, drop runtime state
#   bash scripts/slurm/single-node-down.sh --purge   # ... and remove the slurm.conf and logs up wrote
#
# Stops ONLY the daemons whose PIDs single-node-up.sh recorded in /run/routerlab-slurm/ (a
# munged that was running before, e.g. under systemd, is left alone). The packages stay
# installed, so the next single-node-up.sh takes about a second. Safe to run when nothing is
# up (exits 0); exits 1 only when one of our daemons could not be stopped.
set -uo pipefail

ME=single-node-down
STATE=/run/routerlab-slurm
SPOOL=/var/spool/routerlab-slurm
LOGDIR=/var/log/slurm
CONF=/etc/slurm/slurm.conf
MARK="# managed-by: routerlab scripts/slurm/single-node-up.sh"
PURGE=0
case "${1:-}" in
"") ;;
--purge) PURGE=1 ;;
*)
    echo "usage: $0 [--purge]" >&2
    exit 2
    ;;
esac

t0=$(date +%s%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
log() { echo "$ME: $*"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "$ME: ERROR: must run as root" >&2
    exit 1
fi

# alive NAME PID: a live, non-zombie process named NAME (stopped daemons linger as zombies
# until PID 1 reaps them)
alive() {
    local st cm
    [ -n "${2:-}" ] || return 1
    read -r st cm < <(ps -o stat=,comm= -p "$2" 2>/dev/null) || return 1
    [ "${st:0:1}" != Z ] && [ "$cm" = "$1" ]
}
ourpid() { # print the recorded pid of NAME while that process still runs
    local pid
    pid=$(tr -dc '0-9' 2>/dev/null <"$STATE/$1.pid") || return 1
    alive "$1" "$pid" && echo "$pid"
}

failed=0
stop() { # stop NAME: TERM the recorded pid, KILL it after 15 s
    local name=$1 pid
    if ! pid=$(ourpid "$name"); then
        [ -e "$STATE/$name.pid" ] && log "$name: the recorded pid no longer runs"
        rm -f "$STATE/$name.pid"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        alive "$name" "$pid" || break
        sleep 0.1
    done
    if alive "$name" "$pid"; then
        log "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    if alive "$name" "$pid"; then
        echo "$ME: ERROR: could not stop $name (pid $pid)" >&2
        failed=1
    else
        rm -f "$STATE/$name.pid"
    fi
}

[ -d "$STATE" ] || log "nothing recorded in $STATE: no daemons of ours to stop"

# 1. Cancel the cluster's jobs first, so that no job (slurmstepd and what it runs) outlives
#    the daemons.
if ourpid slurmctld >/dev/null && command -v squeue >/dev/null; then
    jobs=$(squeue -h -o '%i' -t PENDING,RUNNING,SUSPENDED,CONFIGURING,COMPLETING 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        for _ in $(seq 1 150); do
            [ -z "$(squeue -h -o '%i' -t RUNNING,COMPLETING,CONFIGURING 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
fi

# 2. Our daemons: node daemon, controller, then munge.
stop slurmd
stop slurmctld
stop munged

# Job steps end on their own once their job is cancelled; wait up to 10 s, then report any
# left (never kill them blindly: they are not ours by PID).
live_steps() { ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ && $3 == "slurmstepd" { print $1 }' | tr '\n' ' '; }
for _ in $(seq 1 50); do
    [ -z "$(live_steps)" ] && break
    sleep 0.2
done
steps=$(live_steps)
[ -z "${steps// /}" ] || log "WARNING: slurmstepd processes still running (pids: $steps)"

# 3. Runtime state, once none of our daemons runs any more.
if [ "$failed" = 0 ]; then
    for f in /run/slurmctld.pid:slurmctld /run/slurmd.pid:slurmd; do
        pf=${f%%:*} name=${f##*:}
        pid=$(tr -dc '0-9' 2>/dev/null <"$pf" || true)
        [ -e "$pf" ] && ! alive "$name" "$pid" && rm -f "$pf"
    done
    others=$(ps -eo stat=,comm= | awk '$1 !~ /^Z/ && ($2 == "slurmctld" || $2 == "slurmd")')
    if [ -d "$SPOOL" ] && [ -z "$others" ]; then
        rm -rf "$SPOOL"
    fi
    rm -f "$STATE"/*.pid 2>/dev/null
    rmdir "$STATE" 2>/dev/null || true
fi

# 4. --purge: the config and logs up wrote (the config only if it is ours).
if [ "$PURGE" = 1 ] && [ "$failed" = 0 ]; then
    if [ -f "$CONF" ] && grep -qxF "$MARK" "$CONF"; then
        rm -f "$CONF"
        log "removed $CONF"
        if [ -f "$CONF.before-routerlab" ]; then
            mv "$CONF.before-routerlab" "$CONF"
            log "restored the earlier $CONF"
        fi
    fi
    rm -f "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log "$LOGDIR"/slurmctld.stdout \
        "$LOGDIR"/slurmd.stdout "$LOGDIR"/jobcomp.log /var/log/munge/munged.start.log
fi

if [ "$failed" = 0 ]; then
    log "done in $(elapsed) s"
else
    log "FAILED to stop everything (see above), after $(elapsed) s"
fi
exit "$failed"
