#!/bin/bash
# test_cli.sh -- the command line without a running daemon: -v, -h, bad
# options, subcommands' usage errors, -t (and the exact FILE:LINE:COL: of a
# config error), -T (the dump loads again and is a fixed point), TLS and
# module checks done by -t, -s with no daemon, and the man pages.

. tests/integration/lib.sh

MODS=$LMD_OBJS/tests/modules

# run_lmd ARGS...: runs lmd; RC, STDOUT and STDERR get the results.
run_lmd() {
    "$LMD_BIN" "$@" >"$OUT/run.out" 2>"$OUT/run.err"
    RC=$?
    STDOUT=$(cat "$OUT/run.out")
    STDERR=$(cat "$OUT/run.err")
}

# has TEXT NEEDLE: TEXT contains NEEDLE (a fixed string).
has() {
    case $1 in *"$2"*) return 0 ;; esac
    return 1
}

# expect_rc NAME WANT_RC [NEEDLE...]: the last run_lmd exited WANT_RC and
# its output (stdout and stderr) contains every NEEDLE.
expect_rc() {
    local what=$1 want=$2 n
    shift 2
    if [ "$RC" != "$want" ]; then
        fail "$what" "exit $RC, want $want; stderr: $STDERR"
        return
    fi
    for n in "$@"; do
        if ! has "$STDOUT$STDERR" "$n"; then
            fail "$what" "no '$n' in: $STDOUT$STDERR"
            return
        fi
    done
    ok "$what"
}

# conf_test NAME FILE WANT_RC NEEDLE: lmd -t -c FILE exits WANT_RC and its
# stderr contains NEEDLE.
conf_test() {
    run_lmd -t -p "$OUT" -c "$2"
    if [ "$RC" = "$3" ] && has "$STDERR" "$4"; then
        ok "$1"
    else
        fail "$1" "exit $RC (want $3), stderr: $STDERR (want '$4')"
    fi
}


# ------------------------------------------------------------ options

run_lmd -v
STDERR=
expect_rc "-v prints the version on stdout and exits 0" 0 "lmd version "
if [[ $STDOUT =~ lmd\ version\ [0-9]+\.[0-9]+\.[0-9]+ ]]; then
    ok "-v version is MAJOR.MINOR.PATCH"
else
    fail "-v version is MAJOR.MINOR.PATCH" "got: $STDOUT"
fi

run_lmd -h
STDERR=
expect_rc "-h prints usage on stdout and exits 0" 0 "Usage: lmd" \
    "-s signal"

run_lmd -x
STDOUT=
expect_rc "an unknown option exits 2 with the option named" 2 '"-x"'

run_lmd -c
check "-c without its argument exits 2" [ "$RC" = 2 ]

run_lmd bench
expect_rc "lmd bench without a URL exits 2 and says what is missing" \
    2 'no server URL given'

run_lmd frobnicate
expect_rc "an unknown subcommand exits 2" 2 'unknown command "frobnicate"'


# ---------------------------------------------------------------- -t

cat > "$OUT/good.yaml" <<EOF
daemon:
  pid: logs/lmd.pid
  error_log: logs/error.log
http:
  listen: ["127.0.0.1:$PORT"]
models: [{name: t1, path: /x/model, engine: test}]
modules_path: $MODS
EOF
run_lmd -t -p "$OUT" -c "$OUT/good.yaml"
expect_rc "-t on a good config exits 0 and says test is successful" 0 \
    "test is successful"

# The unknown key is written at line 4, column 3.
cat > "$OUT/bad_key.yaml" <<'EOF'
daemon:
  pid: logs/lmd.pid

  no_such_key: 1
EOF
conf_test "-t: unknown key -> exit 1 at FILE:4:3:" "$OUT/bad_key.yaml" 1 \
    "$OUT/bad_key.yaml:4:3: unknown key \"no_such_key\""

# "4mb" starts at line 3, column 15.
cat > "$OUT/bad_size.yaml" <<'EOF'
http:
  limits:
    max_body: 4mb
EOF
conf_test "-t: size \"4mb\" -> exit 1 at FILE:3:15: expected a size" \
    "$OUT/bad_size.yaml" 1 "$OUT/bad_size.yaml:3:15: expected a size"

cat > "$OUT/bad_duration.yaml" <<'EOF'
daemon:
  shutdown_timeout: 10 parsecs
EOF
conf_test "-t: bad duration -> exit 1 at FILE:2:21: expected a duration" \
    "$OUT/bad_duration.yaml" 1 \
    "$OUT/bad_duration.yaml:2:21: expected a duration"

cat > "$OUT/bad_port.yaml" <<'EOF'
http:
  listen:
    - 127.0.0.1:99999
EOF
conf_test "-t: listen port 99999 -> exit 1 at FILE:3:7:" \
    "$OUT/bad_port.yaml" 1 "$OUT/bad_port.yaml:3:7: expected a port"

cat > "$OUT/bad_addr.yaml" <<'EOF'
http:
  listen: ["127.0.0.1"]
EOF
conf_test "-t: listen address without a port -> exit 1 at FILE:2:12:" \
    "$OUT/bad_addr.yaml" 1 "$OUT/bad_addr.yaml:2:12: missing port"

