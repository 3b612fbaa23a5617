#!/bin/bash
# test_stop.sh -- how lmd ends and starts as a service: the graceful stop
# (a response in flight completes, new connections are refused, idle
# keep-alive connections do not delay it, shutdown_timeout cuts it short),
# `-s stop` and `-s quit` through the pid file, `daemonize: true`, the
# systemd notify protocol (READY=1 once the models are loaded, RELOADING=1
# around a reload, STOPPING=1), and the switch to `daemon.user` as root.
#
# The slow client is curl writing into a pipe whose reader first sleeps:
# curl stops reading, the socket buffers fill, and lmd is left holding the
# rest of the response.  (curl's --limit-rate does not hold a loopback
# download back reliably, and the file is larger than the socket buffers,
# ~4 MB, so the response is really still in lmd when the stop begins; the
# error log's "stopping: 1 connections" line checks that it was.)

. tests/integration/lib.sh

NOTIFY_TOOL=$LMD_OBJS/tests/tools/lmd_notify_listen
BIG=$((16 * 1024 * 1024))
head -c "$BIG" /dev/urandom > "$OUT/html/big.bin"
BG_PIDS=()

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    [ -n "$LMD_PID" ] && kill -KILL "$LMD_PID" 2>/dev/null
}
trap cleanup EXIT

now_ms() {
    date +%s%3N
}

