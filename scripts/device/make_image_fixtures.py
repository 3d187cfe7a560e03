"""Build the tiny SigLIP and CLIP fixtures, the test images and their reference vectors (device machine).

Independent of Coalesce: tokenizers are trained here with the `tokenizers` library (Unigram for
SigLIP, byte-level BPE for CLIP), weights are random but seeded, images are drawn with PIL, and
every reference (pixel values, embeddings, logits) comes from transformers' own image processors
and PyTorch models, never from Coalesce's code.

Layouts, as people have them:
- tiny-siglip: transformers.js layout: onnx/text_model.onnx + onnx/vision_model.onnx (outputs
  last_hidden_state + pooler_output), quantized / fp16 variants, model.safetensors (holds
  logit_scale / logit_bias), preprocessor_config.json (fixed height x width resize, bilinear).
- tiny-clip: optimum layout: one model.onnx taking input_ids + pixel_values + attention_mask and
  returning logits_per_image, logits_per_text, text_embeds, image_embeds; no weights file, so
  the logit scale must be recovered from the graph. Resize shortest edge + center crop, bicubic.

usage: python3 make_image_fixtures.py <out dir>   (writes <out>/tiny-siglip, tiny-clip, images)
"""
import base64, io, json, math, os, random, shutil, sys, tempfile, time, traceback

import numpy as np
import onnx
import onnxruntime as ort
import torch
from PIL import Image, ImageDraw, ImageOps
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
import transformers
from transformers import (AutoImageProcessor, CLIPConfig, CLIPModel, PreTrainedTokenizerFast, SiglipConfig,
                          SiglipModel)

OUT = sys.argv[1]
T0 = time.time()
NOTES = []  # anything surprising, written into both references


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


def note(msg):
    log("NOTE:", msg)
    NOTES.append(msg)


for sub in ("tiny-siglip", "tiny-clip", "images"):
    p = os.path.join(OUT, sub)
    if os.path.exists(p):
        shutil.rmtree(p)
    os.makedirs(p)
os.makedirs(os.path.join(OUT, "tiny-siglip", "onnx"))

# ------------------------------------------------------------------------------------------------
# Test images (PIL, seeded): sizes, aspect ratios, formats, alpha, greyscale, EXIF, animation

rng = np.random.default_rng(20261121)


