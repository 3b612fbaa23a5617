"""tests/gpu/hf_peer.py -- the peer the serving benchmark is compared
with: Hugging Face transformers (installed on the GPU machine, nothing is
fetched) generating with random weights of a shape from
../shared/models/shapes, the same lengths as tests/gpu/serve.sh, on the
same GPU.

Usage: python3 tests/gpu/hf_peer.py SHAPE_DIR [BATCH] [INPUT] [OUTPUT]
Prints one JSON line: generated tokens/s of one batch (eager, dynamic
cache), the whole generate() call timed after a short warm-up."""
import json
import sys
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def main():
    shape = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    n_in = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    n_out = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    cfg = AutoConfig.from_pretrained(shape)
    cfg.torch_dtype = torch.float16
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float16)
    model.eval()
    ids = torch.randint(3, cfg.vocab_size, (batch, n_in), device="cuda")
    mask = torch.ones_like(ids)
    kw = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
    with torch.inference_mode():
        model.generate(ids[:, :16], attention_mask=mask[:, :16],
                       max_new_tokens=4, min_new_tokens=4, **kw)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, max_new_tokens=n_out,
                             min_new_tokens=n_out, **kw)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    gen = (out.shape[1] - n_in) * batch
    print(json.dumps({"peer": "transformers eager", "shape": shape,
                      "batch": batch, "input": n_in, "output": n_out,
                      "seconds": round(dt, 3),
                      "generated_tok_s": round(gen / dt, 1)}))


if __name__ == "__main__":
    main()
