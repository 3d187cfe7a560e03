/**
 * The playground: one self-contained HTML page (no framework, no CDN) that calls the server's own
 * routes: POST /embed, /tokenize and, for image-text models, /embed_image and /classify_image.
 * A TypeScript module rather than an .html file, so that tsc alone puts it into dist/.
 */
export const PLAYGROUND_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Coalesce playground</title>
<style>
  :root { --fg: #1d2330; --muted: #667085; --line: #d0d5dd; --accent: #2f6fde; --bg: #f7f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  #model { color: var(--muted); font-size: 13px; }
  main { display: grid; grid-template-columns: minmax(320px, 440px) 1fr; gap: 20px; padding: 20px 24px; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; }
  h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 10px; }
  .text-row { display: flex; gap: 6px; margin-bottom: 6px; }
  .text-row textarea { flex: 1; min-height: 38px; resize: vertical; font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; }
  button { font: inherit; border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 5px 10px; cursor: pointer; }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; padding: 7px 16px; }
  button:disabled { opacity: .5; cursor: default; }
  .actions { display: flex; gap: 8px; align-items: center; margin-top: 8px; }
  #status { color: var(--muted); font-size: 13px; }
  #status.error { color: #b42318; }
  #drop { border: 2px dashed var(--line); border-radius: 8px; padding: 14px; text-align: center; color: var(--muted); cursor: pointer; }
  #drop.over { border-color: var(--accent); color: var(--accent); }
  #thumbs { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
  .thumb { position: relative; }
  .thumb img { width: 72px; height: 72px; object-fit: cover; border-radius: 6px; border: 1px solid var(--line); display: block; }
  .thumb button { position: absolute; top: 2px; right: 2px; padding: 0 5px; font-size: 12px; }
  .thumb span { display: block; font-size: 11px; color: var(--muted); text-align: center; }
  input[type=text] { width: 100%; font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; }
  table.heatmap { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  .heatmap th { font-weight: 500; font-size: 12px; color: var(--muted); padding: 4px 6px; max-width: 160px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .heatmap th.row { text-align: right; }
  .heatmap td { width: 62px; height: 44px; text-align: center; font-size: 13px; border: 2px solid #fff; border-radius: 4px; }
  .heatmap img { width: 28px; height: 28px; object-fit: cover; border-radius: 4px; vertical-align: middle; }
  .legend { display: flex; align-items: center; gap: 8px; font-size: 12px; color: var(--muted); margin-top: 8px; }
  .legend .bar { width: 160px; height: 10px; border-radius: 5px; }
  .tokens { margin-bottom: 10px; }
  .tokens .label { font-size: 12px; color: var(--muted); margin-bottom: 3px; }
  .tok { display: inline-block; margin: 0 3px 3px 0; padding: 1px 6px; border-radius: 4px; background: #e8effc; font: 13px ui-monospace, monospace; }
  .tok.special { background: #eceef2; color: var(--muted); }
  .tok sub { color: var(--muted); font-size: 10px; margin-left: 3px; }
  .labels-result { margin-bottom: 10px; }
  .score { display: grid; grid-template-columns: 140px 1fr 56px; gap: 8px; align-items: center; font-size: 13px; }
  .score .bar { height: 10px; background: var(--accent); border-radius: 5px; }
  .hidden { display: none; }
</style>
</head>
<body>
<header><h1>Coalesce playground</h1><span id="model">loading model info…</span></header>
<main>
  <div>
    <section>
      <h2>Texts</h2>
      <div id="texts"></div>
      <div class="actions"><button id="add-text" type="button">+ text</button></div>
    </section>
    <section id="image-panel" class="hidden">
      <h2>Images</h2>
      <div id="drop">Drop images here, or click to choose<input id="file" type="file" accept="image/*" multiple hidden></div>
      <div id="thumbs"></div>
      <h2 style="margin-top:14px">Zero-shot labels</h2>
      <input id="labels" type="text" value="a photo of a cat, a photo of a dog, a diagram, a landscape" aria-label="labels, comma separated">
    </section>
    <div class="actions"><button id="compute" class="primary" type="button">Compute</button><span id="status"></span></div>
  </div>
  <div>
    <section><h2>Cosine similarity</h2><div id="matrix"><p id="matrix-empty" style="color:var(--muted)">Type a few texts and press Compute.</p></div></section>
    <section id="zero-shot-panel" class="hidden"><h2>Zero-shot labels</h2><div id="zero-shot"></div></section>
    <section><h2>Tokens</h2><div id="tokens"></div></section>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const state = { images: [], imageModel: false };
const EXAMPLES = ["A cat sat on the mat.", "A kitten rested on the rug.", "Stock markets fell sharply today."];

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const c of children) node.append(c);
  return node;
}

function addText(value) {
  const area = el("textarea", { value: value || "", rows: 2, placeholder: "a text" });
  area.className = "text-input";
  const remove = el("button", { type: "button", textContent: "×", title: "remove" });
  const row = el("div", { className: "text-row" }, area, remove);
  remove.onclick = () => row.remove();
  $("texts").append(row);
  return area;
}

async function post(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(path + ": " + ((data && (data.error && data.error.message || data.error)) || res.status));
  return data;
}

function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

// Diverging colours: blue below 0, white at 0, orange-red towards 1.
function colour(v) {
  const t = Math.max(-1, Math.min(1, v));
  const mix = (a, b, f) => Math.round(a + (b - a) * f);
  const [r, g, b] = t >= 0 ? [mix(255, 214, t), mix(255, 69, t), mix(255, 35, t)] : [mix(255, 47, -t), mix(255, 111, -t), mix(255, 222, -t)];
  return "rgb(" + r + "," + g + "," + b + ")";
}

function header(item, cls) {
  const th = el("th", { title: item.title, className: cls || "" });
  if (item.src) th.append(el("img", { src: item.src, alt: item.title }));
  else th.textContent = item.title.length > 28 ? item.title.slice(0, 27) + "…" : item.title;
  return th;
}

function renderMatrix(items, vectors) {
  const table = el("table", { className: "heatmap" });
  table.id = "heatmap";
  const head = el("tr", {}, el("th"));
  items.forEach((it) => head.append(header(it)));
  table.append(head);
  items.forEach((row, i) => {
    const tr = el("tr", {}, header(row, "row"));
    items.forEach((col, j) => {
      const v = cosine(vectors[i], vectors[j]);
      const td = el("td", { textContent: v.toFixed(3), title: row.title + " · " + col.title + ": " + v.toFixed(6) });
      td.dataset.row = String(i);
      td.dataset.col = String(j);
      td.dataset.value = String(v);
      td.style.background = colour(v);
      td.style.color = Math.abs(v) > 0.65 ? "#fff" : "var(--fg)";
      tr.append(td);
    });
    table.append(tr);
  });
  const legend = el("div", { className: "legend" }, "-1", el("div", { className: "bar" }), "+1  (white: 0)");
  legend.querySelector(".bar").style.background = "linear-gradient(to right," + colour(-1) + "," + colour(0) + "," + colour(1) + ")";
  $("matrix").replaceChildren(table, legend);
}

function renderTokens(texts, tokenLists) {
  $("tokens").replaceChildren(...texts.map((text, i) => {
    const box = el("div", { className: "tokens" }, el("div", { className: "label", textContent: "#" + (i + 1) + " · " + tokenLists[i].length + " tokens" }));
    box.dataset.index = String(i);
    for (const t of tokenLists[i]) {
      const chip = el("span", { className: "tok" + (t.special ? " special" : ""), textContent: t.text, title: "id " + t.id });
      chip.append(el("sub", { textContent: String(t.id) }));
      box.append(chip);
    }
    return box;
  }));
}

function renderZeroShot(images, results) {
  $("zero-shot-panel").classList.remove("hidden");
  $("zero-shot").replaceChildren(...images.map((img, i) => {
    const box = el("div", { className: "labels-result" }, el("div", { className: "label", textContent: img.title }));
    for (const s of results[i]) {
      const bar = el("div", { className: "bar" });
      bar.style.width = Math.max(1, Math.round(s.score * 100)) + "%";
      box.append(el("div", { className: "score" }, el("span", { textContent: s.label }), el("div", {}, bar), el("span", { textContent: s.score.toFixed(3) })));
    }
    return box;
  }));
}

async function compute() {
  const texts = [...document.querySelectorAll(".text-input")].map((t) => t.value.trim()).filter(Boolean);
  const images = state.imageModel ? state.images : [];
  if (texts.length + images.length === 0) return setStatus("Type a text first.", true);
  $("compute").disabled = true;
  setStatus("computing…");
  const started = performance.now();
  try {
    await Promise.all(images.map((i) => i.ready));
    const labels = $("labels").value.split(",").map((s) => s.trim()).filter(Boolean);
    const [textVectors, tokenLists, imageVectors, zeroShot] = await Promise.all([
      texts.length ? post("/embed", { inputs: texts, truncate: true }) : [],
      texts.length ? post("/tokenize", { inputs: texts, truncate: true }) : [],
      images.length ? post("/embed_image", { inputs: images.map((i) => i.src) }) : [],
      images.length && labels.length ? post("/classify_image", { inputs: images.map((i) => i.src), labels }) : null,
    ]);
    const items = [...texts.map((t, i) => ({ title: t, kind: "text", index: i })), ...images.map((img) => ({ title: img.title, src: img.src, kind: "image" }))];
    renderMatrix(items, [...textVectors, ...imageVectors]);
    renderTokens(texts, tokenLists);
    if (zeroShot) renderZeroShot(images, zeroShot);
    else $("zero-shot-panel").classList.add("hidden");
    setStatus("done in " + Math.round(performance.now() - started) + " ms");
    document.body.dataset.computed = String(Number(document.body.dataset.computed || 0) + 1);
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    $("compute").disabled = false;
  }
}

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function addImages(files) {
  for (const file of files) {
    if (!file.type.startsWith("image/")) continue;
    // Entries take the order the files were given in, whatever order their reads finish in.
    const img = el("img", { alt: file.name });
    const image = { title: file.name, src: "" };
    image.ready = new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => { image.src = String(reader.result); img.src = image.src; resolve(); };
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
    state.images.push(image);
    const remove = el("button", { type: "button", textContent: "×", title: "remove" });
    const thumb = el("div", { className: "thumb" }, img, remove, el("span", { textContent: file.name.slice(0, 12) }));
    remove.onclick = () => { state.images.splice(state.images.indexOf(image), 1); thumb.remove(); };
    $("thumbs").append(thumb);
  }
}

async function init() {
  EXAMPLES.forEach((t) => addText(t));
  $("add-text").onclick = () => addText("").focus();
  $("compute").onclick = compute;
  const drop = $("drop");
  drop.onclick = () => $("file").click();
  $("file").onchange = (e) => addImages(e.target.files);
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); addImages(e.dataTransfer.files); };
  try {
    const info = await (await fetch("/info")).json();
    state.imageModel = Array.isArray(info.modalities) && info.modalities.includes("image");
    $("model").textContent = info.model_id + " · " + info.dimensions + " dimensions" + (state.imageModel ? " · text and images" : "");
    $("image-panel").classList.toggle("hidden", !state.imageModel);
  } catch (e) {
    $("model").textContent = "could not read /info: " + e.message;
  }
  document.body.dataset.ready = "true";
}
init();
</script>
</body>
</html>
`;
