#!/bin/bash
# test_api_completions.sh -- POST /v1/chat/completions and /v1/completions
# on stories260K (../shared) and the cpu engine, with curl: the basics.
#
# At temperature 0 a completion is exactly `lmd generate`'s greedy text for
# the same prompt (as a string or as its token ids), and a chat answer is
# exactly `lmd chat`'s for the same user line.  A streamed answer is
# well-formed SSE (role first, text, finish_reason last, [DONE]) whose text
# is the non-streamed one; include_usage adds "usage": null to every chunk
# and a last chunk with the usage.  A stop string taken from the greedy
# text cuts the text right before it (streamed or not); max_tokens 5 ends
# with "length" after 5 tokens.  Logprobs have OpenAI's shapes.  Each 4xx
# case answers OpenAI's error object with the right status, param and
# code.  The access log line ends with the token counts.  The bigger
# suites (openai SDK, concurrency, faults) live in tests/integration/node.
. tests/integration/lib.sh
. tests/integration/lib_http.sh
. tests/integration/lib_model.sh

if [ ! -f "$STORIES/config.json" ]; then
    skip "completions" "$STORIES is absent (set LMD_SHARED)"
    finish
fi
if ! have_cpu_engine; then
    skip "completions" "$MODULES/lmd_engine_cpu.so is not built (make modules)"
    finish
fi
if ! command -v python3 >/dev/null 2>&1; then
    skip "completions" "python3 is needed to read the answers"
    finish
fi

lmd_config <<YAML
models:
  - {name: stories, path: $STORIES, engine: cpu, threads: 1}
modules_path: $MODULES
YAML
lmd_start
CODE=
for i in $(seq 1 100); do
    CODE=$(http_status /health)
    [ "$CODE" = 200 ] && break
    sleep 0.1
done
expect_eq "/health is 200 once stories260K is loaded" "$CODE" 200

# post NAME PATH JSON: one POST; the body goes to $OUT/NAME.b, the header
# block to $OUT/NAME.h; prints the status.
post() {
    local name=$1 path=$2
    curl -s --max-time 30 -D "$OUT/$name.h" -o "$OUT/$name.b" \
        -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$3" "$BASE$path"
}

# py FILE CODE [ARGS...]: runs python CODE with d = the JSON of FILE
# (ARGS in sys.argv[2:]).
py() {
    local file=$1 code=$2
    shift 2
    python3 -c "import json, sys
d = json.load(open(sys.argv[1], encoding='utf-8'))
$code" "$file" "$@"
}

PROMPT="Once upon a time"

# ------------------------------------------ greedy = lmd generate / chat

"$LMD_BIN" generate "$STORIES" --prompt "$PROMPT" --max-tokens 40 --json \
    --modules "$MODULES" --threads 1 >"$OUT/gen.json" 2>>"$OUT/stderr.log"
WANT=$(jget "$OUT/gen.json" text)
IDS=$(jget "$OUT/gen.json" prompt_ids)
check "lmd generate gives a reference text" [ -n "$WANT" ]

CODE=$(post cmpl /v1/completions "{\"model\":\"stories\",\
\"prompt\":\"$PROMPT\",\"max_tokens\":40,\"temperature\":0}")
expect_eq "completion: 200" "$CODE" 200
expect_eq "completion at temperature 0 is lmd generate's text" \
    "$(jget "$OUT/cmpl.b" choices.0.text)" "$WANT"
expect_eq "completion: object, id prefix, fingerprint" \
    "$(py "$OUT/cmpl.b" 'print(d["object"], d["id"][:5], len(d["id"]),
        d["system_fingerprint"][:7], d["model"])')" \
    "text_completion cmpl- 29 fp_lmd_ stories"
expect_eq "completion: usage counts" \
    "$(py "$OUT/cmpl.b" 'u = d["usage"]
print(u["prompt_tokens"], u["total_tokens"] - u["completion_tokens"],
      "cached_tokens" in u["prompt_tokens_details"])')" \
    "$(count_ids "$OUT/gen.json" prompt_ids) \
$(count_ids "$OUT/gen.json" prompt_ids) True"

