#!/bin/bash
# tests/bench/http.sh -- `make bench-http`: lmd against nginx on the same
# loopback, same client, same requests, and a table of the results.
#
#   LMD_BIN=objs/lmd bash tests/bench/http.sh
#
# Both servers answer GET /health with {"status":"ok"} and serve one 4 KB
# static file; both run one event loop (lmd has one loop thread, nginx gets
# worker_processes 1) with the access log off.  wrk runs the same settings
# against each, two rounds alternating lmd, nginx, lmd, nginx; a target's
# figure is the better of its two rounds.  The goal is lmd >= 0.8 x nginx.
#
# Environment: LMD_BENCH_CONNECTIONS (wrk -c, 50), LMD_BENCH_DURATION
# (wrk -d, 5s), LMD_BENCH_THREADS (wrk -t, 1), LMD_BIN, NGINX (the nginx
# binary), WRK (the wrk binary).
#
# This is a benchmark, not a test: it exits 0 whatever the numbers say,
# 1 when wrk or nginx is missing or a server does not start.

if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -u
case $0 in */*) cd "${0%/*}/../.." || exit 1 ;; *) cd ../.. || exit 1 ;; esac

LMD_BIN=${LMD_BIN:-objs/lmd}
case $LMD_BIN in /*) ;; *) LMD_BIN=$PWD/$LMD_BIN ;; esac
CONNS=${LMD_BENCH_CONNECTIONS:-50}
DURATION=${LMD_BENCH_DURATION:-5s}
THREADS=${LMD_BENCH_THREADS:-1}
GOAL=0.8
TARGETS="/health /4k.txt"

WRK=${WRK:-$(command -v wrk)}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
missing=
if [ -z "$WRK" ] || [ ! -x "$WRK" ]; then
    missing=wrk
fi
if [ ! -x "$NGINX" ]; then
    missing="${missing:+$missing and }nginx"
fi
if [ -n "$missing" ]; then
    echo "bench-http: $missing not found; it needs both wrk and nginx."
    echo "  install them with: apt-get install wrk nginx-light"
    exit 1
fi
if [ ! -x "$LMD_BIN" ]; then
    echo "bench-http: $LMD_BIN is not built (make, or set LMD_BIN)"
    exit 1
fi

DIR=$(mktemp -d /tmp/lmd-bench.XXXXXX) || exit 1
chmod 755 "$DIR"        # nginx workers (user nobody) read the html root
LMD_PID= NGINX_PID=

stop_servers() {
    [ -n "$LMD_PID" ] && kill "$LMD_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null
    [ -n "$LMD_PID" ] && wait "$LMD_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && wait "$NGINX_PID" 2>/dev/null
    LMD_PID= NGINX_PID=
}

cleanup() {
    stop_servers
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# With two CPUs or more, the servers share CPU 0 and wrk gets CPU 1, so
# that neither server competes with the client for a core.
SERVER_CPU=() CLIENT_CPU=() PINNED="not pinned to CPUs"
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
    PINNED="servers on CPU 0, wrk on CPU 1"
fi

# free_port: a port nothing listens on, below the ephemeral range, so that
# no client socket (wrk's, say) holds it when the server binds.
EPHEMERAL_LOW=32768
read -r EPHEMERAL_LOW _ < /proc/sys/net/ipv4/ip_local_port_range
[ "$EPHEMERAL_LOW" -gt 11000 ] 2>/dev/null || EPHEMERAL_LOW=32768
free_port() {
    local p
    while :; do
        p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# ------------------------------------------------------------- servers

mkdir -p "$DIR/html" "$DIR/logs" "$DIR/nginx-tmp"
chmod 755 "$DIR/html"
head -c 4096 /dev/zero | tr '\0' 'x' > "$DIR/html/4k.txt"
chmod 644 "$DIR/html/4k.txt"

# write_configs: lmd.yaml and nginx.conf for LMD_PORT and NGINX_PORT.
write_configs() {
    cat > "$DIR/lmd.yaml" <<EOF
daemon:
  pid: logs/lmd.pid
  error_log: logs/lmd-error.log
  log_level: warn
  access_log: "off"
http:
  listen: ["127.0.0.1:$LMD_PORT"]
  html: html
EOF

    cat > "$DIR/nginx.conf" <<EOF
worker_processes 1;
pid $DIR/logs/nginx.pid;
error_log $DIR/logs/nginx-error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $DIR/nginx-tmp/body;
    proxy_temp_path $DIR/nginx-tmp/proxy;
    fastcgi_temp_path $DIR/nginx-tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx-tmp/uwsgi;
    scgi_temp_path $DIR/nginx-tmp/scgi;
    default_type text/plain;
    sendfile on;
    keepalive_requests 10000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $DIR/html;
        location = /health {
            default_type application/json;
            return 200 '{"status":"ok"}';
        }
    }
}
EOF
}

# up PORT PID: waits (10 s at most) for /health on PORT.
up() {
    local i
    for i in $(seq 1 100); do
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/health"
        then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_servers: both on fresh ports; 1 if either does not answer.
start_servers() {
    LMD_PORT=$(free_port)
    NGINX_PORT=$(free_port)
    while [ "$NGINX_PORT" = "$LMD_PORT" ]; do
        NGINX_PORT=$(free_port)
    done
    write_configs
    "${SERVER_CPU[@]}" "$LMD_BIN" -p "$DIR" -c "$DIR/lmd.yaml" \
        2>"$DIR/logs/lmd-stderr.log" &
    LMD_PID=$!
    "${SERVER_CPU[@]}" "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" \
        -e "$DIR/logs/nginx-error.log" -g 'daemon off;' \
        2>"$DIR/logs/nginx-stderr.log" &
    NGINX_PID=$!
    up "$LMD_PORT" "$LMD_PID" && up "$NGINX_PORT" "$NGINX_PID"
}

# A port taken between the check and the bind: try again, twice.
for try in 1 2 3; do
    start_servers && break
    if [ "$try" = 3 ]; then
        echo "bench-http: the servers did not start; their logs:"
        tail -n 5 "$DIR"/logs/*.log 2>/dev/null
        exit 1
    fi
    stop_servers
done

# Both must answer the same thing before their speeds mean anything.
for t in $TARGETS; do
    a=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$LMD_PORT$t")
    b=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$NGINX_PORT$t")
    if [ "${a%% *}" != 200 ] || [ "$a" != "$b" ]; then
        echo "bench-http: $t differs (status, body bytes): lmd $a," \
             "nginx $b"
        exit 1
    fi
done

# ---------------------------------------------------------------- header

LMD_VERSION=$("$LMD_BIN" -v 2>&1 | head -n 1)
NGINX_VERSION=$("$NGINX" -v 2>&1)
CPU=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- \
      | sed 's/^ *//')
