"""PyTorch anchors for the image benchmark (device machine), SigLIP-base vision tower, fp16 eager:

  model_only_b64       pixel_values already on the GPU, batch 64: the model alone
  model_h2d_b64        the same with the float32 batch copied from the host each time
  processor_model_<W>  in-process pipeline on JPEG bytes: PIL decode + transformers' own image
                       processor (its default backend) + H2D + model, batch 64, one Python process
  processor_only_<W>   the decode + processor part alone

usage: python3 image_torch_anchor.py <model dir from export_siglip_base.py> <out.json>
"""
import io, json, os, sys, time

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, SiglipConfig, SiglipVisionModel
from anchor_timing import sectioned, timed

model_dir, out_path = sys.argv[1], sys.argv[2]
dev = torch.device("cuda")
T0 = time.time()
results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": 64}


def log(*a):
    print(f"[image_torch {time.time() - T0:6.1f}s]", *a, flush=True)


section = sectioned(results, log)


cfg = SiglipConfig.from_pretrained(model_dir)
torch.manual_seed(1234)
vision = SiglipVisionModel(cfg.vision_config).to(dev).half().eval()  # random weights: same cost as trained ones
results["attn_implementation"] = getattr(vision.config, "_attn_implementation", None)
proc = AutoImageProcessor.from_pretrained(model_dir)
results["processor"] = {"class": type(proc).__name__, "backend": getattr(proc, "backend", None)}
B = 64


def model_only():
    x = torch.randn(B, 3, 224, 224, device=dev, dtype=torch.float16)
    with torch.inference_mode():
        s = timed(lambda: vision(pixel_values=x).pooler_output)
    return {"images_per_s": B / s, "batch_ms": s * 1000}


def model_h2d():
    x = torch.randn(B, 3, 224, 224, dtype=torch.float32).pin_memory()
    with torch.inference_mode():
        s = timed(lambda: vision(pixel_values=x.to(dev, non_blocking=True).half()).pooler_output)
    return {"images_per_s": B / s, "batch_ms": s * 1000}


section("model_only_b64", model_only)
section("model_h2d_b64", model_h2d)

files = json.load(open(os.path.join(model_dir, "reference.json")))["files"]
for size in ("224x224", "1024x768"):
    blobs = [open(os.path.join(model_dir, "images", f), "rb").read() for f in files if f"_{size}_" in f]
    batch = [blobs[i % len(blobs)] for i in range(B)]

    def preprocess():
        imgs = [Image.open(io.BytesIO(b)).convert("RGB") for b in batch]
        return proc(images=imgs, return_tensors="pt")["pixel_values"]

    def pipeline():
        pv = preprocess()
        with torch.inference_mode():
            return vision(pixel_values=pv.to(dev).half()).pooler_output

    def run_processor():
        s = timed(preprocess, warmup=1, iters=5)
        return {"images_per_s": B / s, "batch_ms": s * 1000}

    def run_pipeline():
        s = timed(pipeline, warmup=1, iters=5)
        return {"images_per_s": B / s, "batch_ms": s * 1000}

    section(f"processor_only_{size}", run_processor)
    section(f"processor_model_{size}", run_pipeline)

json.dump(results, open(out_path, "w"), indent=1)
log("written", out_path)
