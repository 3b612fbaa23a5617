#!/bin/bash
# test_chat_cli.sh -- `lmd chat` on the cpu engine, fed from a pipe.
#
# stories260K (../shared), greedy: one turn answers what `lmd generate`
# completes of the rendered prompt; two turns with --verbose prefill the
# second turn's new tokens only (some cached), and the second answer is
# what `lmd generate` completes of the whole conversation, so the kept
# cache is right; /reset starts from an empty cache; a turn longer than
# --context is refused and the chat goes on.  The demo model chats too.
# Ctrl-C at the prompt ends the chat with 130; usage errors exit 2, a
# missing folder 1.
. tests/integration/lib.sh
. tests/integration/lib_model.sh

# chat INPUT ARGS...: printf INPUT | lmd chat ARGS; RC, $OUT/chat.out and
# $OUT/chat.err.
chat() {
    local input=$1
    shift
    printf "$input" | "$LMD_BIN" chat "$@" >"$OUT/chat.out" 2>"$OUT/chat.err"
    RC=$?
    cat "$OUT/chat.err" >> "$OUT/stderr.log"    # finish looks for ASan
}

# expect_chat NAME RC NEEDLE: the last chat exited RC and its stderr (or
# stdout, for --help) holds NEEDLE.
expect_chat() {
    if [ "$RC" != "$2" ]; then
        fail "$1" "exit $RC, want $2; stderr: $(head -c 300 "$OUT/chat.err")"
    elif ! grep -qF -- "$3" "$OUT/chat.err" "$OUT/chat.out"; then
        fail "$1" "no '$3' in: $(head -c 300 "$OUT/chat.err")"
    else
        ok "$1"
    fi
}

# prefills: the "prefill N new tokens (M cached)" lines, as "N:M" words.
prefills() {
    sed -n 's/^prefill \([0-9]*\) new tokens (\([0-9]*\) cached)$/\1:\2/p' \
        "$OUT/chat.err" | paste -sd' '
}

# ------------------------------------------------------------------ usage

chat ''
expect_chat "no model folder: exit 2" 2 "no model folder"
chat '' "$OUT/x" --bogus
expect_chat "unknown option: exit 2, named" 2 '"--bogus"'
chat '' "$OUT/no-such-model"
expect_chat "missing folder: exit 1, named" 1 "no-such-model"
chat '' "$OUT/x" --temperature hot
expect_chat "bad --temperature: exit 1, named" 1 "--temperature"
chat '' --help
expect_chat "--help: exit 0, usage on stdout" 0 "Usage: lmd chat"

if ! have_cpu_engine; then
    skip "model runs" "$MODULES/lmd_engine_cpu.so is not built (make modules)"
    finish
fi

# ------------------------------------------------------------ the demo model

if make_demo "$OUT/demo"; then
    chat 'Hello\n/exit\n' "$OUT/demo" --max-tokens 8
    check "demo: printf 'Hello\n/exit\n' | lmd chat exits 0" [ "$RC" = 0 ]
    check "demo: one answer line" [ "$(wc -l < "$OUT/chat.out")" -ge 1 ]
    expect_chat "demo: stderr says it is the random demo model" 0 \
        "random demo model"
    chat 'Hi\nHow are you?\n' "$OUT/demo" --max-tokens 8 --verbose
    P=$(prefills)
    check "demo: end of input quits with 0" [ "$RC" = 0 ]
    case $P in
        *:0\ *:[1-9]*) ok "demo: the second turn reuses the cache ($P)" ;;
        *) fail "demo: the second turn reuses the cache" "prefills: $P" ;;
    esac
fi

# ------------------------------------------------------------- stories260K

if [ ! -f "$STORIES/config.json" ]; then
    skip "stories260K chats" "$STORIES is absent (set LMD_SHARED)"
    finish
fi