CODE=$(post ids /v1/completions "{\"model\":\"stories\",\"prompt\":$IDS,\
\"max_tokens\":40,\"temperature\":0}")
expect_eq "completion of the prompt's token ids: the same text" \
    "$CODE $(jget "$OUT/ids.b" choices.0.text)" "200 $WANT"

CODE=$(post echo /v1/completions "{\"model\":\"stories\",\
\"prompt\":\"$PROMPT\",\"max_tokens\":40,\"temperature\":0,\"echo\":true}")
expect_eq "echo prepends the prompt" "$(jget "$OUT/echo.b" choices.0.text)" \
    "$PROMPT$WANT"

echo "Hi" | "$LMD_BIN" chat "$STORIES" --max-tokens 30 --temperature 0 \
    --modules "$MODULES" --threads 1 >"$OUT/chat.out" 2>>"$OUT/stderr.log"
CHAT=$(cat "$OUT/chat.out")
CODE=$(post chat /v1/chat/completions '{"model":"stories","messages":
[{"role":"user","content":"Hi"}],"max_tokens":30,"temperature":0}')
expect_eq "chat: 200" "$CODE" 200
expect_eq "chat at temperature 0 is lmd chat's answer" \
    "$(jget "$OUT/chat.b" choices.0.message.content)" "$CHAT"
expect_eq "chat: object, role, id prefix" \
    "$(py "$OUT/chat.b" 'print(d["object"], d["id"][:9],
        d["choices"][0]["message"]["role"], d["choices"][0]["index"])')" \
    "chat.completion chatcmpl- assistant 0"

# ------------------------------------------------------------- streaming

# sse NAME: checks $OUT/NAME.b as an SSE stream of chat chunks (kind chat)
# or completion chunks; prints "OK text|finish|usage" or what is wrong.
sse() {
    python3 - "$OUT/$1.b" "$2" <<'PY'
import json, sys
raw = open(sys.argv[1], encoding="utf-8", errors="replace").read()
chat = sys.argv[2] == "chat"
if not raw.endswith("data: [DONE]\n\n"):
    print("no data: [DONE] at the end"); sys.exit()
events = [e for e in raw.split("\n\n") if e]
text, finish, usage, first, done = {}, {}, None, {}, False
for e in events[:-1]:
    if not e.startswith("data: "):
        print("not a data line: " + e[:80]); sys.exit()
    try:
        d = json.loads(e[6:])
    except ValueError:
        print("not JSON: " + e[:80]); sys.exit()
    if "object" not in d:
        print("no object: " + e[:120]); sys.exit()
    if d["object"] != ("chat.completion.chunk" if chat else
                       "text_completion"):
        print("object " + d["object"]); sys.exit()
    if "usage" in d and d["usage"] is not None:
        if d["choices"] != []:
            print("usage chunk with choices"); sys.exit()
        usage = d["usage"]; continue
    if usage is not None:
        print("a chunk after the usage"); sys.exit()
    for c in d["choices"]:
        i = c["index"]
        if i in finish:
            print("a chunk after finish_reason"); sys.exit()
        if chat:
            delta = c["delta"]
            if i not in first:
                first[i] = delta
                if delta != {"role": "assistant", "content": ""}:
                    print("first delta %r" % delta); sys.exit()
                continue
            if c["finish_reason"] is not None and delta != {}:
                print("finish with a delta"); sys.exit()
            text[i] = text.get(i, "") + delta.get("content", "")
        else:
            text[i] = text.get(i, "") + c["text"]
        if c["finish_reason"] is not None:
            finish[i] = c["finish_reason"]
print("OK %s|%s|%s" % (text.get(0, ""), finish.get(0),
                       usage and usage["completion_tokens"]))
PY
}

CODE=$(post schat /v1/chat/completions '{"model":"stories","messages":
[{"role":"user","content":"Hi"}],"max_tokens":30,"temperature":0,
"stream":true,"stream_options":{"include_usage":true}}')
expect_eq "streamed chat: 200" "$CODE" 200
expect_eq "streamed chat: Content-Type text/event-stream" \
    "$(hval "$OUT/schat.h" Content-Type)" "text/event-stream"
