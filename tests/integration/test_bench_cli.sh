#!/bin/bash
# test_bench_cli.sh -- `lmd bench` against fake OpenAI-compatible servers,
# written below in Node (the http module only), which stream a known
# number of chunks at known delays with usage, and record what they got.
#
# Checked: the counts lmd bench reports (requests, input and output
# tokens, from usage) and the bodies it sends (model, max_tokens, prompt
# lengths, ignore_eos, include_usage, temperature, the API key); latencies
# against the fake's delays (TTFT >= the first delay, also when a chat
# stream starts with a role-only chunk; ITL and TPOT about the gap; e2e at
# least first + gaps); concurrency (the in-flight peak is C, on C kept-
# alive connections); an open loop; a seed giving the same requests;
# --tokenizer prompts of exact lengths; TLS; the progress line on a
# terminal; SIGINT.  Failures: HTTP 500, a chunk that is not JSON, an
# error event, a stream without [DONE], a silent server (--timeout), no
# server -- counted, the first five printed, exit 1.  Usage errors: exit 2.
. tests/integration/lib.sh

SHARED=${LMD_SHARED:-../shared}
case $SHARED in /*) ;; *) SHARED=$TOP/$SHARED ;; esac

if ! command -v node >/dev/null 2>&1; then
    skip "lmd bench" "node is not installed (the fake server needs it)"
    finish
fi

# ------------------------------------------------------------ the fake

cat > "$OUT/fake.js" <<'EOF'
// node fake.js PORT MODE FIRST_MS GAP_MS: a streaming OpenAI-like server.
// Each completion streams max_tokens text chunks, the first after
// FIRST_MS, the others GAP_MS apart, then a usage chunk (prompt_tokens:
// the prompt's words, or its ids) and [DONE].  MODE: ok; fail500; mixed
// (request k: k % 8 = 0 HTTP 500, 2 a chunk that is not JSON, 4 an error
// event, 6 no [DONE], odd k fine); hang (never answers a completion); eof
// (no chunked encoding: the body ends when the connection closes).
// GET /stats: what it saw; GET /reset forgets it.  FAKE_TLS_CERT and
// FAKE_TLS_KEY make it https; FAKE_DROP_IDLE=1 closes the connection
// after answering GET /v1/models (kept alive, it said).
'use strict';
const fs = require('fs');
const http = require('http');
const [port, mode, first, gap] = [+process.argv[2], process.argv[3],
                                  +process.argv[4], +process.argv[5]];
let seen;
let inflight = 0;

function reset() {
    seen = { requests: 0, max_inflight: 0, connections: 0, bodies: [],
             auth: [] };
}
reset();

function json(res, status, obj) {
    const s = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json',
                            'Content-Length': Buffer.byteLength(s) });
    res.end(s);
}

function stream(req, res, body, kind) {
    const chat = req.url.endsWith('/chat/completions');
    const n = body.max_tokens;
    const p = chat ? body.messages[0].content : body.prompt;
    const prompt = Array.isArray(p) ? p.length
                                    : p.split(/\s+/).filter(Boolean).length;
    const ev = (o) => res.write('data: ' + JSON.stringify(o) + '\n\n');
    const chunk = (text) => ev(chat
        ? { object: 'chat.completion.chunk', choices: [
              { index: 0, delta: { content: text }, finish_reason: null }] }
        : { object: 'text_completion', choices: [
              { index: 0, text: text, finish_reason: null }] });
    let i = 0;

    if (kind === 'eof') {
        res.useChunkedEncodingByDefault = false;
        res.shouldKeepAlive = false;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream',
                         'Cache-Control': 'no-cache' });
    inflight++;
    seen.max_inflight = Math.max(seen.max_inflight, inflight);
    if (chat) {                 // at once, and not a token
        ev({ object: 'chat.completion.chunk', choices: [
            { index: 0, delta: { role: 'assistant', content: '' } }] });
    }
    res.write(': a comment\n\n');
    const next = () => {
        chunk(' w' + i);
        i++;
        if (kind === 'badjson') {
            res.write('data: {broken\n\n');
        } else if (kind === 'errevent') {
            ev({ error: { message: 'overloaded', type: 'server_error' } });
        } else if (i < n) {
            setTimeout(next, gap);
            return;
        } else if (body.stream_options && body.stream_options.include_usage) {
            ev({ object: 'text_completion', choices: [], usage: {
                prompt_tokens: prompt, completion_tokens: n,
                total_tokens: prompt + n } });
        }
        if (kind !== 'nodone') {
            res.write('data: [DONE]\n\n');
        }
        inflight--;
        res.end();
    };
    setTimeout(next, first);
}

function handle(req, res) {
    const parts = [];
    if (req.url !== '/stats' && !req.socket.counted) {
        req.socket.counted = true;
        seen.connections++;
    }
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
        if (req.method === 'GET' && req.url === '/v1/models') {
            if (process.env.FAKE_DROP_IDLE) {
                res.on('finish', () => req.socket.destroy());
            }
            return json(res, 200, { object: 'list', data: [
                { id: 'fake-model', object: 'model' }] });
        }
        if (req.method === 'GET' && req.url === '/stats') {
            return json(res, 200, seen);
        }
        if (req.method === 'GET' && req.url === '/reset') {
            reset();
            return json(res, 200, {});
        }
        if (req.method !== 'POST'
            || !/^\/v1\/(chat\/)?completions$/.test(req.url)) {
            return json(res, 404, { error: { message: 'no ' + req.url } });
        }
        const body = JSON.parse(Buffer.concat(parts).toString());
        const k = seen.requests++;
        seen.bodies.push(body);
        seen.auth.push(req.headers.authorization || null);
        let kind = mode;
        if (mode === 'hang') {
            return;
        } else if (mode === 'mixed') {
            kind = ['fail500', 'ok', 'badjson', 'ok', 'errevent', 'ok',
                    'nodone', 'ok'][k % 8];
        }
        if (kind === 'fail500') {
            return json(res, 500, { error: { message: 'boom',
                                             type: 'server_error' } });
        }
        stream(req, res, body, kind);
    });
}

const cert = process.env.FAKE_TLS_CERT;
const server = cert
    ? require('https').createServer({
          cert: fs.readFileSync(cert),
          key: fs.readFileSync(process.env.FAKE_TLS_KEY) }, handle)
    : http.createServer(handle);
server.on(cert ? 'secureConnection' : 'connection',
          (s) => s.setNoDelay(true));
server.listen(port, '127.0.0.1', () => console.log('listening'));
EOF

FAKE_PIDS=
trap 'for p in $FAKE_PIDS; do kill "$p" 2>/dev/null; done' EXIT

# fake NAME MODE FIRST_MS GAP_MS: starts a fake; its base URL in $NAME.
fake() {
    local port i
    port=$(free_port)
    node "$OUT/fake.js" "$port" "$2" "$3" "$4" >"$OUT/fake_$1.log" 2>&1 &
    FAKE_PIDS="$FAKE_PIDS $!"
    for i in $(seq 1 50); do
        grep -q listening "$OUT/fake_$1.log" 2>/dev/null && break
        sleep 0.1
    done
    printf -v "$1" 'http%s://127.0.0.1:%s' "${FAKE_TLS_CERT:+s}" "$port"
}

# bench ARGS...: lmd bench; RC, $OUT/bench.out and $OUT/bench.err.
bench() {
    "$LMD_BIN" bench "$@" >"$OUT/bench.out" 2>"$OUT/bench.err"
    RC=$?
    cat "$OUT/bench.err" >> "$OUT/stderr.log"     # finish looks for ASan
}

# js NAME EXPR: ok when the JS expression is true, with r the report
# (--json output), s the fake's /stats of the last stats call.
js() {
    local why
    why=$(node -e '
        const fs = require("fs");
        const read = (f) => { try { return JSON.parse(fs.readFileSync(f)); }
                              catch (e) { return null; } };
        const r = read(process.argv[1]), s = read(process.argv[2]);
        let v;
        try { v = eval(process.argv[3]); } catch (e) { v = e.message; }
        if (v !== true) {
            console.log("got " + JSON.stringify(v) + "; report "
                        + JSON.stringify(r).slice(0, 1500));
        }' "$OUT/bench.out" "$OUT/stats.json" "$2" 2>&1)
    if [ -z "$why" ]; then ok "$1"; else fail "$1" "$2: $why"; fi
}

not_grep() { ! grep -q "$@"; }

# stats URL: the fake's record into $OUT/stats.json; reset: forget it.
stats() { curl -s --max-time 5 "$1/stats" > "$OUT/stats.json"; }
reset() { curl -s --max-time 5 -o /dev/null "$1/reset"; }

# expect RC NEEDLE NAME: the last bench exited RC and stderr holds NEEDLE.
expect() {
    if [ "$RC" != "$1" ]; then
        fail "$3" "exit $RC, want $1; stderr: $(head -c 600 "$OUT/bench.err")"
    elif ! grep -qF -- "$2" "$OUT/bench.err"; then
        fail "$3" "no '$2' in: $(head -c 600 "$OUT/bench.err")"
    else
        ok "$3"
    fi
}

# ---------------------------------------------------------- usage, exit 2

bench
expect 2 "no server URL" "no arguments: exit 2"
bench http://127.0.0.1:1 --bogus
expect 2 '"--bogus"' "unknown option: exit 2, named"
bench ftp://127.0.0.1
expect 2 "http or https" "not an http URL: exit 2"
bench http://127.0.0.1:99999
expect 2 "bad port" "bad port: exit 2"
bench http://127.0.0.1:1 --input-len 0
expect 2 "--input-len" "--input-len 0: exit 2"
bench http://127.0.0.1:1 --output-len 9:3
expect 2 "A:B" "--output-len 9:3: exit 2, the forms shown"
bench http://127.0.0.1:1 --input-len 5~x
expect 2 "--input-len" "bad normal DIST: exit 2"
bench http://127.0.0.1:1 --rate 2 --concurrency 2
expect 2 "not both" "--rate with --concurrency: exit 2"
bench http://127.0.0.1:1 --requests 0
expect 2 "--requests" "--requests 0: exit 2"
bench http://127.0.0.1:1 --endpoint embeddings
expect 2 "--endpoint" "unknown endpoint: exit 2"
bench http://127.0.0.1:1 --rate 0
expect 2 "--rate" "--rate 0: exit 2"
bench http://127.0.0.1:1 --model
expect 2 "--model needs a value" "option without its value: exit 2"
bench http://127.0.0.1:1 http://127.0.0.1:2
expect 2 "unexpected argument" "two URLs: exit 2"
bench --help
check "--help: exit 0, usage on stdout" \
    [ "$RC" = 0 -a "$(head -c 16 "$OUT/bench.out")" = "Usage: lmd bench" ]

# ------------------------------------------------------------- no server

NOPORT=$(free_port)
bench "http://127.0.0.1:$NOPORT" --requests 3
expect 1 "/v1/models: connect: Connection refused" \
    "no server, no --model: exit 1, GET /v1/models named"
bench "http://127.0.0.1:$NOPORT" --requests 3 --model m --json
expect 1 "Connection refused" "no server: exit 1, the reason printed"
js "no server: 3 failed, 0 completed" 'r.failed === 3 && r.completed === 0'

# -------------------------------------------- latencies against the delays

# first token after 100 ms, then a token every 20 ms
fake SLOW ok 100 20
bench "$SLOW" --requests 12 --concurrency 4 --input-len 20 --output-len 10 \
    --json
stats "$SLOW"
check "12 requests at 4 in flight: exit 0" [ "$RC" = 0 ]
js "all 12 completed, none failed" \
    'r.completed === 12 && r.failed === 0 && r.num_requests === 12'
js "input tokens: 12 x 20 (usage.prompt_tokens)" \
    'r.total_input_tokens === 240'
js "output tokens: 12 x 10 (usage.completion_tokens)" \
    'r.total_output_tokens === 120'
js "the model from GET /v1/models" 'r.model === "fake-model"'
js "TTFT >= the first delay (100 ms), and sensible" \
    'r.mean_ttft_ms >= 100 && r.median_ttft_ms >= 100 && r.p99_ttft_ms < 3000'
js "ITL about the gap (20 ms)" \
    'r.median_itl_ms >= 15 && r.median_itl_ms < 500 && r.p99_itl_ms >= 19'
js "TPOT about the gap (20 ms)" \
    'r.mean_tpot_ms >= 15 && r.mean_tpot_ms < 500'
js "e2e >= 100 + 9 x 20 ms" \
    'r.median_e2el_ms >= 280 && r.mean_e2el_ms >= 280'
js "percentiles ordered" \
    'r.median_e2el_ms <= r.p90_e2el_ms && r.p90_e2el_ms <= r.p99_e2el_ms'
js "throughputs: tokens over the duration" \
    'r.duration > 0.5 && Math.abs(r.output_throughput * r.duration - 120)
     < 1e-6 && Math.abs(r.request_throughput * r.duration - 12) < 1e-6'
js "the server saw 12 requests, 4 at most in flight" \
    's.requests === 12 && s.max_inflight === 4'
js "connections kept alive: 4 for 13 requests" 's.connections === 4'
js "bodies: stream, include_usage, ignore_eos, temperature 0, max_tokens" \
    's.bodies.every(b => b.stream === true && b.stream_options.include_usage
     === true && b.ignore_eos === true && b.temperature === 0
     && b.max_tokens === 10 && b.model === "fake-model")'
js "prompts of 20 words" \
    's.bodies.every(b => b.prompt.split(" ").length === 20)'
js "no API key: no Authorization" 's.auth.every(a => a === null)'

# a chat stream starts with a role-only chunk at once: not the first token
reset "$SLOW"
bench "$SLOW" --endpoint chat --requests 4 --input-len 5 --output-len 3 \
    --model chosen --api-key sekret --temperature 0.5 --json
stats "$SLOW"
check "chat: exit 0" [ "$RC" = 0 ]
js "chat: TTFT >= 100 ms despite the role chunk" \
    'r.completed === 4 && r.mean_ttft_ms >= 100 && r.median_ttft_ms >= 100'
js "chat: 12 output tokens" 'r.total_output_tokens === 12'
js "chat: messages, --model, --temperature" \
    's.bodies.every(b => b.messages.length === 1 && b.messages[0].role
     === "user" && b.messages[0].content.split(" ").length === 5
     && b.model === "chosen" && b.temperature === 0.5)'
js "--api-key: Authorization: Bearer" \
    's.auth.length === 4 && s.auth.every(a => a === "Bearer sekret")'

# SIGINT: the finished requests are reported, the rest not counted
"$LMD_BIN" bench "$SLOW" --requests 40 --concurrency 2 --input-len 2 \
    --output-len 20 --json >"$OUT/bench.out" 2>"$OUT/bench.err" &
BPID=$!
sleep 1.2
kill -INT "$BPID"
wait "$BPID"
RC=$?
cat "$OUT/bench.err" >> "$OUT/stderr.log"
expect 1 "interrupted" "SIGINT: exit 1, said"
js "SIGINT: a report of the finished ones" \
    'r.interrupted === true && r.completed >= 2 && r.completed < 40
     && r.failed === 0'

# ------------------------------------------------ functions, a fast fake

fake FAST ok 5 2
bench "$FAST" --requests 5 --input-len 4 --output-len 3 --quiet
check "text report: exit 0" [ "$RC" = 0 ]
check "text report: successful requests" \
    grep -Eq '^Successful requests: +5$' "$OUT/bench.out"
check "text report: output tokens" \
    grep -Eq '^Total output tokens: +15$' "$OUT/bench.out"
for k in "Mean TTFT" "Median TPOT" "P90 ITL" "P99 E2E" \
         "Request throughput" "Total token throughput"; do
    check "text report: $k" grep -q "^$k" "$OUT/bench.out"
done

reset "$FAST"
OPENAI_API_KEY=from-env bench "$FAST" --endpoint chat --rate 20 \
    --requests 10 --input-len 4:8 --output-len 3 --json
stats "$FAST"
check "open loop: exit 0" [ "$RC" = 0 ]
js "open loop: 10 requests, 30 tokens" \
    'r.completed === 10 && r.total_output_tokens === 30
     && r.request_rate === 20 && r.concurrency === null'
js "open loop: Poisson arrivals at 20/s take a while" 'r.duration > 0.2'
js "uniform input lengths in [4, 8], and the usage counts them" \
    's.bodies.every(b => { const n = b.messages[0].content.split(" ")
     .length; return n >= 4 && n <= 8; }) && r.total_input_tokens ===
     s.bodies.reduce((a, b) => a + b.messages[0].content.split(" ")
     .length, 0)'
js "\$OPENAI_API_KEY when no --api-key" \
    's.auth.every(a => a === "Bearer from-env")'

reset "$FAST"
bench "$FAST" --requests 6 --input-len 8~3 --output-len 4~2 --seed 7 --json
bench "$FAST" --requests 6 --input-len 8~3 --output-len 4~2 --seed 7 --json
bench "$FAST" --requests 6 --input-len 8~3 --output-len 4~2 --seed 8 --json
stats "$FAST"
js "a seed gives the same requests" \
    'JSON.stringify(s.bodies.slice(0, 6).map(b => [b.prompt, b.max_tokens]))
     === JSON.stringify(s.bodies.slice(6, 12).map(b => [b.prompt,
     b.max_tokens]))'
js "another seed other requests" \
    'JSON.stringify(s.bodies.slice(0, 6).map(b => b.prompt))
     !== JSON.stringify(s.bodies.slice(12).map(b => b.prompt))'
js "normal lengths are at least 1" \
    's.bodies.every(b => b.max_tokens >= 1 && b.prompt.length > 0)'
js "--no-ignore-eos is off by default" 's.bodies.every(b => b.ignore_eos)'

reset "$FAST"
bench "$FAST" --requests 2 --input-len 3 --output-len 2 --no-ignore-eos \
    --json
stats "$FAST"
js "--no-ignore-eos sends none" \
    's.bodies.length === 2 && s.bodies.every(b => !("ignore_eos" in b))'

if [ -f "$SHARED/models/stories260K/tokenizer.json" ]; then
    reset "$FAST"
    bench "$FAST" --requests 5 --input-len 7 --output-len 2 --json \
        --tokenizer "$SHARED/models/stories260K"
    stats "$FAST"
    js "--tokenizer: completions prompts of exactly 7 ids" \
        's.bodies.length === 5 && s.bodies.every(b => Array.isArray(b.prompt)
         && b.prompt.length === 7 && b.prompt.every(i => Number.isInteger(i)
         && i >= 0 && i < 512))'
    js "--tokenizer: 35 input tokens" 'r.total_input_tokens === 35'
    reset "$FAST"
    bench "$FAST" --requests 2 --input-len 7 --output-len 2 --json \
        --endpoint chat --tokenizer "$SHARED/models/stories260K"
    stats "$FAST"
    js "--tokenizer, chat: the ids decoded to text" \
        'r.completed === 2 && s.bodies.every(b =>
         typeof b.messages[0].content === "string"
         && b.messages[0].content.length > 0)'
else
    skip "--tokenizer" "$SHARED/models/stories260K is absent (LMD_SHARED)"
fi
bench "$FAST" --model m --tokenizer "$OUT/no-such-model"
expect 1 "no-such-model" "--tokenizer of a missing folder: exit 1, named"

if command -v script >/dev/null 2>&1; then
    script -qec "$LMD_BIN bench $FAST --requests 30 --concurrency 1 \
        --input-len 2 --output-len 20" /dev/null > "$OUT/tty.out" 2>&1
    check "a terminal shows the progress line" \
        grep -q 'lmd bench: [0-9]*/30 done, [0-9] running' "$OUT/tty.out"
    script -qec "$LMD_BIN bench $FAST --requests 30 --concurrency 1 \
        --input-len 2 --output-len 20 --quiet" /dev/null > "$OUT/tty.out" 2>&1
    check "--quiet: no progress line" \
        not_grep '/30 done' "$OUT/tty.out"
