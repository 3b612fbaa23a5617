#!/usr/bin/env python3
"""hf_tokenizers.py -- the Hugging Face `tokenizers` side of
`make bench-tokenizer`: encodes the same text as lmd_bench_tokenizer, one
thread, and prints the same figures.

    python3 tests/bench/hf_tokenizers.py [-f FIXTURES] [-i TEXT] [-r N]
        [FAMILY...] > hf.tsv
    bash tests/bench/tokenizer.sh --hf hf.tsv      # lmd/HF ratios

Not run by CI: it needs `pip install tokenizers` and the text that
`make bench-tokenizer` (or lmd_bench_tokenizer) wrote to
objs/bench/mixed.txt.  For each family it loads FIXTURES/FAMILY/
tokenizer.json with Tokenizer.from_file and times, best of N runs, with
add_special_tokens=False:

    encode        encode(text) of the whole text
    encode-lines  encode(line) of each line, its '\\n' kept (the text split
                  after every '\\n', as lmd does; not str.splitlines)
    decode        decode(ids) of the whole text's ids

One thread: RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false are set
before tokenizers is imported (encode of one text does not fan out
anyway; the settings keep it so).  The table goes to stderr and the TSV
(impl family mode bytes tokens seconds mb_s tok_s) to stdout, the format
lmd_bench_tokenizer -t writes.  MB/s counts 10^6 bytes of UTF-8 text.
"""

import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

FAMILIES = ["gpt2", "llama3", "qwen2", "llama2", "mistral", "internlm2"]


def best_of(n, fn):
    best, result = None, None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return best, result


def lines_of(text):
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def main():
    shared = os.environ.get("LMD_SHARED") or "../shared"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-f", "--fixtures",
                    default=os.path.join(shared, "fixtures", "tokenizers"))
    ap.add_argument("-i", "--text", default="objs/bench/mixed.txt")
    ap.add_argument("-r", "--repeat", type=int, default=3)
    ap.add_argument("families", nargs="*", default=FAMILIES)
    args = ap.parse_args()

    try:
        import tokenizers
        from tokenizers import Tokenizer
    except ImportError:
        sys.exit("hf_tokenizers.py: the tokenizers package is missing "
                 "(pip install tokenizers)")

    with open(args.text, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    lines = lines_of(text)
    nbytes = len(raw)

    err = sys.stderr
    print("text: %s, %d bytes; tokenizers %s; best of %d runs, one thread, "
          "no special tokens\n" % (args.text, nbytes, tokenizers.__version__,
                                   args.repeat), file=err)
    print("%-10s %-13s %9s %12s %10s %10s %8s" % (
        "family", "mode", "MB/s", "tokens/s", "tokens", "bytes", "seconds"),
        file=err)
    print("impl\tfamily\tmode\tbytes\ttokens\tseconds\tmb_s\ttok_s")

    def report(family, mode, size, ntokens, secs):
        mb_s = size / 1e6 / secs
        tok_s = ntokens / secs
        print("%-10s %-13s %9.2f %12.0f %10d %10d %8.3f" % (
            family, mode, mb_s, tok_s, ntokens, size, secs), file=err)
        print("hf\t%s\t%s\t%d\t%d\t%.6f\t%.3f\t%.0f" % (
            family, mode, size, ntokens, secs, mb_s, tok_s))
        sys.stdout.flush()

    for family in args.families:
        path = os.path.join(args.fixtures, family, "tokenizer.json")
        t0 = time.perf_counter()
        tok = Tokenizer.from_file(path)
        load = time.perf_counter() - t0
        print("%-10s %-13s %9s %12s %10s %10s %8.3f" % (
            family, "load", "", "", "", "", load), file=err)

        secs, enc = best_of(args.repeat, lambda: tok.encode(
            text, add_special_tokens=False))
        ids = enc.ids
        report(family, "encode", nbytes, len(ids), secs)

        secs, counts = best_of(args.repeat, lambda: [
            len(tok.encode(line, add_special_tokens=False).ids)
            for line in lines])
        report(family, "encode-lines", nbytes, sum(counts), secs)

        secs, out = best_of(args.repeat, lambda: tok.decode(
            ids, skip_special_tokens=False))
        report(family, "decode", len(out.encode("utf-8")), len(ids), secs)


if __name__ == "__main__":
    main()
