"""Fuse the SigLIP vision tower's attention (torch.onnx legacy exporter, SDPA path) into com.microsoft
MultiHeadAttention, then run ONNX Runtime's transformer optimizer + float16 on the result (device machine).

Pattern, per Softmax (scalar Mul/Div by constants anywhere on the q/k paths or after QK are folded into `scale`):
  q_in -> Reshape -> Transpose(0,2,1,3) -> Mul(c1) -> MatMul[0]
  k_in -> Reshape -> Transpose(0,2,3,1) -> Mul(c2) -> MatMul[1]      (or Transpose(0,2,1,3) -> Transpose(0,1,3,2))
  MatMul -> Softmax(-1) -> MatMul(probs, v), v = Transpose(0,2,1,3)(Reshape(v_in))
  -> Transpose(0,2,1,3) -> Reshape = out
becomes MultiHeadAttention(q_in, k_in, v_in) -> out, num_heads=12, scale=c1*c2.

usage: python3 fuse_mha.py <onnx dir holding vision_model.onnx> [out dir for logs/json]
writes <onnx dir>/vision_model_mha.onnx (fp32), vision_model_mha_fp16_<vit|clip>.onnx and
vision_model_mha_fp16.onnx (the model type that fused the most), and <out>/fuse_mha.json.
"""
import json, os, shutil, sys, time
from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper

NUM_HEADS, HIDDEN = 12, 768
src_dir = sys.argv[1]
out_dir = sys.argv[2] if len(sys.argv) > 2 else src_dir
os.makedirs(out_dir, exist_ok=True)
T0 = time.time()
report = {}


def log(*a):
    print(f"[fuse_mha {time.time() - T0:6.1f}s]", *a, flush=True)


def fix_ir(m):
    if m.ir_version > 10:
        m.ir_version = 10
    return m


def fuse(model):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    prod, cons = {}, defaultdict(list)

    def index():
        prod.clear(); cons.clear()
        for n in g.node:
            for o in n.output:
                prod[o] = n
            for i in n.input:
                cons[i].append(n)

    index()

    def const(name):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        n = prod.get(name)
        if n is not None and n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
                if a.name == "value_float":
                    return np.array(a.f, dtype=np.float32)
                if a.name == "value_floats":
                    return np.array(a.floats, dtype=np.float32)
        return None

    def attr(n, name, default=None):
        for a in n.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def scalar_of(n):
        """(index of the non-constant input, scalar) for a Mul/Div by a scalar constant, else None."""
        if n.op_type not in ("Mul", "Div") or len(n.input) != 2:
            return None
        for ci in (1, 0):
            c = const(n.input[ci])
            if c is not None and c.size == 1:
                if n.op_type == "Div" and ci == 0:
                    return None
                v = float(c.reshape(-1)[0])
                return 1 - ci, (1.0 / v if n.op_type == "Div" else v)
        return None

    def walk(name, want_perm, why):
        """Upstream from `name` through scalar Mul/Div and Transposes to a Reshape; returns (reshape input, scale)."""
        scale, total = 1.0, [0, 1, 2, 3]
        for _ in range(8):
            n = prod.get(name)
            if n is None:
                raise ValueError(f"{why}: {name} has no producer")
            s = scalar_of(n)
            if s is not None:
                scale *= s[1]; name = n.input[s[0]]; continue
            if n.op_type == "Transpose":
                p = list(attr(n, "perm"))
                if len(p) != 4:
                    raise ValueError(f"{why}: Transpose perm {p}")
                total = [p[t] for t in total]; name = n.input[0]; continue
            if n.op_type == "Reshape":
                if total != want_perm:
                    raise ValueError(f"{why}: composed perm {total}, want {want_perm}")
                shp = const(n.input[1])
                if shp is not None and (len(shp) != 4 or int(shp[3]) != HIDDEN // NUM_HEADS or int(shp[2]) not in (-1, NUM_HEADS)):
                    raise ValueError(f"{why}: reshape to {shp.tolist()}")
                return n.input[0], scale
            raise ValueError(f"{why}: unexpected {n.op_type} ({n.name})")
        raise ValueError(f"{why}: chain too long")

    fused, skipped, new_nodes = 0, [], {}
    for sm in [n for n in g.node if n.op_type == "Softmax"]:
        try:
            if attr(sm, "axis", -1) not in (-1, 3):
                raise ValueError(f"softmax axis {attr(sm, 'axis')}")
            scale, name = 1.0, sm.input[0]
            while True:  # scalar scaling after QK (eager pattern)
                n = prod.get(name)
                s = scalar_of(n) if n is not None else None
                if s is None:
                    break
                scale *= s[1]; name = n.input[s[0]]
            qk = prod.get(name)
            if qk is None or qk.op_type != "MatMul":
                raise ValueError(f"softmax input from {qk.op_type if qk else None}")
            q_in, sq = walk(qk.input[0], [0, 2, 1, 3], "q")
            k_in, sk = walk(qk.input[1], [0, 2, 3, 1], "k")
            users = cons[sm.output[0]]
            if len(users) != 1 or users[0].op_type != "MatMul" or users[0].input[0] != sm.output[0]:
                raise ValueError("softmax output is not only MatMul input 0")
            pv = users[0]
            v_in, sv = walk(pv.input[1], [0, 2, 1, 3], "v")
            if abs(sv - 1.0) > 1e-6:
                raise ValueError(f"v scaled by {sv}")
            u = cons[pv.output[0]]
            if len(u) != 1 or u[0].op_type != "Transpose" or list(attr(u[0], "perm")) != [0, 2, 1, 3]:
                raise ValueError("PV output not one Transpose(0,2,1,3)")
            u2 = cons[u[0].output[0]]
            if len(u2) != 1 or u2[0].op_type != "Reshape":
                raise ValueError("output Transpose not followed by one Reshape")
            rs = u2[0]
            shp = const(rs.input[1])
            if shp is not None and (len(shp) != 3 or int(shp[2]) not in (-1, HIDDEN)):
                raise ValueError(f"output reshape to {shp.tolist()}")
            total_scale = scale * sq * sk
            mha = helper.make_node("MultiHeadAttention", [q_in, k_in, v_in], [rs.output[0]], name=f"MHA_{fused}",
                                   domain="com.microsoft", num_heads=NUM_HEADS, scale=float(total_scale))
            new_nodes[id(rs)] = mha
            fused += 1
            log(f"fused {sm.name}: q={q_in} k={k_in} v={v_in} out={rs.output[0]} scale={total_scale:.6g}")
        except ValueError as e:
            skipped.append(f"{sm.name}: {e}")
            log(f"skipped {sm.name}: {e}")

    # replace each output Reshape in place (keeps topological order), then prune dead nodes
    nodes = [new_nodes.get(id(n), n) for n in g.node]
    outputs = {o.name for o in g.output}
    while True:
        used = set(outputs)
        for n in nodes:
            used.update(i for i in n.input if i)
        keep = [n for n in nodes if any(o in used for o in n.output if o)]
        if len(keep) == len(nodes):
            break
        nodes = keep
    removed = len(g.node) - len(nodes)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep_init = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_init)
    produced = {o for n in g.node for o in n.output}
    keep_vi = [v for v in g.value_info if v.name in produced]
    del g.value_info[:]
    g.value_info.extend(keep_vi)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return fused, skipped, removed