def scene(w, h, seed):
    """Smooth gradients, a few shapes and mild noise: enough structure for resizing to matter."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    fx, fy = x / max(w - 1, 1), y / max(h - 1, 1)
    base = np.stack([
        255 * fx,
        255 * fy,
        127.5 + 127.5 * np.sin(2 * math.pi * (fx * r.uniform(1, 4) + fy * r.uniform(1, 4))),
    ], axis=-1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = r.uniform(-0.2, 1.0) * w, r.uniform(-0.2, 1.0) * h
        x1, y1 = x0 + r.uniform(0.1, 0.6) * w, y0 + r.uniform(0.1, 0.6) * h
        color = tuple(int(c) for c in r.integers(0, 256, 3))
        (d.ellipse if r.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=color)
    for k in range(0, w, max(2, w // 12)):  # thin stripes: high frequencies that aliasing would show
        d.line([k, 0, k + h // 3, h], fill=(250, 250, 250), width=1)
    arr = np.asarray(img).astype(np.int16) + r.integers(-6, 7, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


IMAGES = []  # (file, what it exercises)
IMG_DIR = os.path.join(OUT, "images")


def save(img, name, what, **kw):
    img.save(os.path.join(IMG_DIR, name), **kw)
    IMAGES.append({"file": name, "what": what})


save(scene(224, 224, 1), "rgb_224x224.png", "RGB PNG, square, SigLIP-base input size")
save(scene(1024, 768, 2), "photo_1024x768.jpg", "large JPEG, 4:3, strong downscale", quality=88)
save(scene(320, 120, 3), "wide_320x120.jpg", "wide JPEG (8:3)", quality=90)
save(scene(90, 200, 4), "tall_90x200.webp", "tall lossy WebP", quality=85)
save(scene(333, 211, 5), "odd_333x211.png", "odd sizes: crop offsets round")
save(scene(64, 64, 6), "exact_64x64.png", "exactly the SigLIP fixture size (no resize)")
save(scene(40, 30, 7), "small_40x30.png", "smaller than the model input: upscaling")
save(scene(300, 8, 8), "thin_300x8.png", "extreme aspect ratio")
save(scene(2, 2, 9), "tiny_2x2.png", "2 x 2 pixels (1 x 1 confuses transformers' channel inference)")

rgba = scene(100, 80, 10).convert("RGBA")
a = np.zeros((80, 100), np.uint8)
a[:, :] = np.linspace(0, 255, 100, dtype=np.float32).astype(np.uint8)[None, :]
a[10:30, 10:40] = 0  # fully transparent block whose RGB underneath is not white
rgba.putalpha(Image.fromarray(a, "L"))
save(rgba, "alpha_rgba_100x80.png", "RGBA PNG: alpha ramp and a fully transparent block")

grey = scene(120, 120, 11).convert("L")
save(grey, "grey_L_120x120.png", "greyscale PNG (L)")
save(scene(100, 150, 12).convert("L"), "grey_100x150.jpg", "greyscale JPEG", quality=90)
la = Image.merge("LA", (scene(64, 96, 13).convert("L"), Image.fromarray(np.tile(np.linspace(30, 255, 64).astype(np.uint8), (96, 1)), "L")))
save(la, "grey_alpha_LA_64x96.png", "greyscale + alpha PNG (LA)")
save(scene(80, 80, 14).convert("P", palette=Image.Palette.ADAPTIVE, colors=48), "palette_P_80x80.png", "palette PNG (P)")

walpha = scene(90, 90, 15).convert("RGBA")
wa = np.full((90, 90), 255, np.uint8)
wa[45:, :] = 120
walpha.putalpha(Image.fromarray(wa, "L"))
save(walpha, "alpha_90x90.webp", "lossless WebP with alpha", lossless=True)

for orientation, (w, h), seed in ((6, (160, 100), 16), (3, (120, 90), 17), (8, (96, 128), 18)):
    exif = Image.Exif()
    exif[0x0112] = orientation
    save(scene(w, h, seed), f"exif{orientation}_{w}x{h}.jpg", f"JPEG with EXIF orientation {orientation}", quality=92,
         exif=exif.tobytes())

f0, f1 = scene(96, 72, 19), scene(96, 72, 20)
save(f0, "anim_96x72.gif", "animated GIF: the first frame counts", save_all=True, append_images=[f1], duration=100, loop=0)
log("images:", len(IMAGES))


def load_reference_image(path):
    """What a transformers user does: PIL open, EXIF transpose, RGB (transformers.image_utils.load_image)."""
    try:
        from transformers.image_utils import load_image
        img = load_image(path)
    except Exception as e:  # noqa: BLE001
        note(f"transformers.image_utils.load_image failed ({e}); using PIL directly")
        img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    manual = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    if img.size != manual.size or not np.array_equal(np.asarray(img), np.asarray(manual)):
        note(f"load_image differs from exif_transpose+convert('RGB') for {os.path.basename(path)}")
    return img


PIL_IMAGES = [load_reference_image(os.path.join(IMG_DIR, i["file"])) for i in IMAGES]
for info, img in zip(IMAGES, PIL_IMAGES):
    info["loaded_size"] = list(img.size)  # width, height after EXIF orientation

# ------------------------------------------------------------------------------------------------
# Tokenizer corpora (no network: built from a word list, seeded)

WORDS = ("a an the of and or to in on at with without for from by over under above below near far photo picture image "
         "drawing diagram painting sketch cat cats dog dogs bird fish horse cow sheep car cars truck bus bicycle plane boat "
         "train house houses tree trees flower flowers mountain river lake sea beach sky cloud sun moon star stars night day "
         "morning evening city street road bridge tower castle garden park forest field desert snow rain red green blue "
         "yellow orange purple black white grey gray brown pink small big large tiny huge old new young happy sad bright "
         "dark light heavy quick slow lazy brown fox jumps jump running run sitting sit standing walking flying swimming "
         "eating sleeping playing man woman child children people person group family friends team player players ball "
         "game music guitar piano book books table chair window door wall floor room kitchen bed cup glass bottle plate "
         "food pizza cake apple banana coffee tea water fire smoke solar system planet planets earth space rocket launch "
         "hand drawn circle square triangle line lines shape shapes pattern texture hello world lots spaces multiple "
         "café déjà vu naïve façade über résumé 東京 夜景 の 日本 🚀 zero one two three four five six seven eight nine ten "
         "100 2024 3d x-ray e-mail it's don't we're they've i'm you'll he'd").split()
random.seed(7)
CORPUS = [" ".join(random.choice(WORDS) for _ in range(random.randint(3, 12))) for _ in range(4000)]
CORPUS += [w.capitalize() + "!" for w in WORDS] + ["A DIAGRAM, drawn by hand: 1, 2, 3?"] * 5

SENTENCES = [
    "a photo of a cat",
    "a photo of a dog",
    "A DIAGRAM of the Solar System, drawn by hand!",
    "",
    "hello",
    "Café déjà vu: a naïve façade",
    "東京の夜景",
    "rocket 🚀 launch",
    "  lots   of   spaces  ",
    " ".join(["the quick brown fox jumps over the lazy dog"] * 12),
]
LABELS = ["a photo of a cat", "a photo of a dog", "a diagram", "a red circle", "a blue square"]


def siglip_tokenizer():
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=1000, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
                                      show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)])
    # SigLIP pads with </s> (not <pad>) to 64 tokens, as google/siglip-* do.
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="</s>",
                                   model_max_length=64, model_input_names=["input_ids"])


def clip_tokenizer():
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>", continuing_subword_prefix="", fuse_unk=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>",
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=1, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    # CLIP's vocabulary holds every byte with and without "</w>": add the missing ones so nothing maps to unk.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        for piece in (ch, ch + "</w>"):
            if piece not in vocab:
                vocab[piece] = len(vocab)
    tok = Tokenizer.from_str(json.dumps(spec))
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.RobertaProcessing(("<|endoftext|>", eos), ("<|startoftext|>", bos),
                                                      trim_offsets=False, add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=77,
                                   model_input_names=["input_ids", "attention_mask"])


# ------------------------------------------------------------------------------------------------
# Helpers: processors, pixel references, ONNX export and checks


def processors_for(model_dir):
    """The default image processor (torchvision backend when installed) and the PIL one."""
    out = {}
    default = AutoImageProcessor.from_pretrained(model_dir)
    out[getattr(default, "backend", "default")] = default
    try:
        pil = AutoImageProcessor.from_pretrained(model_dir, backend="pil")
    except Exception as e:  # noqa: BLE001
        try:
            pil = AutoImageProcessor.from_pretrained(model_dir, use_fast=False)
        except Exception as e2:  # noqa: BLE001
            note(f"no PIL image processor for {model_dir}: {e}; {e2}")
            pil = None
    if pil is not None and getattr(pil, "backend", "pil") not in out:
        out[getattr(pil, "backend", "pil")] = pil
    log("processors:", {k: type(v).__name__ for k, v in out.items()})
    return out


def pixel_reference(proc, pixel_values):
    """uint8 CHW images before rescale/normalize (exact for both backends), base64, plus the reconstruction error."""
    mean = torch.tensor(proc.image_mean if proc.do_normalize else [0.0] * 3, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(proc.image_std if proc.do_normalize else [1.0] * 3, dtype=torch.float64).view(1, 3, 1, 1)
    scale = proc.rescale_factor if proc.do_rescale else 1.0
    pv = pixel_values.to(torch.float64)
    u8 = torch.clamp(torch.round((pv * std + mean) / scale), 0, 255)
    back = (u8 * scale - mean) / std
    err = float((back - pv).abs().max())
    return [base64.b64encode(u8[i].to(torch.uint8).numpy().tobytes()).decode() for i in range(u8.shape[0])], err


def fix_ir(path):
    m = onnx.load(path)
    if m.ir_version > 13:  # onnxruntime 1.29 reads IR <= 13
        m.ir_version = 13
        onnx.save(m, path)


def set_attn(model, impl):
    try:
        model.set_attn_implementation(impl)
        return True
    except Exception:  # noqa: BLE001
        try:
            for c in (model.config, model.config.text_config, model.config.vision_config):
                c._attn_implementation = impl
            return True
        except Exception:  # noqa: BLE001
            return False


def export(wrapper, args, path, input_names, output_names, dynamic_axes, check):
    """Export, then check against PyTorch on other shapes; retry with eager attention and the dynamo exporter."""
    attempts = [("sdpa", False), ("eager", False), ("eager", True)]
    last = None
    for impl, dynamo in attempts:
        try:
            set_attn(wrapper.m_root, impl)
            kw = dict(input_names=input_names, output_names=output_names, opset_version=17, dynamo=dynamo,
                      dynamic_axes=dynamic_axes)
            with torch.no_grad():
                torch.onnx.export(wrapper, args, path, **kw)
            fix_ir(path)
            err = check(path)
            log(f"exported {os.path.basename(path)} (attn={impl}, dynamo={dynamo}): max error {err:.2e}")
            if err < 1e-3:
                return {"attn": impl, "dynamo": dynamo, "max_abs_error_vs_torch": err}
            last = f"max error {err}"
        except Exception as e:  # noqa: BLE001
            last = f"{type(e).__name__}: {e}"
            log(f"export of {os.path.basename(path)} with attn={impl}, dynamo={dynamo} failed: {last}")
            traceback.print_exc()
    set_attn(wrapper.m_root, "sdpa")
    raise RuntimeError(f"could not export {path}: {last}")


def ort_session(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def cos_rows(a, b):
    return (normalize(np.asarray(a, np.float64)) * normalize(np.asarray(b, np.float64))).sum(-1)


def sensitivity(model_fn, pv, std):
    """How much the fixture's image embedding moves for a +-2/255 pixel change: says how strict 0.999 is."""
    g = torch.Generator().manual_seed(3)
    noisy = pv + (torch.randint(-2, 3, pv.shape, generator=g).float() / 255.0) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        a, b = model_fn(pv).numpy(), model_fn(noisy).numpy()
    c = cos_rows(a, b)
    return {"cosine_after_pm2_of_255_noise_min": float(c.min()), "cosine_after_pm2_of_255_noise_mean": float(c.mean())}