# One turn: the answer is the completion of the rendered prompt (the chat
# template writes <s> itself; generate adds the same BOS).
chat 'Once upon a time\n' "$STORIES" --max-tokens 16 --verbose
check "stories: one turn, exit 0" [ "$RC" = 0 ]
P=$(prefills)
case $P in
    [1-9]*:0) ok "stories: one prefill, nothing cached ($P)" ;;
    *) fail "stories: one prefill, nothing cached" "prefills: $P" ;;
esac
A1=$(cat "$OUT/chat.out"; printf x)
A1=${A1%$'\n'x}
"$LMD_BIN" generate "$STORIES" --max-tokens 16 \
    --prompt "$(printf 'User: Once upon a time\nAssistant:')" \
    >"$OUT/gen1.out" 2>>"$OUT/stderr.log"
G1=$(cat "$OUT/gen1.out"; printf x)
G1=${G1%$'\n'x}
expect_eq "stories: the answer is generate's completion" "$A1" "${G1# }"

# Two turns and a reset.
chat 'Once upon a time\nThe dog\n/reset\nThe dog\n/exit\n' "$STORIES" \
    --max-tokens 16 --verbose
check "stories: two turns, /reset, /exit: exit 0" [ "$RC" = 0 ]
read -r P1 P2 P3 <<< "$(prefills)"
check "stories: three prefills" [ -n "$P3" ]
check "stories: the first turn starts from an empty cache ($P1)" \
    [ "${P1#*:}" = 0 ]
N2=${P2%:*} C2=${P2#*:}
check "stories: the second turn prefills only its new tokens ($P2)" \
    [ "${C2:-0}" -gt 10 -a "${N2:-99}" -lt 20 ]
check "stories: after /reset the cache is empty ($P3)" [ "${P3#*:}" = 0 ]

# The second answer, with the cache, is what a fresh prefill of the whole
# conversation gives.
OUT2=$(cat "$OUT/chat.out"; printf x)
OUT2=${OUT2#"$A1"$'\n'}
A2=${OUT2%%$'\n'*}
"$LMD_BIN" generate "$STORIES" --max-tokens 16 \
    --prompt "$(printf 'User: Once upon a time\nAssistant: %s\n' "$A1"
                printf 'User: The dog\nAssistant:')" \
    >"$OUT/gen2.out" 2>>"$OUT/stderr.log"
G2=$(head -n 1 "$OUT/gen2.out")
expect_eq "stories: the second answer matches a fresh prefill" "$A2" \
    "${G2# }"

# A turn past --context is refused; the chat goes on.
chat 'Once upon a time there was a dog\n/exit\n' "$STORIES" --context 8
expect_chat "stories: a turn past --context is refused, exit 0" 0 \
    "the context holds 8"

chat '/frobnicate\n/exit\n' "$STORIES"
expect_chat "stories: an unknown command is named, the chat goes on" 0 \
    'unknown command "/frobnicate"'

# Ctrl-C at the prompt quits with 130 (stdin a pipe that stays open).
mkfifo "$OUT/fifo"
sleep 20 > "$OUT/fifo" &
HOLD=$!
"$LMD_BIN" chat "$STORIES" < "$OUT/fifo" >"$OUT/int.out" \
    2>>"$OUT/stderr.log" &
CHAT=$!
sleep 1
kill -INT "$CHAT" 2>/dev/null
for i in $(seq 1 50); do
    kill -0 "$CHAT" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$CHAT" 2>/dev/null; then
    kill -KILL "$CHAT"
    fail "Ctrl-C at the prompt quits" "still running after 5 s"
else
    wait "$CHAT"
    expect_eq "Ctrl-C at the prompt quits with 130" "$?" 130
fi
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null

for p in man/lmd-chat.1 man/lmd-generate.1; do
    if command -v man >/dev/null 2>&1; then
        W=$(MANWIDTH=80 man --warnings -l "$TOP/$p" 2>&1 >/dev/null)
        expect_eq "man $p renders without warnings" "$W" ""
    fi
done

finish
