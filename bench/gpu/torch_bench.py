"""PyTorch anchors for the GPU benchmark, in-process on the same GPU and texts (run on the device).

  eager_256x128   transformers BertModel fp16 eager (its default attention), model only, 256 x 128 tokens
  eager_w1/w2     the same on the benchmark texts, pre-tokenized, batches of 256 (W2 sorted by length)
  st_w1/st_w2     sentence-transformers encode(batch_size=256), fp16, tokenization included
  st_w3           one short text per encode call (latency)
  reference       fp32 sentence embeddings of a few texts, to check what the server returns

usage: python3 torch_bench.py <model dir from make_bert_base.py> <out.json> [section ...]
  (sections: only those anchors, and no reference vectors; default: all of them)
"""
import json, os, sys, time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer, models
from transformers import AutoTokenizer, BertModel
from anchor_timing import sectioned, timed

model_dir, out_path, only = sys.argv[1], sys.argv[2], set(sys.argv[3:])
hf = os.path.join(model_dir, "hf")
texts = json.load(open(os.path.join(model_dir, "texts.json")))
dev = torch.device("cuda")
results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
t_start = time.time()


def log(*a):
    print(f"[torch_bench {time.time() - t_start:6.1f}s]", *a, flush=True)


section_all = sectioned(results, log)


def section(name, fn):
    if not only or name in only:
        section_all(name, fn)


tok = AutoTokenizer.from_pretrained(hf)
bert = BertModel.from_pretrained(hf, add_pooling_layer=False).to(dev).half().eval()
results["attn_implementation"] = getattr(bert.config, "_attn_implementation", None)


def eager_256x128():
    ids = torch.randint(1000, 30000, (256, 128), device=dev)
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        s = timed(lambda: bert(input_ids=ids, attention_mask=mask).last_hidden_state)
    return {"batch": 256, "seq": 128, "s_per_batch": s, "tokens_per_s": 256 * 128 / s}


def eager_on(name, batch=256):
    items = texts[name]
    enc = tok(items, add_special_tokens=True)["input_ids"]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i])) if name == "w2" else list(range(len(enc)))
    batches = []
    for i in range(0, len(order), batch):
        rows = [enc[j] for j in order[i:i + batch]]
        width = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        batches.append((ids.to(dev), mask.to(dev)))
    tokens = sum(len(r) for r in enc)

    def run():
        with torch.inference_mode():
            for ids, mask in batches:
                h = bert(input_ids=ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).to(h.dtype)
                torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).float().cpu()

    s = timed(run, warmup=1, iters=3)
    return {"texts": len(enc), "tokens": tokens, "s": s, "tokens_per_s": tokens / s, "note": "model + mean pooling + normalize + copy to host, pre-tokenized"}


st = SentenceTransformer(modules=[models.Transformer(hf, max_seq_length=512), models.Pooling(768, pooling_mode="mean"), models.Normalize()],
                         device="cuda")
st.half()


def st_on(name):
    items = texts[name]
    tokens = sum(len(r) for r in tok(items)["input_ids"])
    st.encode(items[:512], batch_size=256)
    torch.cuda.synchronize()
    t = time.perf_counter()
    st.encode(items, batch_size=256, convert_to_numpy=True)
    s = time.perf_counter() - t
    return {"texts": len(items), "tokens": tokens, "s": s, "tokens_per_s": tokens / s}


def st_w3():
    text = texts["w3"]
    for _ in range(20):
        st.encode([text])
    lat = []
    for _ in range(300):
        t = time.perf_counter()
        st.encode([text], convert_to_numpy=True)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return {"p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99) - 1], "tokens": len(tok(text)["input_ids"])}


def reference():
    # fp32 on the GPU, sentence-transformers' own pipeline: what the served vectors are compared with.
    ref = SentenceTransformer(modules=[models.Transformer(hf, max_seq_length=512), models.Pooling(768, pooling_mode="mean"), models.Normalize()],
                              device="cuda")
    sample = texts["w2"][:16] + [texts["w3"]] + texts["w1"][:3]
    vecs = ref.encode(sample, batch_size=32, convert_to_numpy=True)
    return {"texts": sample, "vectors": vecs.astype(float).round(7).tolist()}


section("eager_256x128", eager_256x128)
section("eager_w1", lambda: eager_on("w1"))
section("eager_w2", lambda: eager_on("w2"))
section("st_w1", lambda: st_on("w1"))
section("st_w2", lambda: st_on("w2"))
section("st_w3", st_w3)
results["gpu_memory_torch_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
ref = {}
try:
    ref = {} if only else reference()
except Exception as e:
    log("reference FAILED", repr(e)[:500])
results["reference"] = ref
json.dump(results, open(out_path, "w"))
log("written", out_path)