def pairwise(emb):
    e = normalize(np.asarray(emb, np.float64))
    s = e @ e.T
    n = len(e)
    off = s[~np.eye(n, dtype=bool)]
    return {"mean_offdiagonal_cosine": float(off.mean()), "max_offdiagonal_cosine": float(off.max())}


def quantize(src, dst):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8)
    fix_ir(dst)


def fp16(src, dst):
    from onnxruntime.transformers.float16 import convert_float_to_float16
    m = convert_float_to_float16(onnx.load(src), keep_io_types=False)
    if m.ir_version > 13:
        m.ir_version = 13
    onnx.save(m, dst)


def versions():
    import PIL
    import tokenizers
    try:
        import torchvision
        tv = torchvision.__version__
    except Exception:  # noqa: BLE001
        tv = None
    return {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "pillow": PIL.__version__, "torchvision": tv, "onnx": onnx.__version__, "onnxruntime": ort.__version__}


def alpha_probe(proc, rgba_path):
    """Does the processor itself (do_convert_rgb) drop alpha or composite on white? Recorded, not used."""
    raw = ImageOps.exif_transpose(Image.open(rgba_path))
    try:
        got = proc(images=[raw], return_tensors="pt", do_convert_rgb=True)["pixel_values"]
    except Exception as e:  # noqa: BLE001
        return f"processor rejected RGBA input: {type(e).__name__}: {e}"
    dropped = proc(images=[raw.convert("RGB")], return_tensors="pt")["pixel_values"]
    white = Image.alpha_composite(Image.new("RGBA", raw.size, (255, 255, 255, 255)), raw.convert("RGBA")).convert("RGB")
    on_white = proc(images=[white], return_tensors="pt")["pixel_values"]
    if torch.allclose(got, dropped, atol=1e-5):
        return "drop"
    if torch.allclose(got, on_white, atol=1e-5):
        return "white"
    return "other"


