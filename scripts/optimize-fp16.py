"""Turn an fp32 ONNX export of a BERT-like encoder into a fast fp16 graph for the CUDA provider.

ONNX Runtime's transformer optimizer fuses attention (Attention / MultiHeadAttention, which run
fused and flash kernels on CUDA), SkipLayerNormalization, BiasGelu and the embedding layer, then
the graph is converted to float16 with float32 inputs and outputs kept (keep_io_types), so
Coalesce feeds and reads it exactly like the fp32 graph and pools the output in float32.

Exporting a `.half()` model directly gives a graph ONNX Runtime rejects (LayerNormalization type
mismatch), hence this two-step path. Needs `pip install onnx onnxruntime` (the CPU package is
enough: the optimizer only rewrites the graph). Run it where the model is, e.g. on the GPU host:

    python3 scripts/optimize-fp16.py model/model.onnx model/model_fp16.onnx
    coalesce --model model --onnx-file model_fp16.onnx --device cuda

Heads and hidden size are read from config.json beside the input when not given.

--packed also converts the fused graph to ONNX Runtime's packing mode (RemovePadding before the
first layer, PackedAttention, RestorePadding after the last): the layers then run on the batch's
real tokens only, so a batch of mixed lengths costs what its tokens cost, not rows x longest.
Coalesce sees the RemovePadding node and batches by real tokens. The packed ops run on CUDA only.
"""
import argparse
import json
import os
import sys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="fp32 .onnx file (e.g. exported with torch.onnx.export, opset 17)")
    p.add_argument("output", help="where to write the fp16 graph")
    p.add_argument("--model-type", default=None, help="optimizer model type (bert, roberta, ...; default: config.json model_type, else bert)")
    p.add_argument("--num-heads", type=int, default=None)
    p.add_argument("--hidden-size", type=int, default=None)
    p.add_argument("--keep-fp32", action="store_true", help="fuse only, keep float32 weights")
    p.add_argument("--packed", action="store_true", help="packing mode: layers run on real tokens only (CUDA only)")
    p.add_argument("--opt-level", type=int, default=None, choices=[0, 1, 2, 99],
                   help="0: Python fusions only; 1 (the optimizer's default for BERT): ONNX Runtime's basic passes first (needs torch installed)")
    args = p.parse_args()

    config_path = os.path.join(os.path.dirname(os.path.abspath(args.input)), "config.json")
    config = json.load(open(config_path)) if os.path.exists(config_path) else {}
    heads = args.num_heads or config.get("num_attention_heads")
    hidden = args.hidden_size or config.get("hidden_size")
    model_type = args.model_type or config.get("model_type") or "bert"
    if model_type not in ("bert", "roberta", "distilbert", "xlm-roberta", "camembert", "mpnet", "electra"):
        model_type = "bert"
    if model_type in ("xlm-roberta", "camembert"):
        model_type = "roberta"
    if not heads or not hidden:
        sys.exit(f"need --num-heads and --hidden-size (no config.json with num_attention_heads/hidden_size beside {args.input})")

    import onnx
    from onnxruntime.transformers import optimizer

    m = optimizer.optimize_model(args.input, model_type=model_type, num_heads=int(heads), hidden_size=int(hidden),
                                 opt_level=args.opt_level)
    fused = m.get_fused_operator_statistics()
    if args.packed:
        from onnxruntime.transformers.convert_to_packing_mode import PackingMode

        attention = m.get_nodes_by_op_type("Attention") + m.get_nodes_by_op_type("MultiHeadAttention")
        if not attention:
            sys.exit("--packed needs fused attention, and the optimizer fused none in this graph")
        PackingMode(m).convert(use_symbolic_shape_infer=False)
        if not m.get_nodes_by_op_type("RemovePadding"):
            sys.exit("--packed: ONNX Runtime's packing mode did not convert this graph (its attention takes no per-row mask)")
        fused["PackedAttention"] = len(m.get_nodes_by_op_type("PackedAttention")) + len(m.get_nodes_by_op_type("PackedMultiHeadAttention"))
    if not args.keep_fp32:
        m.convert_float_to_float16(keep_io_types=True)
    model = m.model
    if model.ir_version > 10:  # onnxruntime 1.29 reads IR <= 13; older runtimes want 10 or less
        model.ir_version = 10
    onnx.save(model, args.output)
    print(json.dumps({"output": args.output, "bytes": os.path.getsize(args.output), "fp16": not args.keep_fp32, "packed": args.packed,
                      "fused": {k: v for k, v in fused.items() if v}}))


if __name__ == "__main__":
    main()
