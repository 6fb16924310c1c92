# bench/lib.sh — what the benchmarks share (sourced by bench/run and bench/mcp): logging, a
# scratch directory and the processes started, cleaned up on exit; oha; starting processes
# pinned to a core; waiting for them; their CPU time and peak RSS; one load run.
#
# The sourcing script sets `root` and `cache` first.

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in curl jq taskset getconf; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
(($(nproc) >= 2)) || log "warning: fewer than 2 cores: the hub, the mock and the load share one"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d "${TMPDIR:-/tmp}/agenthub-bench.XXXXXX")
started=()
cleanup() {
    local pid
    for pid in "${started[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${started[@]}"; do
        # Up to 5 s to stop, then forcibly.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ -n ${BENCH_KEEP_WORK:-} ]]; then
        log "kept $work (logs, perf.data)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

oha_version=${OHA_VERSION:-1.16.0}
clk_tck=$(getconf CLK_TCK)

# ensure_oha: oha (crates.io), built once into the cache. Not wrk: on this machine wrk's
# latency histogram is inconsistent with its own request count (see docs/benchmarks.md).
ensure_oha() {
    oha=$cache/oha/bin/oha
    if [[ ! -x $oha ]]; then
        log "installing oha $oha_version into $cache/oha (cargo install, a few minutes, once)"
        timeout 1800 cargo install oha --version "$oha_version" --locked --root "$cache/oha" >&2 ||
            die "cannot install oha"
    fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http NAME URL SECONDS [CURL ARGS...]: until URL answers 2xx.
wait_http() {
    local name=$1 url=$2 secs=$3
    shift 3
    for _ in $(seq $((secs * 10))); do
        curl -sf -o /dev/null --max-time 2 "$@" "$url" && return 0
        sleep 0.1
    done
    die "$name did not answer $url within ${secs}s (its log: $work/$name.log)"
}

# start NAME CPU COMMAND...: runs COMMAND pinned to CPU, its output in $work/NAME.log; sets $pid.
start() {
    local name=$1 cpu=$2
    shift 2
    taskset -c "$cpu" "$@" >"$work/$name.log" 2>&1 &
    pid=$!
    started+=("$pid")
}

# The process and its descendants (gateways that fork workers).
proc_tree() {
    local -A parent=()
    local stat rest fields p
    for p in /proc/[0-9]*; do
        { stat=$(<"$p/stat"); } 2>/dev/null || continue
        rest=${stat##*) }
        read -ra fields <<<"$rest"
        parent[${p#/proc/}]=${fields[1]}
    done
    local tree=("$1") i=0 child
    while ((i < ${#tree[@]})); do
        for child in "${!parent[@]}"; do
            [[ ${parent[$child]} == "${tree[i]}" ]] && tree+=("$child")
        done
        i=$((i + 1))
    done
    echo "${tree[@]}"
}

# CPU time (utime + stime, clock ticks) of a process tree.
cpu_ticks() {
    local total=0 p stat rest fields
    for p in $(proc_tree "$1"); do
        { stat=$(<"/proc/$p/stat"); } 2>/dev/null || continue
        rest=${stat##*) }
        read -ra fields <<<"$rest"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# Peak resident set (VmHWM, kB) of a process tree, and its reset (to the current RSS).
peak_rss_kb() {
    local total=0 p kb
    for p in $(proc_tree "$1"); do
        kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}
reset_peak_rss() {
    local p
    for p in $(proc_tree "$1"); do
        echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true
    done
}

# load CONNECTIONS SECONDS URL BODY HEADERS: one oha run on the load core; prints its JSON
# summary. HEADERS is a |-separated list.
load() {
    local conns=$1 secs=$2 url=$3 body=$4 h
    local args=()
    IFS='|' read -ra parts <<<"$5"
    for h in "${parts[@]}"; do [[ -n $h ]] && args+=(-H "$h"); done
    timeout $((secs + 30)) taskset -c "$load_cpu" "$oha" --no-tui --output-format json \
        -z "${secs}s" -c "$conns" -m POST -T application/json -D "$body" "${args[@]}" "$url"
}

# oha_row SCENARIO TARGET TICKS RSS_KB < OHA_JSON: one result row (tab-separated): scenario,
# target, req/s, p50 ms, p99 ms, CPU-µs per request, peak RSS MB, errors, requests.
oha_row() {
    jq -r --arg s "$1" --arg t "$2" --argjson ticks "$3" --argjson tck "$clk_tck" --argjson rss "$4" '
        # Requests answered; in-flight ones cut by the deadline are not errors.
        ([.statusCodeDistribution[]] | add // 0) as $n
        | ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0) as $bad
        | ([.errorDistribution | to_entries[] | select(.key != "aborted due to deadline") | .value] | add // 0) as $failed
        | [$s, $t,
           ($n / .summary.total),
           (.latencyPercentiles.p50 * 1000), (.latencyPercentiles.p99 * 1000),
           (if $n > 0 then $ticks * 1e6 / $tck / $n else 0 end),
           ($rss / 1024),
           ($bad + $failed),
           $n] | @tsv'
}
