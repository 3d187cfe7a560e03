"""PyTorch anchors for the rerank benchmark, in-process on the same GPU and workload (run on the device).

  crossencoder   sentence-transformers CrossEncoder.predict, fp16, one query x 100 documents per call
                 (tokenization included), as an application calls it
  eager          transformers BertForSequenceClassification fp16 eager on the same pairs, pre-tokenized,
                 one request's 100 pairs per forward (model only)
  reference      fp32 sigmoid scores of the first query's documents, to check what the server returns

usage: python3 rerank_torch.py <model dir from make_bert_base_reranker.py> <out.json>
"""
import json, os, sys, time

import torch
from sentence_transformers import CrossEncoder
from transformers import AutoTokenizer, BertForSequenceClassification

model_dir, out_path = sys.argv[1], sys.argv[2]
hf = os.path.join(model_dir, "hf")
work = json.load(open(os.path.join(model_dir, "rerank.json")))
queries, documents = work["queries"], work["documents"]
dev = torch.device("cuda")
results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "pairs_per_request": len(documents[0])}
t_start = time.time()


def log(*a):
    print(f"[rerank_torch {time.time() - t_start:6.1f}s]", *a, flush=True)


def timed(run, passes):
    """Pairs per second over `passes` full passes of the workload, after one warm-up pass."""
    run()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(passes):
        run()
    torch.cuda.synchronize()
    return passes * sum(len(d) for d in documents) / (time.perf_counter() - start)


tok = AutoTokenizer.from_pretrained(hf)
ref_model = BertForSequenceClassification.from_pretrained(hf).to(dev).eval()
with torch.no_grad():
    enc = tok([queries[0]] * len(documents[0]), documents[0], padding=True, truncation=True, max_length=512, return_tensors="pt").to(dev)
    results["reference"] = {"query": 0, "scores": torch.sigmoid(ref_model(**enc).logits[:, 0]).tolist()}
del ref_model

ce = CrossEncoder(hf, device="cuda", max_length=512)
ce.model.half()
results["crossencoder"] = {"pairs_per_s": timed(lambda: [ce.predict([(q, d) for d in docs], batch_size=len(docs)) for q, docs in zip(queries, documents)], 2)}
log("CrossEncoder.predict", results["crossencoder"])
del ce

model = BertForSequenceClassification.from_pretrained(hf).to(dev).half().eval()
batches = [tok([q] * len(docs), docs, padding=True, truncation=True, max_length=512, return_tensors="pt").to(dev) for q, docs in zip(queries, documents)]


def eager():
    with torch.no_grad():
        for b in batches:
            model(**b)


results["eager"] = {"pairs_per_s": timed(eager, 3), "attn_implementation": getattr(model.config, "_attn_implementation", None)}
log("eager", results["eager"])
json.dump(results, open(out_path, "w"), indent=1)
