"""Timing helpers shared by the PyTorch anchors (torch_bench.py, image_torch_anchor.py)."""
import json
import time

import numpy as np
import torch


def timed(fn, warmup=3, iters=10):
    """Median seconds of `fn` on the GPU, after warm-up calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def sectioned(results, log):
    """section(name, fn): results[name] = fn(), logged; one broken anchor must not lose the others."""

    def section(name, fn):
        try:
            results[name] = fn()
            log(name, json.dumps(results[name]))
        except Exception as e:  # noqa: BLE001
            results[name] = {"error": repr(e)[:500]}
            log(name, "FAILED", repr(e)[:500])

    return section
