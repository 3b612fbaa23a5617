"""tests/gpu/kv_ratios.py -- the KV codecs' benchmark as ratios (issue 8):
reads bench_decode --json lines (tests/gpu/all.sh, part "kv") on stdin
and prints, for each batch, each cache's decode tokens/s against the
16-bit cache's at the same batch and against its own bandwidth floor,
and how many 2048-token sequences the daemon's default pool holds,
against the 16-bit cache's count.  A batch the 16-bit cache could not
run is compared with nothing (its ratio column says so).
"""
import json
import sys


def main():
    runs = []
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("{"):
            runs.append(json.loads(line))
    if not runs:
        sys.exit("kv_ratios: no bench_decode --json lines on stdin")
    base = {r["batch"]: r for r in runs if r["kv"] == "16-bit"}
    fits16 = next((r["fits_2048"] for r in runs if r["kv"] == "16-bit"),
                  None)
    print("%-8s %5s %7s %12s %14s %10s %16s" % (
        "KV", "batch", "context", "decode tok/s", "vs 16-bit", "of floor",
        "2048-seqs fit"))
    for r in sorted(runs, key=lambda r: (r["batch"], r["kv"] != "16-bit",
                                         r["kv"])):
        b = base.get(r["batch"])
        vs = ("%.2fx" % (r["decode_tok_s"] / b["decode_tok_s"])
              if b else "(16-bit: -)")
        fit = ("%d (%.2fx)" % (r["fits_2048"], r["fits_2048"] / fits16)
               if fits16 else "%d" % r["fits_2048"])
        print("%-8s %5d %7d %12.1f %14s %10.3f %16s" % (
            r["kv"], r["batch"], r["context"], r["decode_tok_s"], vs,
            r["decode_tok_s"] / r["floor_tok_s"], fit))


if __name__ == "__main__":
    main()
