"""tests/gpu/serve_check.py -- the daemon serving stories260K on the
cuda-awq engine over HTTP, checked against the cpu engine and against
itself (run on a GPU machine by tests/gpu/all.sh, part "daemon").

One lmd serves the model three times: "cpu" (engine cpu, f32), "cuda"
(engine cuda-awq, f16 weights) and "cuda8" (the same, int8 KV cache).  Checks, each printed with ok / FAIL:

  greedy     /v1/completions at temperature 0, streamed from "cuda"
             (tokens picked on the GPU): the text equals the cpu
             engine's up to the first position where the cpu's top-1 /
             top-2 logprob gap is under 0.05 (16-bit weights may
             legitimately pick the other token there); at least 60
             tokens compared over the prompts.
  device=host  the same request to "cuda" asking for logprobs (which
             makes the scheduler sample that row on the host, from the
             same logits) gives the same text as the streamed one: greedy,
             and greedy with repetition/frequency/presence penalties and a
             logit_bias, picked on the GPU and on the host, agree exactly.
  seeded     temperature 0.8, top_p 0.9, top_k 40, seed 7, twice: the same
             text; seed 8 gives another.
  bias       logit_bias +100 on one token id: every generated token is
             that token, on both engines.
  cancel     a long streamed answer (400 tokens) dropped after 5 events:
             generation stops short of the 400 tokens
             (lmd_generation_tokens_total) and lmd_requests_running in
             /metrics returns to 0 within 5 s.
  kv int8    a third model, "cuda8", the same with kv_cache {codec:
             int8} (the int8-kv module's CUDA backend): its greedy
             streamed text equals the cpu engine's up to the first
             position where the cpu's top-1 / top-2 gap is under 0.1
             (int8's own bound, test_model_stories), and /metrics gives
             it a KV pool.
  stream     every streamed answer ends with data: [DONE] and the
             daemon still answers /v1/models at the end.

Usage: python3 tests/gpu/serve_check.py   (from the repository root;
LMD_SHARED, default ../shared; objs/lmd and modules/*.so built).
Exit status 0 only if every check passed.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

PORT = int(os.environ.get("LMD_PORT", "8197"))
# The engine of the model named "cuda" (cpu: a dry run of this script on
# a machine without a GPU).
ENGINE = os.environ.get("LMD_CHECK_ENGINE", "cuda-awq")
FAILS = []


def say(name, ok, detail):
    print("%-13s %s %s" % (name, detail, "ok" if ok else "FAIL"))
    if not ok:
        FAILS.append(name)


def post(path, body, stream=False, timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    c.request("POST", path, json.dumps(body),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    if not stream:
        data = r.read()
        c.close()
        if r.status != 200:
            raise RuntimeError("%s: HTTP %d %s" % (path, r.status, data))
        return json.loads(data)
    return c, r


def get(path):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data.decode("utf-8", "replace")


def stream_text(body):
    """The streamed completion's text, and whether [DONE] ended it."""
    body = dict(body, stream=True)
    c, r = post("/v1/completions", body, stream=True)
    if r.status != 200:
        raise RuntimeError("stream: HTTP %d %s" % (r.status, r.read()))
    text, done = [], False
    for line in r:
        line = line.decode("utf-8").strip()
        if not line.startswith("data: "):
            continue
        if line == "data: [DONE]":
            done = True
            break
        ev = json.loads(line[6:])
        for ch in ev.get("choices", []):
            text.append(ch.get("text", ""))
    c.close()
    return "".join(text), done


def complete(model, prompt, **kw):
    body = dict(model=model, prompt=prompt, max_tokens=kw.pop("max_tokens",
                                                              48))
    body.update(kw)
    return post("/v1/completions", body)["choices"][0]


def start(shared):
    model = os.path.join(shared, "models", "stories260K")
    conf = "/tmp/lmd-serve-check.yaml"
    with open(conf, "w") as f:
        f.write("""daemon:
  pid: "off"
  error_log: stderr
  log_level: notice
http:
  listen: [ "127.0.0.1:%d" ]
modules_path: %s/modules
models:
  - name: cpu
    path: %s
    engine: cpu
  - name: cuda
    path: %s
    engine: %s
    weights: f16
    prefix_cache: false
  - name: cuda8
    path: %s
    engine: %s
    weights: f16
    kv_cache: { codec: int8 }
""" % (PORT, os.getcwd(), model, model, ENGINE, model, ENGINE))
    p = subprocess.Popen(["objs/lmd", "-c", conf, "-p", os.getcwd()])
    ready = set()
    for _ in range(240):
        for m in ("cpu", "cuda", "cuda8"):
            try:
                post("/v1/completions", dict(model=m, prompt="Hi",
                                             max_tokens=1))
                ready.add(m)
            except (ConnectionError, socket.error, RuntimeError):
                pass
        if len(ready) == 3:
            return p
        if p.poll() is not None:
            break
        time.sleep(0.5)
    p.kill()
    sys.exit("serve_check: the daemon did not come up")


PROMPTS = [
    "Once upon a time",
    "Lily and Tom went to the park. They",
    "The little dog was sad because",
    "One day, a big bird",
]


