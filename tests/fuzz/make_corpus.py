#!/usr/bin/env python3
"""make_corpus.py -- writes the seed inputs of tests/fuzz/corpus/ that are
derived from the shared tokenizer fixtures (the hand-written seeds beside
them are kept as they are).  Run it again when the harness input formats
change; the outputs are committed, so the fixtures are not needed to fuzz.

    python3 tests/fuzz/make_corpus.py [FIXTURES]

FIXTURES defaults to $LMD_SHARED/fixtures/tokenizers, LMD_SHARED to
../shared.  Written:

  tokenizer_load/FAMILY.json   FAMILY's tokenizer.json cut to its first
                               20 ids and the next 280 that are not added
                               tokens, the merges among them and up to 6
                               more added tokens, renumbered from 0;
                               for the families with a chat template, a NUL
                               and a cut tokenizer_config.json follow (the
                               harness loads that as the config)
  encode/NN                    a selector byte (tokenizer, bit 7: special
                               tokens) and a text of the cases
  template/FAMILY              FAMILY's chat template, a NUL and one
                               conversation of its chat_cases.jsonl
"""

import json
import os
import sys

FAMILIES = ["gpt2", "llama2", "qwen2", "llama3", "internlm2", "mistral"]
KEEP_IDS = 300
KEEP_MERGES = 200
KEEP_ADDED = 6


def cut_tokenizer(tok):
    model = tok["model"]
    vocab = model["vocab"]
    special = set(t["id"] for t in tok.get("added_tokens", []))
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    by_id = by_id[:20] + [kv for kv in by_id[20:]
                          if kv[1] not in special][:KEEP_IDS - 20]
    new_id = {}
    new_vocab = {}
    for piece, old in by_id:
        new_id[old] = len(new_vocab)
        new_vocab[piece] = len(new_vocab)

    merges = []
    for m in model.get("merges", []):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in new_vocab and b in new_vocab and a + b in new_vocab:
            merges.append(m)
            if len(merges) == KEEP_MERGES:
                break
    model["vocab"] = new_vocab
    model["merges"] = merges

    added = []
    extra = 0
    for t in tok.get("added_tokens", []):
        if t["id"] in new_id:
            t["id"] = new_id[t["id"]]
        elif extra < KEEP_ADDED:
            new_id[t["id"]] = len(new_vocab) + extra
            t["id"] = new_id[t["id"]]
            extra += 1
        else:
            continue
        added.append(t)
    tok["added_tokens"] = added

    def fix_post(p):
        if not p:
            return
        for sub in p.get("processors", []):
            fix_post(sub)
        for name, st in (p.get("special_tokens") or {}).items():
            st["ids"] = [new_id.get(i, 0) for i in st["ids"]]
    fix_post(tok.get("post_processor"))
    return tok, new_id


def cut_config(cfg, new_id):
    out = {}
    for k in ("add_bos_token", "add_eos_token", "bos_token", "eos_token",
              "unk_token", "pad_token", "chat_template"):
        if k in cfg:
            out[k] = cfg[k]
    dec = {}
    for old, t in (cfg.get("added_tokens_decoder") or {}).items():
        if int(old) in new_id:
            dec[str(new_id[int(old)])] = t
    out["added_tokens_decoder"] = dec
    return out


def dump(obj):
    return json.dumps(obj, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def main():
    shared = os.environ.get("LMD_SHARED") or "../shared"
    fix = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        shared, "fixtures", "tokenizers")
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.join(here, "corpus")
    for d in ("tokenizer_load", "encode", "template"):
        os.makedirs(os.path.join(corpus, d), exist_ok=True)

    for fam in FAMILIES:
        with open(os.path.join(fix, fam, "tokenizer.json"),
                  encoding="utf-8") as f:
            tok, new_id = cut_tokenizer(json.load(f))
        data = dump(tok)
        cfg_path = os.path.join(fix, fam, "tokenizer_config.json")
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        if "chat_template" in cfg:
            data += b"\0" + dump(cut_config(cfg, new_id))
        with open(os.path.join(corpus, "tokenizer_load", fam + ".json"),
                  "wb") as f:
            f.write(data)

        if "chat_template" in cfg:
            with open(os.path.join(fix, fam, "chat_cases.jsonl"),
                      encoding="utf-8") as f:
                cases = [json.loads(line) for line in f if line.strip()]
            case = cases[min(4, len(cases) - 1)]
            vars_ = {"messages": case["messages"],
                     "bos_token": cfg.get("bos_token") or "",
                     "eos_token": cfg.get("eos_token") or ""}
            with open(os.path.join(corpus, "template", fam), "wb") as f:
                f.write(cfg["chat_template"].encode("utf-8") + b"\0"
                        + dump(vars_))

    with open(os.path.join(fix, "gpt2", "cases.jsonl"),
              encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    picks = list(range(0, len(texts), 6))
    for n, k in enumerate(picks):
        selector = (n % 7) | (0x80 if n % 3 == 0 else 0)
        with open(os.path.join(corpus, "encode", "%02d" % n), "wb") as f:
            f.write(bytes([selector]) + texts[k].encode("utf-8"))


if __name__ == "__main__":
    main()