def image_entries(per_backend):
    return [dict(i) for i in IMAGES]


# ------------------------------------------------------------------------------------------------
# Tiny SigLIP (transformers.js layout)

log("transformers", transformers.__version__, "torch", torch.__version__)
SIG = os.path.join(OUT, "tiny-siglip")
sig_tok = siglip_tokenizer()
torch.manual_seed(1234)
sig_cfg = SiglipConfig(
    text_config=dict(vocab_size=len(sig_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=64, pad_token_id=sig_tok.pad_token_id, eos_token_id=sig_tok.eos_token_id),
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=64,
                       patch_size=16, num_channels=3),
)
siglip = SiglipModel(sig_cfg).eval()
with torch.no_grad():
    siglip.logit_scale.fill_(math.log(9.0))
    siglip.logit_bias.fill_(-2.5)
tmp = tempfile.mkdtemp()
siglip.save_pretrained(tmp)
shutil.copy(os.path.join(tmp, "config.json"), SIG)
shutil.copy(os.path.join(tmp, "model.safetensors"), SIG)
sig_tok.save_pretrained(SIG)
# google/siglip2-base-patch16-224 style: fixed size, bilinear, mean/std 0.5 (SigLIP-base itself is bicubic).
with open(os.path.join(SIG, "preprocessor_config.json"), "w") as f:
    json.dump({"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
               "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5], "processor_class": "SiglipProcessor",
               "resample": 2, "rescale_factor": 1 / 255, "size": {"height": 64, "width": 64}}, f, indent=2)