echo "bench-http: $LMD_VERSION ($LMD_BIN) vs $NGINX_VERSION"
echo "  machine: ${CPU:-unknown CPU}, $(nproc) CPUs"
echo "  wrk -t$THREADS -c$CONNS -d$DURATION, keep-alive, loopback;" \
     "2 rounds: lmd, nginx, lmd, nginx"
echo "  lmd runs one event-loop thread; nginx runs worker_processes 1 to" \
     "match;"
echo "  access logs off; $PINNED; a figure is the better of 2 rounds"

DEBUG=
if "$LMD_BIN" -v 2>&1 | grep -qi 'debug build'; then
    DEBUG="it says it is a debug build"
fi
if ldd "$LMD_BIN" 2>/dev/null | grep -q 'libasan\|libubsan'; then
    DEBUG="${DEBUG:+$DEBUG, }it links the sanitizers"
fi
if [ -n "$DEBUG" ]; then
    echo
    echo "  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "  !!! WARNING: $LMD_BIN is a DEBUG build ($DEBUG)."
    echo "  !!! Its numbers say nothing about lmd's speed.  Build it with"
    echo "  !!! ./configure && make (no --with-debug) and run again."
    echo "  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
fi
echo

# ------------------------------------------------------------------ runs

# run NAME PORT TARGET: one wrk run; prints requests per second (0 when
# wrk failed) and warns about errors.
run() {
    local out rps
    out=$("${CLIENT_CPU[@]}" "$WRK" -t"$THREADS" -c"$CONNS" -d"$DURATION" \
          "http://127.0.0.1:$2$3" 2>&1)
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
    if printf '%s\n' "$out" | grep -q 'Non-2xx\|Socket errors'; then
        printf '%s\n' "$out" | grep 'Non-2xx\|Socket errors' \
            | sed "s|^ *|  note: $1 $3: |" >&2
    fi
    echo "${rps:-0}"
}

# best A B: the larger of two numbers.
best() {
    awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'
}

declare -A R
for round in 1 2; do
    for t in $TARGETS; do
        R[lmd,$t,$round]=$(run lmd "$LMD_PORT" "$t")
        R[nginx,$t,$round]=$(run nginx "$NGINX_PORT" "$t")
        printf '  round %d %-8s lmd %10.0f req/s   nginx %10.0f req/s\n' \
            "$round" "$t" "${R[lmd,$t,$round]}" "${R[nginx,$t,$round]}"
    done
done

kill -0 "$LMD_PID" 2>/dev/null || echo "  note: lmd exited during the runs"
kill -0 "$NGINX_PID" 2>/dev/null \
    || echo "  note: nginx exited during the runs"

echo
printf '  %-10s %12s %12s %10s  %s\n' target "lmd req/s" "nginx req/s" \
    lmd/nginx "goal >= $GOAL"
for t in $TARGETS; do
    l=$(best "${R[lmd,$t,1]}" "${R[lmd,$t,2]}")
    n=$(best "${R[nginx,$t,1]}" "${R[nginx,$t,2]}")
    awk -v t="$t" -v l="$l" -v n="$n" -v g="$GOAL" 'BEGIN {
        r = (n > 0) ? l / n : 0
        printf "  %-10s %12.0f %12.0f %10.2f  %s\n", t, l, n, r,
               (r >= g) ? "met" : "NOT met"
    }'
done
[ -n "$DEBUG" ] && echo "  (debug build: see the warning above)"
exit 0