else
    skip "progress line" "script(1) is not installed"
fi

# a server that closes a kept-alive connection as the request goes out
FAKE_DROP_IDLE=1 fake DROP ok 5 2
bench "$DROP" --requests 4 --concurrency 2 --input-len 3 --output-len 2 \
    --json
stats "$DROP"
check "an idle connection the server closed: exit 0" [ "$RC" = 0 ]
js "an idle connection the server closed: the request sent again" \
    'r.completed === 4 && r.failed === 0 && s.requests === 4'

# ------------------------------------------------------------- failures

fake FAIL fail500 5 2
bench "$FAIL" --requests 5 --input-len 3 --output-len 2 --json
expect 1 "HTTP 500: boom" "HTTP 500: exit 1, the error message printed"
js "HTTP 500: 5 failed, 0 completed" 'r.failed === 5 && r.completed === 0'

fake MIXED mixed 5 2
bench "$MIXED" --requests 16 --concurrency 1 --input-len 3 --output-len 4 \
    --json
expect 1 "HTTP 500: boom" "mixed failures: exit 1"
js "mixed: 8 completed, 8 failed, 32 output tokens" \
    'r.completed === 8 && r.failed === 8 && r.total_output_tokens === 32'
for needle in 'not a JSON object: "{broken"' "error in the stream: overloaded" \
              'without "data: [DONE]"' "3 more requests failed"; do
    check "mixed: stderr says: $needle" grep -qF -- "$needle" "$OUT/bench.err"
