#!/usr/bin/env bash
# The closed loop on this machine: node_exporter -> Prometheus -> Alertmanager -> remediator serve
# -> the disk playbook frees the sandbox "disk" -> the alert resolves. See README.md next to this.
#
#   bash examples/closed-loop/run.sh      (from the repository's root)
#
# Needs the Debian packages prometheus, prometheus-alertmanager and prometheus-node-exporter
# (`bash scripts/setup-monitoring.sh`) and curl. Sets up .venv as scripts/demo.sh does. Works only
# under sandbox/closed-loop/ (wiped first): the fake host, configs, token, logs, audit store and
# Ansible's temp files all live there. Listens on 127.0.0.1 ports 19090 (Prometheus), 19093
# (Alertmanager), 19100 (node_exporter) and 19095 (remediator). Every daemon is stopped on exit.
# Exit 0 when the loop closed within WAIT_S seconds (default 90), else 1 with the logs' tails.
# HOLD=1 keeps the daemons running afterwards, until Ctrl-C, to look around.
set -euo pipefail
cd "$(dirname "$0")/../.."

HERE=examples/closed-loop
WORK=sandbox/closed-loop
WAIT_S="${WAIT_S:-90}"
HOST=demo-web-01
CAPACITY=6291456                     # the simulated disk: 6 MiB, which the demo's files fill to 85%
PROM=127.0.0.1:19090 AM=127.0.0.1:19093 NODE=127.0.0.1:19100 REM=127.0.0.1:19095

VENV="${VENV:-.venv}"
if [ -z "${REMEDIATOR_SKIP_INSTALL:-}" ]; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e . >&2
fi
PY="$VENV/bin/python"
REMEDIATOR=("$VENV/bin/remediator" --config "$WORK/remediator.yml")

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 2; }
for tool in prometheus prometheus-alertmanager prometheus-node-exporter; do
    command -v "$tool" >/dev/null || die "$tool is missing: run \`bash scripts/setup-monitoring.sh\`"
done
command -v curl >/dev/null || die "curl is missing"
for address in "$PROM" "$AM" "$NODE" "$REM"; do
    if (exec 3<>"/dev/tcp/${address%:*}/${address#*:}") 2>/dev/null; then
        die "something already listens on $address (an earlier run still going?)"
    fi
done

# -- the project: configs copied next to each other, the inventory, the token, an empty host ----
rm -rf "$WORK"
mkdir -p "$WORK/playbooks" "$WORK/textfile" "$WORK/host"
cp "$HERE"/{remediator.yml,remediations.yml,rules.yml,prometheus.yml,alertmanager.yml} "$WORK/"
# A copy of the playbook, not the checkout's playbooks/: a live run is refused while the catalog
# or its playbooks have uncommitted changes, and this demo should run from a checkout you edit.
cp playbooks/disk_space_cleanup.yml "$WORK/playbooks/"
ROOT="$PWD/$WORK"
cat >"$WORK/inventory.yml" <<EOF
# Written by examples/closed-loop/run.sh: one "web server" that is really the folder below.
all:
  hosts:
    $HOST:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
      disk_root_prefix: "$ROOT/host"
      disk_capacity_bytes: $CAPACITY
      cleanup_paths: ["/var/cache/app"]