cat > "$OUT/bad_yaml.yaml" <<'EOF'
http:
  listen: ["127.0.0.1:8080"
EOF
conf_test "-t: YAML syntax error -> exit 1 with FILE:LINE:COL:" \
    "$OUT/bad_yaml.yaml" 1 "$OUT/bad_yaml.yaml:3:1:"

conf_test "-t: missing config file -> exit 1 naming the file" \
    "$OUT/does-not-exist.yaml" 1 "$OUT/does-not-exist.yaml"


# ---------------------------------------------------------------- -T

cat > "$OUT/dump.yaml" <<EOF
daemon:
  pid: logs/lmd.pid
  log_level: notice
http:
  listen:
    - "127.0.0.1:$PORT"
    - "[::1]:$PORT"
  limits:
    idle_timeout: 1m30s
  auth:
    api_keys: [sk-one, "sk-two"]
models: [{name: t1, path: /x/model, engine: test}]
modules_path: $MODS
EOF
run_lmd -T -p "$OUT" -c "$OUT/dump.yaml"
cp "$OUT/run.out" "$OUT/dump1.yaml"
D1=$STDOUT STDERR=
expect_rc "-T exits 0 and prints the defaults (max_body: 4m)" 0 \
    "    max_body: 4m" "    keepalive_requests: 10000"
expect_rc "-T prints the values set (log_level, both listeners, keys)" 0 \
    "log_level: notice" "\"[::1]:$PORT\"" "- \"sk-two\"" "idle_timeout: 90s"
check "-T prints relative paths resolved against the prefix" \
    has "$D1" "pid: \"$OUT/logs/lmd.pid\""

# Loaded from another prefix, the dump must still mean the same.
run_lmd -t -p / -c "$OUT/dump1.yaml"
expect_rc "the -T dump passes -t itself" 0 "test is successful"
check "the -T dump holds the model" grep -q 'engine: "test"' "$OUT/dump1.yaml"
"$LMD_BIN" -T -p / -c "$OUT/dump1.yaml" >"$OUT/dump2.yaml" 2>/dev/null
if cmp -s "$OUT/dump1.yaml" "$OUT/dump2.yaml"; then
    ok "dumping the dump again gives identical output"
else
    fail "dumping the dump again gives identical output" \
         "$(diff "$OUT/dump1.yaml" "$OUT/dump2.yaml" | head -5)"
fi


# --------------------------------------------------------------- TLS

cat > "$OUT/tls.yaml" <<EOF
http:
  listen:
    - addr: "127.0.0.1:$PORT"
      tls:
        cert: $OUT/missing-cert.pem
        key: $OUT/missing-key.pem
EOF
conf_test "-t: TLS listener with a missing cert -> exit 1 naming the file" \
    "$OUT/tls.yaml" 1 "\"$OUT/missing-cert.pem\""
check "-t: the TLS error points at the listen entry (FILE:3:7:)" \
    has "$STDERR" "$OUT/tls.yaml:3:7:"


# ----------------------------------------------------------- modules

# model_conf ENGINE: a config with one model on that engine.
model_conf() {
    cat > "$OUT/model_$1.yaml" <<EOF
models:
  - {name: t1, path: /x/model, engine: $1}
modules_path: $MODS
EOF
    echo "$OUT/model_$1.yaml"
}

conf_test "-t: engine module missing -> exit 1 naming the .so, not found" \
    "$(model_conf nosuch)" 1 "$MODS/lmd_engine_nosuch.so\" not found"
conf_test "-t: module with another ABI -> exit 1 naming the .so and ABI" \
    "$(model_conf badabi)" 1 "$MODS/lmd_engine_badabi.so\" has ABI version"
conf_test "-t: .so without lmd_module -> exit 1 naming it and the symbol" \
    "$(model_conf nosym)" 1 \
    "$MODS/lmd_engine_nosym.so\" does not export the symbol \"lmd_module\""
conf_test "-t: KV codec used as an engine -> exit 1, wrong kind named" \
    "$(model_conf wrongkind)" 1 \
    "$MODS/lmd_engine_wrongkind.so\" is a KV codec module"
check "-t: a module error points at the model entry (FILE:2:5:)" \
    has "$STDERR" "model_wrongkind.yaml:2:5: model \"t1\""
LMD_TEST_ENGINE_NO_DEVICE=1 run_lmd -t -p "$OUT" -c "$(model_conf test)"
expect_rc "-t: a failing engine probe -> exit 1 with the probe's reason" 1 \
    "no test device on this machine"


# ---------------------------------------------------------------- -s

run_lmd -s reload -p "$OUT" -c "$OUT/good.yaml"
expect_rc "-s reload with no daemon -> exit 1 naming the pid file" 1 \
    "pid file \"$OUT/logs/lmd.pid\""
run_lmd -s restart -p "$OUT" -c "$OUT/good.yaml"
expect_rc "-s with an unknown signal -> exit 1 listing the valid ones" 1 \
    "stop, quit, reload or reopen"
echo garbage > "$OUT/logs/lmd.pid"
run_lmd -s stop -p "$OUT" -c "$OUT/good.yaml"
expect_rc "-s stop with a garbage pid file -> exit 1, no valid pid" 1 \
    "holds no valid pid"
rm -f "$OUT/logs/lmd.pid"


# ------------------------------------------------------------- man pages

# man_clean PAGE: rendering prints no warnings.
man_clean() {
    local page=$1 what w
    what="man ${page##*/} renders without warnings"
    if [ ! -f "$TOP/$page" ]; then
        fail "$what" "$page is missing"
        return
    fi
    if command -v man >/dev/null 2>&1; then
        w=$(MANWIDTH=80 man --warnings -l "$TOP/$page" 2>&1 >/dev/null)
    elif command -v groff >/dev/null 2>&1; then
        w=$(groff -man -Tutf8 -ww -z "$TOP/$page" 2>&1)
    else
        skip "$what" "neither man nor groff is installed"
        return
    fi
    if [ -z "$w" ]; then
        ok "$what"
    else
        fail "$what" "$(printf '%s' "$w" | head -3)"
    fi
}
man_clean man/lmd.8
man_clean man/lmd.yaml.5

finish
