"""PyTorch reference on the same machine: SigLIP-base vision tower (random weights), fp16 eager, pixel_values
already on the GPU, batch 1/16/64, 2 warm-ups + 10 timed runs; SDPA (transformers' default) and eager attention.

usage: python3 torch_vision.py <model dir from export_siglip_base.py> <out.json>
"""
import json, sys, time

import torch
from transformers import SiglipConfig, SiglipVisionModel

cfg = SiglipConfig.from_pretrained(sys.argv[1]).vision_config
res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": []}
for impl in ("sdpa", "eager"):
    cfg._attn_implementation = impl
    torch.manual_seed(1234)
    m = SiglipVisionModel(cfg).cuda().half().eval()
    for b in (1, 16, 64):
        x = torch.randn(b, 3, 224, 224, device="cuda", dtype=torch.float16)
        with torch.inference_mode():
            for _ in range(2):
                m(pixel_values=x)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(10):
                m(pixel_values=x).pooler_output
            torch.cuda.synchronize()
        ms = (time.perf_counter() - t) * 100
        res["rows"].append({"attn": impl, "batch": b, "ms": round(ms, 2), "img_s": round(b / ms * 1000)})
        print(f"torch fp16 {impl:5s} batch {b:3d} {ms:8.2f} ms {b / ms * 1000:7.0f} img/s", flush=True)
    del m
json.dump(res, open(sys.argv[2], "w"), indent=1)