done
check "mixed: the first five failures printed" \
    [ "$(grep -c 'failed: ' "$OUT/bench.err")" = 5 ]
js "mixed: --json lists the first five errors" \
    'r.errors.length === 5 && r.errors[0] === "HTTP 500: boom"'

fake HANG hang 5 2
bench "$HANG" --requests 2 --input-len 3 --timeout 0.3 --json
expect 1 "timed out" "a silent server: --timeout fails the requests"
js "silent: 2 failed" 'r.failed === 2'

fake EOFS eof 5 2
bench "$EOFS" --requests 6 --concurrency 2 --input-len 3 --output-len 4 \
    --json
stats "$EOFS"
check "a body ended by the connection's close: exit 0" [ "$RC" = 0 ]
js "connection-close bodies: 6 completed, a connection each" \
    'r.completed === 6 && r.total_output_tokens === 24
     && s.connections === 6'

# ------------------------------------------------------------------ TLS

if command -v openssl >/dev/null 2>&1 \
    && openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
         -days 1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
         -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
then
    FAKE_TLS_CERT=$OUT/cert.pem FAKE_TLS_KEY=$OUT/key.pem fake TLS ok 5 2
    bench "$TLS" --requests 3 --input-len 3 --output-len 2
    expect 1 "self-signed" "https: an unknown certificate fails, said"
    bench "$TLS" --requests 3 --input-len 3 --output-len 2 --insecure
    check "https --insecure: exit 0" [ "$RC" = 0 ]
    SSL_CERT_FILE=$OUT/cert.pem bench "$TLS" --requests 3 --input-len 3 \
        --output-len 2 --json
    js "https, the certificate trusted: 3 completed" 'r.completed === 3'
    SSL_CERT_FILE=$OUT/cert.pem bench "${TLS/127.0.0.1/localhost}" \
        --requests 1 --input-len 3 --output-len 2 --json
    js "https by host name: verified" 'r.completed === 1'
else
    skip "https" "openssl cannot make a test certificate"
fi

finish
