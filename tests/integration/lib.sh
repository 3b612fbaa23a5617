# tests/integration/lib.sh -- sourced by every integration script.
#
# Gives a script its own folder under tests/out/, a free loopback port, a
# config file written from defaults plus the script's own YAML, and a real
# lmd started on it.  Checks print "ok NAME", "not ok NAME: why" or
# "skip NAME: why" (tests/run.sh counts them).
#
#   . tests/integration/lib.sh
#   lmd_config <<'YAML'      # extra top-level YAML; may use $PORT, $OUT
#   models: ...
#   YAML
#   lmd_start                # waits until /health answers
#   check "health is 200" [ "$(http_status /health)" = 200 ]
#   lmd_stop
#   finish

set -u
TOP=$(pwd)
LMD_BIN=${LMD_BIN:-objs/lmd}
LMD_OBJS=${LMD_OBJS:-objs}
case $LMD_BIN in /*) ;; *) LMD_BIN=$TOP/$LMD_BIN ;; esac
case $LMD_OBJS in /*) ;; *) LMD_OBJS=$TOP/$LMD_OBJS ;; esac
NAME=$(basename "$0" .sh)
OUT=$TOP/tests/out/$NAME
rm -rf "$OUT"
mkdir -p "$OUT/html" "$OUT/logs"
LMD_PID=
FAILS=0

ok()   { echo "ok $NAME: $1"; }
fail() { echo "not ok $NAME: $1${2:+: $2}"; FAILS=$((FAILS + 1)); }
skip() { echo "skip $NAME: $1: $2"; }

# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what" "failed: $*"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

# A port no TCP socket uses at all, listening or not: a port still held
# by a closed connection in TIME_WAIT cannot be bound either, and these
# tests leave hundreds.  Below Linux's ephemeral range (32768-60999), so
# no new client socket takes it meanwhile.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        if ! grep -q "$(printf ':%04X ' "$p")" /proc/net/tcp /proc/net/tcp6 \
               2>/dev/null; then
            echo "$p"
            return
        fi
    done
}
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT

# lmd_config: writes $OUT/lmd.yaml; stdin adds or overrides top-level
# sections (a section given on stdin replaces the default one).
lmd_config() {
    local extra
    extra=$(cat)
    {
        case $extra in *"daemon:"*) ;; *)
            printf 'daemon:\n  pid: logs/lmd.pid\n  error_log: logs/error.log\n'
            printf '  access_log: logs/access.log\n  log_level: info\n'
            printf '  shutdown_timeout: 10s\n' ;;
        esac
        case $extra in *"http:"*) ;; *)
            printf 'http:\n  listen: ["127.0.0.1:%s"]\n  html: html\n' "$PORT" ;;
        esac
        case $extra in *"modules_path:"*) ;; *)
            printf 'modules_path: %s/tests/modules\n' "$LMD_OBJS" ;;
        esac
        printf '%s\n' "$extra"
    } > "$OUT/lmd.yaml"
}

# lmd_start [ARGS...]: starts lmd in the foreground of a background job and
# waits (10 s at most) until it answers on $PORT.
lmd_start() {
    "$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" "$@" \
        >>"$OUT/stdout.log" 2>>"$OUT/stderr.log" &
    LMD_PID=$!
    wait_http
}

wait_http() {
    local i
    for i in $(seq 1 100); do
        if curl -s -o /dev/null --max-time 1 "$BASE/health"; then
            return 0
        fi
        kill -0 "$LMD_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "lmd answers on port $PORT" "see $OUT/logs/error.log and stderr.log"
    return 1
}

# lmd_stop: SIGTERM and wait; sets LMD_STATUS to the exit status.
lmd_stop() {
    LMD_STATUS=
    [ -n "$LMD_PID" ] || return 0
    kill -TERM "$LMD_PID" 2>/dev/null
    lmd_wait 15
}

# lmd_wait SECONDS: waits for the daemon to exit; LMD_STATUS gets its
# status, or "running" (and it is killed) when it did not exit in time.
lmd_wait() {
    local i
    for i in $(seq 1 $(($1 * 10))); do
        if ! kill -0 "$LMD_PID" 2>/dev/null; then
            wait "$LMD_PID"
            LMD_STATUS=$?
            LMD_PID=
            return 0
        fi
        sleep 0.1
    done
    LMD_STATUS=running
    kill -KILL "$LMD_PID" 2>/dev/null
    wait "$LMD_PID" 2>/dev/null
    LMD_PID=
}

# http_status PATH [CURL ARGS...]: the status code of one request.
http_status() {
    local path=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$BASE$path"
}

# finish: stops a daemon left running; the script's exit status says if
# anything failed (the runner also counts the lines).
finish() {
    if [ -n "$LMD_PID" ]; then
        lmd_stop
    fi
    if grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error:' "$OUT"/stderr.log 2>/dev/null; then
        fail "no sanitizer reports" "see $OUT/stderr.log"
    fi
    [ "$FAILS" -eq 0 ]
    exit $?
}
trap '[ -n "$LMD_PID" ] && kill -KILL "$LMD_PID" 2>/dev/null' EXIT