expect_eq "streamed chat: Cache-Control no-cache, X-Accel-Buffering no" \
    "$(hval "$OUT/schat.h" Cache-Control) \
$(hval "$OUT/schat.h" X-Accel-Buffering)" "no-cache no"
FIN=$(jget "$OUT/chat.b" choices.0.finish_reason)
CT=$(jget "$OUT/chat.b" usage.completion_tokens)
expect_eq "streamed chat: role first, the same text, finish_reason last, \
usage, [DONE]" "$(sse schat chat)" "OK $CHAT|$FIN|$CT"
check "streamed chat: every chunk has \"usage\":null but the last" \
    [ "$(grep -c '"usage":null' "$OUT/schat.b")" -ge 2 ]

CODE=$(post scmpl /v1/completions "{\"model\":\"stories\",\
\"prompt\":\"$PROMPT\",\"max_tokens\":40,\"temperature\":0,\"stream\":true}")
expect_eq "streamed completion: the same text, [DONE]" \
    "$CODE $(sse scmpl cmpl)" "200 OK $WANT|length|None"
check "streamed completion without include_usage: no usage member" \
    not_grep '"usage"' "$OUT/scmpl.b"

# ---------------------------------------------------- stop, max_tokens

# a word from the middle of the greedy text: the text stops before it
STOP=$(py "$OUT/cmpl.b" 'w = d["choices"][0]["text"].split()
print(w[len(w) // 2])')
BEFORE=$(py "$OUT/cmpl.b" 't = d["choices"][0]["text"]
s = sys.argv[2]
print(t[:t.index(s)], end="")' "$STOP")
CODE=$(post stop /v1/completions "{\"model\":\"stories\",\
\"prompt\":\"$PROMPT\",\"max_tokens\":40,\"temperature\":0,\
\"stop\":[\"zzz\",\"$STOP\"]}")
expect_eq "stop \"$STOP\": the text ends right before it, finish stop" \
    "$CODE $(py "$OUT/stop.b" 'c = d["choices"][0]
print(repr(c["text"]), c["finish_reason"])')" \
    "200 $(python3 -c 'import sys; print(repr(sys.argv[1]))' "$BEFORE") stop"
CODE=$(post sstop /v1/completions "{\"model\":\"stories\",\
\"prompt\":\"$PROMPT\",\"max_tokens\":40,\"temperature\":0,\"stream\":true,\
\"stop\":\"$STOP\"}")
expect_eq "stop \"$STOP\", streamed: the same cut" \
    "$(sse sstop cmpl)" "OK $BEFORE|stop|None"

CODE=$(post five /v1/chat/completions '{"model":"stories","messages":
[{"role":"user","content":"Hi"}],"max_tokens":5,"ignore_eos":true}')
expect_eq "max_tokens 5: finish_reason length, completion_tokens 5" \
    "$CODE $(jget "$OUT/five.b" choices.0.finish_reason) \
$(jget "$OUT/five.b" usage.completion_tokens)" "200 length 5"

CODE=$(post n3 /v1/completions "{\"model\":\"stories\",\
\"prompt\":\"$PROMPT\",\"max_tokens\":8,\"n\":3,\"seed\":7}")
expect_eq "n 3: three choices, indexes 0 1 2, usage counts them all" \
    "$CODE $(py "$OUT/n3.b" 'c = d["choices"]
print([x["index"] for x in c], 3 <= d["usage"]["completion_tokens"] <= 24)
')" "200 [0, 1, 2] True"

# ------------------------------------------------------------- logprobs

CODE=$(post lp /v1/chat/completions '{"model":"stories","messages":
[{"role":"user","content":"Hi"}],"max_tokens":4,"ignore_eos":true,
"logprobs":true,"top_logprobs":2}')
expect_eq "chat logprobs: one entry per token, token/logprob/bytes and \
2 top_logprobs each; the bytes spell the content" \
    "$CODE $(py "$OUT/lp.b" 'e = d["choices"][0]["logprobs"]["content"]
print(len(e), all(set(x) == {"token", "logprob", "bytes", "top_logprobs"}
                  and len(x["top_logprobs"]) == 2
                  and bytes(x["bytes"]).decode("utf-8", "replace")
                      == x["token"] and x["logprob"] <= 0 for x in e),
      b"".join(bytes(x["bytes"]) for x in e).decode()
      == d["choices"][0]["message"]["content"])')" \
    "200 4 True True"
CODE=$(post lpc /v1/completions "{\"model\":\"stories\",\
\"prompt\":\"$PROMPT\",\"max_tokens\":4,\"ignore_eos\":true,\"logprobs\":2,\
\"temperature\":0}")
expect_eq "completion logprobs: tokens, token_logprobs, top_logprobs, \
text_offset; the tokens spell the text" \
    "$CODE $(py "$OUT/lpc.b" 'c = d["choices"][0]
l = c["logprobs"]
print(len(l["tokens"]), len(l["token_logprobs"]), len(l["top_logprobs"]),
      len(l["text_offset"]), "".join(l["tokens"]) == c["text"],
      l["text_offset"][0], all(len(t) == 2 for t in l["top_logprobs"]))')" \
    "200 4 4 4 4 True 0 True"

# --------------------------------------------------------------- errors

# bad NAME STATUS PARAM CODE PATH BODY: the status and OpenAI's error
# object with that param (null for none) and code.
bad() {
    local got f=${1// /_}
    got=$(post "$f" "$5" "$6")
    if [ "$got" != "$2" ]; then
        fail "$1: status $2" "got $got: $(head -c 300 "$OUT/$f.b")"
        return
    fi
    check_error_json "$1: $2, OpenAI's error object" "$OUT/$f.b" "$4"
    expect_eq "$1: param" "$(json_get "$OUT/$f.b" error.param)" "$3"
}
MSG='"messages":[{"role":"user","content":"Hi"}]'
LONG=$(python3 -c 'print("hello " * 700)')
bad "bad JSON" 400 null "" /v1/chat/completions '{"model":'
bad "no model" 400 model "" /v1/chat/completions "{$MSG}"
bad "unknown model" 404 model model_not_found /v1/chat/completions \
    "{\"model\":\"nope\",$MSG}"
expect_eq "unknown model: OpenAI's message" \
    "$(json_get "$OUT/unknown_model.b" error.message)" \
    'The model `nope` does not exist.'
bad "temperature 3" 400 temperature "" /v1/chat/completions \
    "{\"model\":\"stories\",$MSG,\"temperature\":3}"
bad "n 0" 400 n "" /v1/completions \
    "{\"model\":\"stories\",\"prompt\":\"a\",\"n\":0}"
bad "messages empty" 400 messages "" /v1/chat/completions \
    '{"model":"stories","messages":[]}'
bad "prompt too long" 400 prompt context_length_exceeded /v1/completions \
    "{\"model\":\"stories\",\"prompt\":\"$LONG\"}"
bad "messages too long" 400 messages context_length_exceeded \
    /v1/chat/completions "{\"model\":\"stories\",\"messages\":\
[{\"role\":\"user\",\"content\":\"$LONG\"}]}"
bad "max_tokens too big" 400 max_tokens context_length_exceeded \
    /v1/chat/completions "{\"model\":\"stories\",$MSG,\"max_tokens\":600}"
expect_eq "max_tokens too big: OpenAI's wording" \
    "$(json_get "$OUT/max_tokens_too_big.b" error.message \
       | cut -c1-56)" \
    "This model's maximum context length is 512 tokens. Howev"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
       "$BASE/v1/chat/completions")
expect_eq "GET /v1/chat/completions: 405" "$CODE" 405

# ----------------------------------------------------------- access log

LINE=$(grep '"POST /v1/completions' "$OUT/logs/access.log" | head -n 1)
expect_match "access log: pt= ct= ttft= after the request time" "$LINE" \
    ' [0-9]+\.[0-9]{3} pt=[0-9]+ ct=40 ttft=[0-9]+$'

lmd_stop
expect_eq "lmd stops with status 0" "$LMD_STATUS" 0
finish