sig_procs = processors_for(SIG)
sig_ids = sig_tok(SENTENCES, padding="max_length", max_length=64, truncation=True, return_tensors="pt")["input_ids"]
label_ids = sig_tok(LABELS, padding="max_length", max_length=64, truncation=True, return_tensors="pt")["input_ids"]
try:
    from transformers import AutoTokenizer
    reloaded = AutoTokenizer.from_pretrained(SIG)
    if reloaded(SENTENCES, padding="max_length", max_length=64, truncation=True)["input_ids"] != sig_ids.tolist():
        note("tiny-siglip: the saved tokenizer does not reload to the same ids")
except Exception as e:  # noqa: BLE001
    note(f"tiny-siglip: AutoTokenizer reload failed: {e}")

sig_ref = {"model": {"family": "siglip", "seed": 1234, "versions": versions(), "logit_scale_exp": 9.0, "logit_bias": -2.5,
                     "producer": "transformers SiglipModel (PyTorch, CPU, fp32) and AutoImageProcessor"},
           "sentences": SENTENCES, "input_ids": sig_ids.tolist(), "labels": LABELS, "images": image_entries(None),
           "image_embeds": {}, "pixels": {}, "pixel_reconstruction_max_error": {}, "logits_per_image": {}, "processors": {}}
