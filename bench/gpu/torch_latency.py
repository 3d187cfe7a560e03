"""PyTorch's latency for one short text on the same BERT-base (fp16, batch 1): eager, and replayed
from a CUDA graph (what launching nothing per kernel gives: the GPU's own floor for this model).

usage: python3 torch_latency.py <model dir with hf/> <tokens> <out json>
"""
import json, sys, time

import torch
from transformers import BertModel

model_dir, tokens, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = BertModel.from_pretrained(f"{model_dir}/hf", add_pooling_layer=False).half().cuda().eval()
ids = torch.randint(1000, 20000, (1, tokens), device="cuda")
mask = torch.ones_like(ids)
result = {"tokens": tokens, "attn_implementation": model.config._attn_implementation}


def embed():
    h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


def timed(fn, runs=2000):
    for _ in range(200):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn().cpu()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50_ms": ms[len(ms) // 2], "p99_ms": ms[int(len(ms) * 0.99)], "min_ms": ms[0]}


with torch.inference_mode():
    result["eager"] = timed(embed)
    try:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                embed()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = embed()

        def replay():
            graph.replay()
            return static_out

        result["cuda_graph"] = timed(replay)
    except Exception as e:  # capture needs a graph without host syncs
        result["cuda_graph"] = {"error": str(e)[:500]}
print(json.dumps(result))
json.dump(result, open(out, "w"), indent=2)