def cpu_prefix(prompt, gap):
    """The cpu engine's greedy text for prompt up to the first position
    whose top-1 / top-2 logprob gap is under gap (another engine may
    legitimately pick the other token there): (text, tokens kept,
    tokens generated)."""
    ref = complete("cpu", prompt, temperature=0, logprobs=2)
    toks = ref["logprobs"]["tokens"]
    k = len(toks)
    for i, top in enumerate(ref["logprobs"]["top_logprobs"]):
        lps = sorted(top.values(), reverse=True)
        if len(lps) > 1 and lps[0] - lps[1] < gap:
            k = i
            break
    return "".join(toks[:k]), k, len(toks)


def check_prefix(name, model, prompt, gap):
    """model's streamed greedy text starts with the cpu's (cpu_prefix);
    returns (its text, tokens compared)."""
    want, k, n = cpu_prefix(prompt, gap)
    got, done = stream_text(dict(model=model, prompt=prompt, temperature=0,
                                 max_tokens=48))
    say(name, got.startswith(want) and done,
        "%-40r %2d of %2d tokens equal to the cpu's," % (prompt, k, n))
    return got, k


def check_greedy():
    compared = 0
    for prompt in PROMPTS:
        got, k = check_prefix("greedy", "cuda", prompt, 0.05)
        compared += k
        host = complete("cuda", prompt, temperature=0, logprobs=1)["text"]
        say("device=host", host == got, "%-40r greedy," % prompt)
    say("greedy", compared >= 60, "%d tokens compared in all," % compared)


def check_kv_int8():
    compared = 0
    for prompt in PROMPTS:
        compared += check_prefix("kv int8", "cuda8", prompt, 0.1)[1]
    st, data = get("/metrics")
    blocks = [line for line in data.splitlines()
              if line.startswith("lmd_kv_blocks_total{")
              and 'model="cuda8"' in line]
    say("kv int8", len(blocks) == 1 and float(blocks[0].split()[-1]) > 0,
        "%d tokens compared; %s," % (compared,
                                     blocks[0] if blocks else "no pool"))


def check_penalties():
    kw = dict(temperature=0, repetition_penalty=1.3, frequency_penalty=0.5,
              presence_penalty=0.3, logit_bias={"300": 3.0, "301": -5.0},
              max_tokens=64)
    for prompt in PROMPTS[:2]:
        dev, done = stream_text(dict(model="cuda", prompt=prompt, **kw))
        host = complete("cuda", prompt, logprobs=1, **kw)["text"]
        say("device=host", dev == host and done,
            "%-40r penalties and bias (%d chars)," % (prompt, len(dev)))


def check_seeded():
    kw = dict(model="cuda", prompt=PROMPTS[0], temperature=0.8, top_p=0.9,
              top_k=40, max_tokens=40)
    a, _ = stream_text(dict(kw, seed=7))
    b, _ = stream_text(dict(kw, seed=7))
    c, _ = stream_text(dict(kw, seed=8))
    say("seeded", a == b and a != c and len(a) > 0,
        "seed 7 twice equal, seed 8 differs,")


def check_bias():
    for model in ("cpu", "cuda"):
        ch = complete(model, PROMPTS[1], temperature=0.7, seed=1,
                      logit_bias={"400": 100}, logprobs=1, max_tokens=6)
        toks = ch["logprobs"]["tokens"]
        say("bias", len(toks) == 6 and len(set(toks)) == 1,
            "%s: %r," % (model, toks))
    dev, _ = stream_text(dict(model="cuda", prompt=PROMPTS[1],
                              temperature=0.7, seed=1,
                              logit_bias={"400": 100}, max_tokens=6))
    say("bias", dev == "".join(toks), "cuda on the device: %r," % dev)


def metric(name):
    """The sum of a /metrics series over its labels (the two models)."""
    st, data = get("/metrics")
    total = 0.0
    for line in data.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.split()[-1])
    return total


def check_cancel():
    g0 = metric("lmd_generation_tokens_total")
    c, r = post("/v1/completions", dict(model="cuda", prompt=PROMPTS[0],
                                        max_tokens=400, ignore_eos=True,
                                        temperature=0, stream=True),
                stream=True)
    n = 0
    for line in r:
        if line.startswith(b"data: "):
            n += 1
            if n == 5:
                break
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    t0 = time.time()
    while time.time() - t0 < 5 and metric("lmd_requests_running") != 0:
        time.sleep(0.05)
    left = metric("lmd_requests_running")
    made = metric("lmd_generation_tokens_total") - g0
    say("cancel", left == 0 and made < 400,
        "dropped after 5 events: %d of 400 tokens generated, running %d "
        "after %.2f s," % (made, left, time.time() - t0))


def main():
    shared = os.environ.get("LMD_SHARED", "../shared")
    if not os.path.isdir(os.path.join(shared, "models", "stories260K")):
        print("serve_check: skipped: no %s/models/stories260K" % shared)
        return 0
    p = start(shared)
    try:
        check_greedy()
        check_kv_int8()
        check_penalties()
        check_seeded()
        check_bias()
        check_cancel()
        st, _ = get("/v1/models")
        say("stream", st == 200 and p.poll() is None,
            "daemon alive and answering at the end,")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    print("serve_check: %d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