# alive PID: the process exists and is not a zombie.
alive() {
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# stalled_download FILE SLEEP: downloads /big.bin in the background into
# FILE, its reader asleep for SLEEP seconds first; curl's exit status goes
# to FILE.rc.  DL_PID is the background job.
stalled_download() {
    (
        curl -s --max-time 30 "$BASE/big.bin" \
            | { sleep "$2"; cat > "$1"; }
        echo "${PIPESTATUS[0]}" > "$1.rc"
    ) &
    DL_PID=$!
    BG_PIDS+=("$DL_PID")
}

# stopping_line: the error log's last "stopping: N connections" line.
stopping_line() {
    grep -o 'stopping: [0-9]* connections' "$OUT/logs/error.log" | tail -1
}


# ---------------------------------------- graceful stop, response in flight

lmd_config <<'YAML'
YAML
lmd_start || finish
stalled_download "$OUT/got1.bin" 2.5
sleep 1
kill -TERM "$LMD_PID"
sleep 0.5
curl -s -o /dev/null --max-time 2 "$BASE/health"
expect_eq "during the stop new connections are refused (curl exit 7)" \
    "$?" 7
check "during the stop lmd is still running (a response is in flight)" \
    alive "$LMD_PID"
expect_eq "the stop began with the download in flight" "$(stopping_line)" \
    "stopping: 1 connections"
wait "$DL_PID"
expect_eq "the download in flight completes: curl exits 0" \
    "$(cat "$OUT/got1.bin.rc")" 0
check "the download in flight completes: all $BIG bytes, same content" \
    cmp -s "$OUT/got1.bin" "$OUT/html/big.bin"
lmd_wait 10
expect_eq "after the last response lmd exits with status 0" \
    "$LMD_STATUS" 0
check "the pid file is removed at exit" \
    [ ! -e "$OUT/logs/lmd.pid" ]
rm -f "$OUT/got1.bin"


# ------------------------------------------ shutdown_timeout cuts it short

lmd_config <<'YAML'
daemon:
  pid: logs/lmd.pid
  error_log: logs/error.log
  shutdown_timeout: 1s
YAML
lmd_start || finish
stalled_download "$OUT/got2.bin" 5
sleep 1
T0=$(now_ms)
kill -TERM "$LMD_PID"
lmd_wait 10
T1=$(now_ms)
expect_eq "shutdown_timeout 1s: lmd exits with status 0" "$LMD_STATUS" 0
if [ $((T1 - T0)) -ge 800 ] && [ $((T1 - T0)) -le 3000 ]; then
    ok "shutdown_timeout 1s: lmd exits 1-3 s after SIGTERM"
else
    fail "shutdown_timeout 1s: lmd exits 1-3 s after SIGTERM" \
         "took $((T1 - T0)) ms"
fi
check "the error log says the timeout closed the connection" \
    grep -q 'shutdown_timeout passed with 1 connections' \
    "$OUT/logs/error.log"
wait "$DL_PID"
SIZE=$(stat -c %s "$OUT/got2.bin" 2>/dev/null || echo 0)
RC=$(cat "$OUT/got2.bin.rc")
check "the cut download is truncated: $SIZE of $BIG bytes" \
    [ "$SIZE" -lt "$BIG" ]
check "the cut download is an error for curl (exit $RC)" [ "$RC" != 0 ]
rm -f "$OUT/got2.bin"


# --------------------------------------- a second signal stops at once

lmd_config <<'YAML'
YAML
lmd_start || finish
stalled_download "$OUT/got3.bin" 4
sleep 1
kill -TERM "$LMD_PID"
sleep 0.3
T0=$(now_ms)
kill -TERM "$LMD_PID"
lmd_wait 10
T1=$(now_ms)
if [ "$LMD_STATUS" = 0 ] && [ $((T1 - T0)) -lt 1000 ]; then
    ok "a second SIGTERM closes everything at once, status 0"
else
    fail "a second SIGTERM closes everything at once, status 0" \
         "status $LMD_STATUS after $((T1 - T0)) ms"
fi
wait "$DL_PID"
rm -f "$OUT/got3.bin"


# ------------------------------------- idle keep-alive does not delay it

lmd_start || finish
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3
IFS= read -r -t 5 LINE <&3
expect_eq "an idle keep-alive connection got its first answer" \
    "${LINE%$'\r'}" "HTTP/1.1 200 OK"
while IFS= read -r -t 5 LINE <&3 && [ -n "${LINE%$'\r'}" ]; do :; done
IFS= read -r -t 5 -N 15 LINE <&3
exec 4<>"/dev/tcp/127.0.0.1/$PORT"      # connected, never sends a byte
sleep 0.2
T0=$(now_ms)
kill -TERM "$LMD_PID"
lmd_wait 5
T1=$(now_ms)
expect_eq "with idle connections open lmd exits with status 0" \
    "$LMD_STATUS" 0
check "idle keep-alive connections do not delay the stop (< 1 s)" \
    [ $((T1 - T0)) -lt 1000 ]
if IFS= read -r -t 2 LINE <&3; then
    fail "the idle keep-alive connection was closed" "read: $LINE"
else
    ok "the idle keep-alive connection was closed"
fi
exec 3<&- 4<&-


# ------------------------------------------------- -s stop and -s quit

for SIG in stop quit; do
    lmd_start || finish
    PIDFILE=$(cat "$OUT/logs/lmd.pid" 2>/dev/null)
    expect_eq "the pid file holds lmd's pid" "$PIDFILE" "$LMD_PID"
    "$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" -s "$SIG" 2>"$OUT/s.err"
    expect_eq "lmd -s $SIG exits 0" "$?" 0
    lmd_wait 5
    expect_eq "lmd -s $SIG: the daemon exits with status 0" \
        "$LMD_STATUS" 0
    check "lmd -s $SIG: the pid file is removed" \
        [ ! -e "$OUT/logs/lmd.pid" ]
done


# ----------------------------------------------------- daemonize: true

lmd_config <<'YAML'
daemon:
  daemonize: true
  pid: logs/lmd.pid
  error_log: logs/error.log
YAML
T0=$(now_ms)
timeout 10 "$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" \
    >>"$OUT/stdout.log" 2>>"$OUT/stderr.log"
RC=$?
T1=$(now_ms)
expect_eq "daemonize: the launching command exits 0" "$RC" 0
check "daemonize: the launching command returns at once (< 2 s)" \
    [ $((T1 - T0)) -lt 2000 ]
DPID=
for i in $(seq 1 50); do
    DPID=$(cat "$OUT/logs/lmd.pid" 2>/dev/null) && [ -n "$DPID" ] && break
    sleep 0.1
done
if [ -n "$DPID" ] && alive "$DPID"; then
    BG_PIDS+=("$DPID")
    ok "daemonize: the pid file names a running process"
    check "daemonize: that process is lmd in the background" \
        grep -q lmd "/proc/$DPID/cmdline"
    SID=$(awk '{ print $6 }' "/proc/$DPID/stat")
    expect_eq "daemonize: it leads its own session (setsid)" "$SID" "$DPID"
    for i in $(seq 1 50); do
        [ "$(http_status /health)" = 200 ] && break
        sleep 0.1
    done
    expect_eq "daemonize: the background lmd serves /health" \
        "$(http_status /health)" 200
    "$LMD_BIN" -p "$OUT" -c "$OUT/lmd.yaml" -s stop 2>"$OUT/s.err"
    expect_eq "daemonize: lmd -s stop exits 0" "$?" 0
    for i in $(seq 1 50); do
        alive "$DPID" || break
        sleep 0.1
    done
    if alive "$DPID"; then
        fail "daemonize: lmd -s stop stops the background lmd" \
             "pid $DPID still running"
        kill -KILL "$DPID"
    else
        ok "daemonize: lmd -s stop stops the background lmd"
    fi
    check "daemonize: the pid file is removed" [ ! -e "$OUT/logs/lmd.pid" ]
    check "daemonize: the error log says it exited with status 0" \
        grep -q "\[notice\] $DPID: exiting with status 0" \
        "$OUT/logs/error.log"
else
    fail "daemonize: the pid file names a running process" \
         "pid file: '$DPID'"
fi


# --------------------------------------------------- systemd notify

if [ ! -x "$NOTIFY_TOOL" ]; then
    skip "systemd notify" "$NOTIFY_TOOL is not built"
else
    lmd_config <<'YAML'
models: [{name: t1, path: /x/model, engine: test}]
YAML
    for SOCK in "$OUT/notify.sock" "@lmd-test-notify-$$"; do
        case $SOCK in @*) KIND="abstract socket" ;; *) KIND="socket path" ;;
        esac
        : > "$OUT/notify.out"
        : > "$OUT/notify.err"
        "$NOTIFY_TOOL" --timeout-s 30 --stamp "$SOCK" \
            >"$OUT/notify.out" 2>"$OUT/notify.err" &
        NPID=$!
        BG_PIDS+=("$NPID")
        for i in $(seq 1 50); do
            grep -q listening "$OUT/notify.err" && break
            sleep 0.1
        done

        T0=$(now_ms)
        NOTIFY_SOCKET=$SOCK LMD_TEST_ENGINE_DELAY_MS=1000 lmd_start \
            || break
        for i in $(seq 1 50); do
            grep -q 'READY=1' "$OUT/notify.out" && break
            sleep 0.1
        done
        READY=$(grep -m1 'READY=1' "$OUT/notify.out")
        if [ -n "$READY" ]; then
            ok "notify ($KIND): READY=1 arrives once the model is loaded"
        else
            fail "notify ($KIND): READY=1 arrives once the model is loaded" \
                 "got: $(cat "$OUT/notify.out")"
        fi
        AT=$((${READY%% *} - T0))
        if [ -n "$READY" ] && [ "$AT" -ge 1000 ]; then
            ok "notify ($KIND): READY=1 only after the 1 s model load"
        else
            fail "notify ($KIND): READY=1 only after the 1 s model load" \
                 "came $AT ms after the start"
        fi
        expect_eq "notify ($KIND): at READY=1 /health answers 200" \
            "$(http_status /health)" 200

        kill -HUP "$LMD_PID"
        for i in $(seq 1 50); do
            [ "$(grep -c 'READY=1' "$OUT/notify.out")" -ge 2 ] && break
            sleep 0.1
        done
        SEQ=$(grep -o 'READY=1\|RELOADING=1\|STOPPING=1' "$OUT/notify.out" \
              | paste -sd' ')
        expect_eq "notify ($KIND): SIGHUP sends RELOADING=1 then READY=1" \
            "$SEQ" "READY=1 RELOADING=1 READY=1"
        check "notify ($KIND): RELOADING=1 comes with MONOTONIC_USEC" \
            grep -q 'RELOADING=1;\(.*;\)\?MONOTONIC_USEC=[0-9][0-9]*' \
            "$OUT/notify.out"

        lmd_stop
        sleep 0.2
        expect_eq "notify ($KIND): SIGTERM sends STOPPING=1 last" \
            "$(grep -o 'READY=1\|RELOADING=1\|STOPPING=1' \
               "$OUT/notify.out" | tail -n 1)" "STOPPING=1"
        expect_eq "notify ($KIND): lmd exits with status 0" \
            "$LMD_STATUS" 0
        kill "$NPID" 2>/dev/null
        wait "$NPID" 2>/dev/null
    done
