"""SigLIP-base (patch16, 224) with random seeded weights, in the transformers.js layout (device machine).

Writes <out>/config.json, preprocessor_config.json (google/siglip-base-patch16-224's: bicubic 224 x 224,
mean/std 0.5), tokenizer.json + tokenizer_config.json (the tiny SigLIP fixture's Unigram tokenizer:
only the ids' range matters for speed), model.safetensors with logit_scale / logit_bias only,
onnx/{vision,text}_model.onnx (fp32) and onnx/{vision,text}_model_fp16.onnx (ONNX Runtime's
transformer optimizer, then float16 with float32 inputs/outputs), the benchmark JPEGs
(224 x 224 and 1024 x 768) and reference.json: fp32 PyTorch embeddings of those JPEGs through
transformers' own processor, to check what the server returns at full size.

usage: python3 export_siglip_base.py <out dir> <tiny-siglip fixture dir>
"""
import json, math, os, shutil, sys, time

import numpy as np
import onnx
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from transformers import AutoImageProcessor, SiglipConfig, SiglipModel

out, tiny = sys.argv[1], sys.argv[2]
T0 = time.time()


def log(*a):
    print(f"[export {time.time() - T0:6.1f}s]", *a, flush=True)


os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
os.makedirs(os.path.join(out, "images"), exist_ok=True)
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(tiny, f), out)
with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
    json.dump({"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
               "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5], "processor_class": "SiglipProcessor",
               "resample": 3, "rescale_factor": 1 / 255, "size": {"height": 224, "width": 224}}, f, indent=2)

torch.manual_seed(1234)
cfg = SiglipConfig(
    text_config=dict(vocab_size=32000, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                     max_position_embeddings=64, pad_token_id=1, eos_token_id=1),
    vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224,
                       patch_size=16, num_channels=3),
)
model = SiglipModel(cfg).eval()
with torch.no_grad():
    model.logit_scale.fill_(math.log(10.0))
    model.logit_bias.fill_(-10.0)
cfg.save_pretrained(out)
save_file({"logit_scale": model.logit_scale.detach().clone().reshape(1), "logit_bias": model.logit_bias.detach().clone().reshape(1)},
          os.path.join(out, "model.safetensors"))
log("model built")


def scene(w, h, seed):
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([255 * x / (w - 1), 255 * y / (h - 1), 127.5 + 127.5 * np.sin(2 * math.pi * (x / w * r.uniform(1, 4) + y / h * r.uniform(1, 4)))], -1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(8):
        x0, y0 = r.uniform(0, 0.9) * w, r.uniform(0, 0.9) * h
        d.ellipse([x0, y0, x0 + r.uniform(0.05, 0.4) * w, y0 + r.uniform(0.05, 0.4) * h], fill=tuple(int(c) for c in r.integers(0, 256, 3)))
    arr = np.asarray(img).astype(np.int16) + r.integers(-8, 9, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


files = []
for (w, h), n in (((224, 224), 8), ((1024, 768), 8)):
    for k in range(n):
        name = f"img_{w}x{h}_{k}.jpg"
        scene(w, h, 100 * w + k).save(os.path.join(out, "images", name), quality=90)
        files.append(name)
log("images written")

proc = AutoImageProcessor.from_pretrained(out)
pil = [Image.open(os.path.join(out, "images", f)).convert("RGB") for f in files]
with torch.no_grad():
    pv = proc(images=pil, return_tensors="pt")["pixel_values"]
    emb = model.vision_model(pixel_values=pv).pooler_output
    emb = torch.nn.functional.normalize(emb, dim=-1)
json.dump({"files": files, "image_embeds": emb.tolist(), "processor": type(proc).__name__,
           "backend": getattr(proc, "backend", None)}, open(os.path.join(out, "reference.json"), "w"))
log("reference computed with", type(proc).__name__)


class Tower(torch.nn.Module):
    # transformers 5 mis-binds positional arguments: call with keywords.
    def __init__(self, m, kind):
        super().__init__()
        self.m, self.kind = m, kind

    def forward(self, x):
        o = self.m(pixel_values=x) if self.kind == "vision" else self.m(input_ids=x)
        return o.last_hidden_state, o.pooler_output


def fix_ir(m):
    if m.ir_version > 10:
        m.ir_version = 10
    return m


def check_fused(path):
    """Fused attention must still compute SigLIP: compare with PyTorch fp32 where the CPU can run it."""
    import onnxruntime as ort
    try:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001  (some fused fp16 kernels exist on CUDA only)
        log("fused fp16 graph not checked on the CPU:", repr(e)[:200])
        return
    got = torch.tensor(sess.run(["pooler_output"], {"pixel_values": pv[:4].numpy()})[0]).float()
    cos = torch.nn.functional.cosine_similarity(torch.nn.functional.normalize(got, dim=-1), emb[:4], dim=-1).min().item()
    log("fused fp16 vision tower: min cosine vs PyTorch fp32", cos)
    if cos < 0.99:
        raise RuntimeError(f"fused graph drifts (cosine {cos})")


def export(kind, dummy, name, axes):
    path = os.path.join(out, "onnx", f"{kind}_model.onnx")
    tower = Tower(model.vision_model if kind == "vision" else model.text_model, kind).eval()
    with torch.no_grad():
        torch.onnx.export(tower, (dummy,), path, input_names=[name], output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    onnx.save(fix_ir(onnx.load(path)), path)
    log(f"{kind}_model.onnx exported", os.path.getsize(path))
    fp16 = os.path.join(out, "onnx", f"{kind}_model_fp16.onnx")
    from onnxruntime.transformers.float16 import convert_float_to_float16
    try:
        if kind != "vision":
            raise RuntimeError("text tower: plain conversion (it is not what is measured, it only has to load)")
        from onnxruntime.transformers import optimizer
        # The optimizer's attention patterns differ by model type; keep the one that fuses the most attention.
        best = None
        for model_type in ("clip", "vit", "bert"):
            try:
                cand = optimizer.optimize_model(path, model_type=model_type, num_heads=12, hidden_size=768, opt_level=0)
            except Exception as e:  # noqa: BLE001
                log(f"{kind} optimizer model_type={model_type} failed: {e!r}"[:300])
                continue
            stats = {k: v for k, v in cand.get_fused_operator_statistics().items() if v}
            fused = stats.get("Attention", 0) + stats.get("MultiHeadAttention", 0)
            log(f"{kind} fusions with model_type={model_type}:", stats)
            if best is None or fused > best[0]:
                best = (fused, model_type, cand)
        if best is None:
            raise RuntimeError("the optimizer failed for every model type")
        m = best[2]
        log(f"{kind}: keeping model_type={best[1]} ({best[0]} fused attention nodes)")
        m.convert_float_to_float16(keep_io_types=True)
        onnx.save(fix_ir(m.model), fp16)
        check_fused(fp16)
    except Exception as e:  # noqa: BLE001
        log(f"{kind}: {e!r}; plain float16 conversion")
        onnx.save(fix_ir(convert_float_to_float16(onnx.load(path), keep_io_types=True)), fp16)
    log(f"{kind}_model_fp16.onnx written", os.path.getsize(fp16))


export("vision", pv[:2], "pixel_values", {"pixel_values": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}, "pooler_output": {0: "batch_size"}})
export("text", torch.ones(2, 64, dtype=torch.long), "input_ids",
       {"input_ids": {0: "batch_size", 1: "sequence_length"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}})
log("done")