EOF
(umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$WORK/webhook-token")
REMEDIATOR_AM_TOKEN="$(cat "$WORK/webhook-token")"
export REMEDIATOR_AM_TOKEN
export ANSIBLE_HOME="$ROOT/.ansible"
# The copy under sandbox/ is ignored by the checkout's git: record it by content (sha256), not as
# the checkout's commit, which does not hold it.
export GIT_CEILING_DIRECTORIES="$PWD/sandbox"
unset REMEDIATOR_MAX_STAGE REMEDIATOR_CONFIG

# -- the daemons, each with its log under sandbox/closed-loop/ ----------------------------------
pids=() names=()
stop_all() {
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 200); do  # 20 s: serve lets a running fix finish for its grace (10 s)
        kill -0 "${pids[@]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start() {  # start NAME COMMAND...: run it in the background, output in $WORK/NAME.log
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
}
fail() {  # fail MESSAGE: say what did not happen, show the end of every log, exit 1
    printf 'run.sh: %s\n' "$*" >&2
    for log in "$WORK"/*.log; do
        printf -- '---- %s (last lines)\n' "$log" >&2
        tail -n 15 "$log" >&2
    done
    exit 1
}
get() { curl -fsS --max-time 2 "$@" 2>/dev/null || true; }
check_alive() {  # fail as soon as one of the background processes has exited
    local i
    for i in "${!pids[@]}"; do
        kill -0 "${pids[$i]}" 2>/dev/null || fail "${names[$i]} exited (see $WORK/${names[$i]}.log)"
    done
}
wait_until() {  # wait_until SECONDS WHAT COMMAND...: poll until COMMAND succeeds
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        check_alive
        [ "$SECONDS" -lt "$deadline" ] || fail "no $what within ${seconds}s"
        sleep 0.2
    done
}

start remediator "${REMEDIATOR[@]}" serve
start alertmanager prometheus-alertmanager --config.file="$WORK/alertmanager.yml" \
    --storage.path="$WORK/alertmanager-data" --web.listen-address="$AM" --cluster.listen-address=
start dirsize "$PY" "$HERE/dirsize.py" --root "$WORK/host" --size "$CAPACITY" \
    --instance "$HOST" --mountpoint / --out "$WORK/textfile"
start node-exporter prometheus-node-exporter --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$WORK/textfile" --web.listen-address="$NODE"
start prometheus prometheus --config.file="$WORK/prometheus.yml" \
    --storage.tsdb.path="$WORK/prometheus-data" --web.listen-address="$PROM"

serving() { get "http://$REM/healthz" | grep -q '"ok"'; }
am_known() { get "http://$PROM/api/v1/alertmanagers" | grep -q '"activeAlertmanagers":\[{'; }
scraped() { get "http://$PROM/api/v1/query?query=sandbox_used_bytes" | grep -q '"result":\[{'; }
say "== starting remediator serve, Alertmanager, dirsize.py, node_exporter, Prometheus"
wait_until 30 "answer from remediator serve on $REM" serving
wait_until 30 "Alertmanager found by Prometheus" am_known
wait_until 30 "sample of sandbox_used_bytes in Prometheus" scraped

# -- the timeline: each event printed when it is first seen ---------------------------------------
pct() {  # the disk usage dirsize.py last published, in per cent
    awk '/^sandbox_used_bytes/ {u = $2} /^sandbox_size_bytes/ {s = $2}
         END {if (s) printf "%.1f", u * 100 / s}' "$WORK/textfile/sandbox.prom"
}
T0=$EPOCHREALTIME
event() { printf '%6ss  %5s%%  %s\n' "$(awk -v a="$T0" -v b="$EPOCHREALTIME" \
    'BEGIN {printf "%.1f", b - a}')" "$(pct)" "$*"; }
declare -A seen=()
once() {  # once KEY MESSAGE: print the event the first time KEY happens
    [ -z "${seen[$1]:-}" ] || return 0
    seen[$1]=1
    event "$2"
}
firing() {
    get "http://$AM/api/v2/alerts?active=true&filter=alertname%3D%22DiskSpaceLow%22" \
        | grep -q '"fingerprint"'
}
metrics=""
counted() {  # counted SERIES: remediator's /metrics shows SERIES at 1 or more
    awk -v series="$1" '$1 == series && $2 >= 1 {found = 1} END {exit !found}' <<<"$metrics"
}

say "== the loop is ready. Timeline (seconds since the cache filled the disk, disk usage, event):"
"$PY" -m remediator.demo "$WORK/host" 2>"$WORK/demo-host.log"
full() { awk -v p="$(pct)" 'BEGIN {exit !(p > 80)}'; }
wait_until 10 "usage over 80% from dirsize.py" full
event "the app's cache has filled the disk of $HOST (python -m remediator.demo)"
deadline=$((SECONDS + WAIT_S))
until [ -n "${seen[fixed]:-}" ] && [ -n "${seen[cleared]:-}" ] && [ -n "${seen[resolved]:-}" ]; do
    check_alive
    [ "$SECONDS" -lt "$deadline" ] || fail "the loop did not close within ${WAIT_S}s"
    metrics="$(get "http://$REM/metrics")"
    if firing; then
        once firing "Alertmanager: DiskSpaceLow is firing for $HOST; it sends the webhook"
    elif [ -n "${seen[firing]:-}" ]; then
        once cleared "Alertmanager: DiskSpaceLow is resolved; it sends the resolved webhook"
    fi
    if counted 'remediator_webhook_requests_total{code="202",endpoint="alertmanager"}'; then
        once accepted "remediator: webhook accepted (202); disk-space-cleanup runs live (oversight)"
    fi
    if [ -n "${seen[firing]:-}" ] && ! full; then
        once freed "the playbook removed the stale files: usage is under the 80% line"
    fi
    if counted 'remediator_runs_total{outcome="succeeded"}'; then
        once fixed "remediator: the run succeeded; its audit record is written"
    fi
    if counted 'remediator_decisions_total{action="skip"}'; then
        once resolved "remediator: the resolved alert is recorded (skip: resolved alerts run no fix)"
    fi
    for outcome in failed unreachable interrupted; do
        if counted "remediator_runs_total{outcome=\"$outcome\"}"; then
            fail "the fix's run was $outcome: see \`${REMEDIATOR[*]} audit list\`"
        fi
    done
    sleep 0.2
done

say ""
say "== remediator audit list"
"${REMEDIATOR[@]}" audit list
"${REMEDIATOR[@]}" audit verify
say ""
say "== remediator's /metrics (runs, decisions, deliveries)"
get "http://$REM/metrics" | grep -E '^remediator_(runs_total|decisions_total|duplicate_deliveries_total|webhook_requests_total)'
say ""
say "the loop closed. Everything is under $WORK/ (logs: *.log; audit store: state/audit.db):"
say "  ${REMEDIATOR[*]} audit show ID"
if [ -n "${HOLD:-}" ]; then
    say ""
    say "HOLD is set: the daemons keep running until Ctrl-C. Prometheus http://$PROM,"
    say "Alertmanager http://$AM, remediator http://$REM/metrics"
    trap 'exit 0' INT TERM
    wait
fi