fi


# -------------------------------------------------- daemon.user as root

if [ "$(id -u)" != 0 ]; then
    skip "privilege drop to daemon.user" "not running as root"
elif ! NOBODY=$(id -u nobody 2>/dev/null); then
    skip "privilege drop to daemon.user" "there is no user nobody"
else
    lmd_config <<'YAML'
daemon:
  user: nobody
  pid: logs/lmd.pid
  error_log: logs/error.log
  access_log: logs/access.log
YAML
    lmd_start || finish
    UIDS=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$LMD_PID/status")
    expect_eq "user: nobody -> every uid of the serving process is nobody's" \
        "$UIDS" "$NOBODY $NOBODY $NOBODY $NOBODY"
    NGID=$(id -g nobody)
    GIDS=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$LMD_PID/status")
    expect_eq "user: nobody -> every gid is nobody's group" \
        "$GIDS" "$NGID $NGID $NGID $NGID"
    expect_eq "user: nobody -> the port bound as root still serves" \
        "$(http_status /health)" 200
    expect_eq "user: nobody -> the pid file is written in root's logs/" \
        "$(cat "$OUT/logs/lmd.pid" 2>/dev/null)" "$LMD_PID"
    check "user: nobody -> the access log is still written" \
        grep -q '"GET /health HTTP/1.1" 200' "$OUT/logs/access.log"
    lmd_stop
    expect_eq "user: nobody -> lmd stops with status 0" "$LMD_STATUS" 0
fi

finish