def op_counts(m):
    c = defaultdict(int)
    for n in m.graph.node:
        c[(n.domain + "." if n.domain else "") + n.op_type] += 1
    return dict(sorted(c.items(), key=lambda kv: -kv[1]))


src = os.path.join(src_dir, "vision_model.onnx")
model = onnx.load(src)
report["unfused_ops"] = op_counts(model)
# the graph without its weights, to debug the matcher away from the device
skel = onnx.ModelProto(); skel.CopyFrom(model)
for i in skel.graph.initializer:
    if np.prod(i.dims) > 16:
        i.ClearField("raw_data"); i.ClearField("float_data"); i.data_location = 0
onnx.save(skel, os.path.join(out_dir, "vision_model_structure.onnx")); del skel
log("unfused op counts:", report["unfused_ops"])
fused, skipped, removed = fuse(model)
report.update(fused=fused, skipped=skipped, removed_nodes=removed)
log(f"fused {fused} attention blocks, skipped {len(skipped)}, removed {removed} nodes")
fix_ir(model)
fused_path = os.path.join(src_dir, "vision_model_mha.onnx")
onnx.save(model, fused_path)
report["fused_ops"] = op_counts(model)
log("fused fp32 written:", os.path.getsize(fused_path), report["fused_ops"])

# correctness on the CPU: fused fp32 vs unfused fp32
import onnxruntime as ort
rng = np.random.default_rng(0)
px = rng.uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)
so = ort.SessionOptions(); so.log_severity_level = 3
ref = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"]).run(None, {"pixel_values": px})
got = ort.InferenceSession(fused_path, so, providers=["CPUExecutionProvider"]).run(None, {"pixel_values": px})


def cos_rows(a, b):
    a = a.reshape(a.shape[0], -1) if a.ndim == 2 else a.reshape(-1, a.shape[-1])
    b = b.reshape(a.shape)
    return float(np.min(np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))))


report["cpu_fp32_fused_vs_unfused"] = {"last_hidden_state_min_cos": cos_rows(ref[0], got[0]), "pooler_output_min_cos": cos_rows(ref[1], got[1]),
                                       "pooler_max_abs_diff": float(np.abs(ref[1] - got[1]).max())}
log("CPU fp32 fused vs unfused:", report["cpu_fp32_fused_vs_unfused"])

from onnxruntime.transformers import optimizer
best = None
report["optimizer"] = {}
for mt in ("vit", "clip", "bert"):
    try:
        m = optimizer.optimize_model(fused_path, model_type=mt, num_heads=NUM_HEADS, hidden_size=HIDDEN, opt_level=0)
    except Exception as e:  # noqa: BLE001
        log(f"optimizer {mt} failed: {e!r}"[:300]); report["optimizer"][mt] = {"error": repr(e)[:300]}
        continue
    stats = {k: v for k, v in m.get_fused_operator_statistics().items() if v}
    m.convert_float_to_float16(keep_io_types=True)
    p = os.path.join(src_dir, f"vision_model_mha_fp16_{mt}.onnx")
    onnx.save(fix_ir(m.model), p)
    ops = op_counts(m.model)
    report["optimizer"][mt] = {"fused_stats": stats, "ops": ops}
    log(f"optimizer model_type={mt}: fusions {stats}; ops {ops}")
    score = sum(v for k, v in stats.items() if k not in ("Attention", "MultiHeadAttention"))
    if best is None or score > best[0]:
        best = (score, mt, p)
report["chosen_model_type"] = best[1]
shutil.copy(best[2], os.path.join(src_dir, "vision_model_mha_fp16.onnx"))
log(f"vision_model_mha_fp16.onnx = model_type {best[1]}")
json.dump(report, open(os.path.join(out_dir, "fuse_mha.json"), "w"), indent=1)