pv_default = None
with torch.no_grad():
    for backend, proc in sig_procs.items():
        try:
            pv = proc(images=PIL_IMAGES, return_tensors="pt")["pixel_values"]
        except Exception as e:  # noqa: BLE001
            if pv_default is None:
                raise
            note(f"tiny-siglip: the {backend} processor failed: {type(e).__name__}: {e}")
            continue
        out = siglip(input_ids=sig_ids, pixel_values=pv)
        sig_ref["image_embeds"][backend] = out.image_embeds.tolist()
        sig_ref["pixels"][backend], sig_ref["pixel_reconstruction_max_error"][backend] = pixel_reference(proc, pv)
        sig_ref["logits_per_image"][backend] = siglip(input_ids=label_ids, pixel_values=pv).logits_per_image.tolist()
        sig_ref["processors"][backend] = type(proc).__name__
        sig_ref["text_embeds"] = out.text_embeds.tolist()
        if pv_default is None:
            pv_default = pv
sig_ref["pixel_shape"] = list(pv_default.shape[1:])
sig_ref["default_backend"] = next(iter(sig_procs))
sig_ref["alpha_probe"] = alpha_probe(next(iter(sig_procs.values())), os.path.join(IMG_DIR, "alpha_rgba_100x80.png"))
sig_ref["sensitivity"] = sensitivity(lambda p: siglip.vision_model(pixel_values=p).pooler_output, pv_default, [0.5] * 3)
sig_ref["image_pairwise"] = pairwise(sig_ref["image_embeds"][sig_ref["default_backend"]])
sig_ref["text_pairwise"] = pairwise(sig_ref["text_embeds"])


class SigText(torch.nn.Module):
    # transformers 5 mis-binds positional arguments: call with keywords.
    def __init__(self, m):
        super().__init__()
        self.m = m.text_model
        self.__dict__["m_root"] = m  # not a submodule: only the tower is traced

    def forward(self, input_ids):
        o = self.m(input_ids=input_ids)
        return o.last_hidden_state, o.pooler_output


class SigVision(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m.vision_model
        self.__dict__["m_root"] = m

    def forward(self, pixel_values):
        o = self.m(pixel_values=pixel_values)
        return o.last_hidden_state, o.pooler_output


sig_text_path = os.path.join(SIG, "onnx", "text_model.onnx")
sig_vision_path = os.path.join(SIG, "onnx", "vision_model.onnx")


def check_sig_text(path):
    got = ort_session(path).run(["pooler_output"], {"input_ids": sig_ids.numpy().astype(np.int64)})[0]
    return float(np.abs(normalize(got) - np.asarray(sig_ref["text_embeds"])).max())


def check_sig_vision(path):
    got = ort_session(path).run(["pooler_output"], {"pixel_values": pv_default.numpy()})[0]
    return float(np.abs(normalize(got) - np.asarray(sig_ref["image_embeds"][sig_ref["default_backend"]])).max())


sig_ref["export"] = {
    "text_model.onnx": export(SigText(siglip), (sig_ids[:2, :64],), sig_text_path, ["input_ids"], ["last_hidden_state", "pooler_output"],
                              {"input_ids": {0: "batch_size", 1: "sequence_length"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"},
                               "pooler_output": {0: "batch_size"}}, check_sig_text),
    "vision_model.onnx": export(SigVision(siglip), (pv_default[:2],), sig_vision_path, ["pixel_values"], ["last_hidden_state", "pooler_output"],
                                {"pixel_values": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}, "pooler_output": {0: "batch_size"}},
                                check_sig_vision),
}
sig_ref["variants"] = {}
for kind, make in (("quantized", quantize), ("fp16", fp16)):
    for tower, src, check in (("vision_model", sig_vision_path, None), ("text_model", sig_text_path, None)):
        dst = os.path.join(SIG, "onnx", f"{tower}_{kind}.onnx")
        try:
            make(src, dst)
            s = ort_session(dst)
            if tower == "vision_model":
                feed = pv_default.numpy()
                if s.get_inputs()[0].type == "tensor(float16)":
                    feed = feed.astype(np.float16)
                got = s.run(["pooler_output"], {"pixel_values": feed})[0].astype(np.float64)
                want = sig_ref["image_embeds"][sig_ref["default_backend"]]
            else:
                got = s.run(["pooler_output"], {"input_ids": sig_ids.numpy().astype(np.int64)})[0].astype(np.float64)
                want = sig_ref["text_embeds"]
            c = cos_rows(got, want)
            sig_ref["variants"][f"{tower}_{kind}.onnx"] = {"min_cosine_vs_fp32_torch": float(c.min()), "input_type": s.get_inputs()[0].type}
            log(f"{tower}_{kind}.onnx: min cosine {c.min():.5f}")
        except Exception as e:  # noqa: BLE001
            note(f"tiny-siglip: {tower}_{kind}.onnx not kept: {type(e).__name__}: {e}")
            if os.path.exists(dst):
                os.remove(dst)

# ------------------------------------------------------------------------------------------------
# Tiny CLIP (optimum layout: one model.onnx)

CLP = os.path.join(OUT, "tiny-clip")
clip_tok = clip_tokenizer()
torch.manual_seed(4321)
clip_cfg = CLIPConfig(
    text_config=dict(vocab_size=len(clip_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=77, projection_dim=24, bos_token_id=clip_tok.bos_token_id,
                     eos_token_id=clip_tok.eos_token_id, pad_token_id=clip_tok.pad_token_id),
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=48,
                       patch_size=8, num_channels=3, projection_dim=24),
    projection_dim=24, logit_scale_init_value=math.log(20.0),
)
clip = CLIPModel(clip_cfg).eval()
with torch.no_grad():
    clip.logit_scale.fill_(math.log(20.0))
tmp = tempfile.mkdtemp()
clip.save_pretrained(tmp)
shutil.copy(os.path.join(tmp, "config.json"), CLP)
clip_tok.save_pretrained(CLP)
# openai/clip-vit-base-patch32 style: shortest edge then center crop, bicubic, OpenAI mean/std.
with open(os.path.join(CLP, "preprocessor_config.json"), "w") as f:
    json.dump({"crop_size": {"height": 48, "width": 48}, "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True,
               "do_rescale": True, "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
               "image_processor_type": "CLIPImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
               "processor_class": "CLIPProcessor", "resample": 3, "rescale_factor": 1 / 255, "size": {"shortest_edge": 56}}, f, indent=2)

clip_procs = processors_for(CLP)
clip_text = clip_tok(SENTENCES, padding=True, truncation=True, max_length=77, return_tensors="pt")
clip_labels = clip_tok(LABELS, padding=True, truncation=True, max_length=77, return_tensors="pt")
clip_ref = {"model": {"family": "clip", "seed": 4321, "versions": versions(), "logit_scale_exp": 20.0, "logit_bias": 0.0,
                      "producer": "transformers CLIPModel (PyTorch, CPU, fp32) and AutoImageProcessor"},
            "sentences": SENTENCES,
            "input_ids": [ids[: int(m.sum())] for ids, m in zip(clip_text["input_ids"].tolist(), clip_text["attention_mask"])],
            "labels": LABELS, "images": image_entries(None), "image_embeds": {}, "pixels": {}, "pixel_reconstruction_max_error": {},
            "logits_per_image": {}, "processors": {}}
pv_clip = None
with torch.no_grad():
    for backend, proc in clip_procs.items():
        try:
            pv = proc(images=PIL_IMAGES, return_tensors="pt")["pixel_values"]
        except Exception as e:  # noqa: BLE001
            if pv_clip is None:
                raise
            note(f"tiny-clip: the {backend} processor failed: {type(e).__name__}: {e}")
            continue
        out = clip(input_ids=clip_text["input_ids"], attention_mask=clip_text["attention_mask"], pixel_values=pv)
        clip_ref["image_embeds"][backend] = out.image_embeds.tolist()
        clip_ref["text_embeds"] = out.text_embeds.tolist()
        clip_ref["pixels"][backend], clip_ref["pixel_reconstruction_max_error"][backend] = pixel_reference(proc, pv)
        clip_ref["logits_per_image"][backend] = clip(input_ids=clip_labels["input_ids"], attention_mask=clip_labels["attention_mask"],
                                                     pixel_values=pv).logits_per_image.tolist()
        clip_ref["processors"][backend] = type(proc).__name__
        if pv_clip is None:
            pv_clip = pv
clip_ref["pixel_shape"] = list(pv_clip.shape[1:])
clip_ref["default_backend"] = next(iter(clip_procs))
clip_ref["alpha_probe"] = alpha_probe(next(iter(clip_procs.values())), os.path.join(IMG_DIR, "alpha_rgba_100x80.png"))
clip_ref["sensitivity"] = sensitivity(lambda p: clip.visual_projection(clip.vision_model(pixel_values=p).pooler_output), pv_clip,
                                     [0.26862954, 0.26130258, 0.27577711])
clip_ref["image_pairwise"] = pairwise(clip_ref["image_embeds"][clip_ref["default_backend"]])
clip_ref["text_pairwise"] = pairwise(clip_ref["text_embeds"])


class ClipAll(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m
        self.__dict__["m_root"] = m

    def forward(self, input_ids, pixel_values, attention_mask):
        o = self.m(input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask)
        return o.logits_per_image, o.logits_per_text, o.text_embeds, o.image_embeds


clip_path = os.path.join(CLP, "model.onnx")


def check_clip(path):
    # Other batch sizes and sequence length than the export's dummy inputs.
    s = ort_session(path)
    lp, _, te, ie = s.run(None, {"input_ids": clip_text["input_ids"].numpy().astype(np.int64), "pixel_values": pv_clip.numpy(),
                                 "attention_mask": clip_text["attention_mask"].numpy().astype(np.int64)})
    e1 = np.abs(te - np.asarray(clip_ref["text_embeds"])).max()
    e2 = np.abs(ie - np.asarray(clip_ref["image_embeds"][clip_ref["default_backend"]])).max()
    return float(max(e1, e2))


dummy = clip_tok(["a photo of a cat", "hello"], padding=True, return_tensors="pt")
clip_ref["export"] = {"model.onnx": export(
    ClipAll(clip), (dummy["input_ids"], pv_clip[:3], dummy["attention_mask"]), clip_path,
    ["input_ids", "pixel_values", "attention_mask"], ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"],
    {"input_ids": {0: "text_batch_size", 1: "sequence_length"}, "pixel_values": {0: "image_batch_size"},
     "attention_mask": {0: "text_batch_size", 1: "sequence_length"}, "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
     "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"}, "text_embeds": {0: "text_batch_size"},
     "image_embeds": {0: "image_batch_size"}}, check_clip)}

# ------------------------------------------------------------------------------------------------

for path, ref in ((SIG, sig_ref), (CLP, clip_ref)):
    ref["notes"] = NOTES
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(ref, f)
with open(os.path.join(IMG_DIR, "images.json"), "w") as f:
    json.dump(IMAGES, f, indent=1, ensure_ascii=False)
for d in (SIG, CLP, IMG_DIR):
    for root, _, files in os.walk(d):
        for name in sorted(files):
            p = os.path.join(root, name)
            log(f"{os.path.relpath(p, OUT):48s} {os.path.getsize(p):>9d} bytes")
log("summary:", json.dumps({k: {"sensitivity": r["sensitivity"], "image_pairwise": r["image_pairwise"], "alpha_probe": r["alpha_probe"],
                                 "pixel_err": r["pixel_reconstruction_max_error"], "export": r["export"], "processors": r["processors"],
                                 "variants": r.get("variants")} for k, r in (("siglip", sig_ref), ("clip", clip_ref))}, indent=1))
log("done")
