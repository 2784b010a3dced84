// matfold protein viewer: 3Dmol.js (npm, bundled; BSD-3) with a sequence track.
// Residue selection is two-way: click in 3D or in the sequence -> `selected` trait.
// After every draw has reached the screen, the root's `data-rendered` counts up and
// `el.matfoldViewer.timings` holds how long it took (ms), for tests and benchmarks.
import * as $3Dmol from "3dmol";

const PLDDT_BANDS = [
  [90, "#0053d6", "very high (>90)"], [70, "#65cbf3", "confident (70-90)"],
  [50, "#ffdb13", "low (50-70)"], [-1, "#ff7d45", "very low (<50)"],
];
const SS_COLORS = { h: "#e6194b", s: "#f5b70a", c: "#bbbbbb" };
// Kyte-Doolittle hydropathy
const KD = { ALA: 1.8, ARG: -4.5, ASN: -3.5, ASP: -3.5, CYS: 2.5, GLN: -3.5, GLU: -3.5, GLY: -0.4, HIS: -3.2,
  ILE: 4.5, LEU: 3.8, LYS: -3.9, MET: 1.9, PHE: 2.8, PRO: -1.6, SER: -0.8, THR: -0.7, TRP: -0.9, TYR: -1.3,
  VAL: 4.2 };
const ONE = { ALA: "A", ARG: "R", ASN: "N", ASP: "D", CYS: "C", GLN: "Q", GLU: "E", GLY: "G", HIS: "H",
  ILE: "I", LEU: "L", LYS: "K", MET: "M", PHE: "F", PRO: "P", SER: "S", THR: "T", TRP: "W", TYR: "Y", VAL: "V",
  MSE: "M" };  // selenomethionine, as in crystal structures (and in chain_sequence)

function plddtColor(v) {
  for (const [lo, color] of PLDDT_BANDS) if (v > lo) return color;
  return PLDDT_BANDS[3][1];
}

function ramp(t) {  // 0 -> blue, 0.5 -> white, 1 -> red
  const c = (a, b) => Math.round(a + (b - a) * Math.abs(2 * t - 1));
  return t < 0.5 ? `rgb(${c(255, 33)},${c(255, 102)},${c(255, 172)})` : `rgb(${c(255, 178)},${c(255, 24)},${c(255, 43)})`;
}

// One entry per residue (chain + number, from its C-alpha; calcium ions are not residues), read from
// the PDB text before 3Dmol parses it, so the sequence track has its final size when the canvas is
// first sized (a later resize would draw the whole scene a second time).
function residuesOf(pdb) {
  const residues = [];
  const seen = new Set();
  for (const line of pdb.split("\n")) {
    if (!line.startsWith("ATOM  ") && !line.startsWith("HETATM")) continue;
    if (line.slice(12, 16).trim() !== "CA" || line.slice(76, 78).trim() === "CA") continue;
    const chain = line[21];
    const resi = parseInt(line.slice(22, 26), 10);
    const k = `${chain}:${resi}`;
    if (seen.has(k)) continue;
    seen.add(k);
    residues.push({ chain, resi, resn: line.slice(17, 20).trim(), plddt: parseFloat(line.slice(60, 66)) || 0 });
  }
  return residues;
}

// 3Dmol draws 10 cartoon segments per residue; above this many residues 5 (half the triangles:
// at 2,000 residues 0.6 s less to first frame with software WebGL, no visible change at that zoom).
const LARGE = 1000;

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "matfold-protein-viewer";
  root.style.height = model.get("height") || "460px";
  const stage = document.createElement("div");
  stage.className = "mf-stage";
  const track = document.createElement("div");
  track.className = "mf-sequence";
  const legend = document.createElement("div");
  legend.className = "mf-legend";
  root.append(stage, legend, track);
  el.appendChild(root);

  let residues = [];  // [{chain, resi, resn, plddt}]
  let trackOf = null;  // the PDB text the track shows
  showResidues(model.get("pdb") || "");
  const viewer = $3Dmol.createViewer(stage, { backgroundColor: model.get("background") || "white",
    antialias: true, upscale: false, preserveDrawingBuffer: true });
  let size = [stage.clientWidth, stage.clientHeight];  // CSS px the canvas was last sized to
  let frames = 0;
  const timings = {};  // ms: load (pdb set -> on screen), style (restyle -> on screen), surface

  function afterPaint(kind, start) {  // the second animation frame runs once the first was presented
    requestAnimationFrame(() => requestAnimationFrame(() => {
      timings[kind] = performance.now() - start;
      timings.renderedAt = performance.now();
      root.dataset.rendered = String(++frames);
    }));
  }

  function key(chain, resi) { return `${chain}:${resi}`; }

  function colorFor(atom) {
    const by = model.get("color_by");
    if (by === "plddt") return plddtColor(atom.b);
    if (by === "chain") return $3Dmol.chainColors?.[atom.chain] ?? ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"][(atom.chain.charCodeAt(0) - 65) % 6];
    if (by === "secondary-structure") return SS_COLORS[atom.ss] || SS_COLORS.c;
    if (by === "hydrophobicity") return ramp(((KD[atom.resn] ?? 0) + 4.5) / 9);
    if (by === "values") {
      const values = model.get("values") || {};
      const v = values[key(atom.chain, atom.resi)];
      return v === undefined ? "#dddddd" : ramp(Math.max(0, Math.min(1, v)));
    }
    return "#999999";
  }

  function restyle() {
    const start = performance.now();
    applyStyle();
    afterPaint("style", start);
  }

  // Every 3Dmol call that shows the scene draws a whole frame, which costs ~0.1-1 s with software
  // WebGL: draw once per change, and never for surfaces that are not there.
  let hasSurface = false;

  function applyStyle(draw = true) {
    viewer.setStyle({}, {});
    if (hasSurface) viewer.removeAllSurfaces();
    hasSurface = false;
    const style = model.get("style");
    const colorfunc = colorFor;
    if (style === "cartoon") viewer.setStyle({}, { cartoon: { colorfunc } });
    else if (style === "ribbon") viewer.setStyle({}, { cartoon: { colorfunc, style: "trace", thickness: 0.5 } });
    else if (style === "ball-and-stick") viewer.setStyle({}, { stick: { colorfunc, radius: 0.15 }, sphere: { colorfunc, scale: 0.25 } });
    else if (style === "surface") {
      viewer.setStyle({}, { cartoon: { colorfunc, opacity: 0.4 } });
      const start = performance.now();  // 3Dmol computes surfaces in workers, and draws them when done
      Promise.resolve(viewer.addSurface($3Dmol.SurfaceType.VDW, { opacity: 0.85, colorfunc }))
        .then(() => afterPaint("surface", start));
      hasSurface = true;
    }
    for (const h of model.get("highlights") || []) {
      viewer.addStyle({ chain: h.chain, resi: h.resi }, { stick: { color: h.color || "magenta", radius: 0.25 } });
    }
    const selected = model.get("selected") || [];
    for (const [chain, resi] of selected) {
      viewer.addStyle({ chain, resi }, { sphere: { color: "yellow", scale: 0.45 } });
    }
    if (draw) viewer.render();
    updateLegend();
  }

  function updateLegend() {
    legend.innerHTML = "";
    if (model.get("color_by") !== "plddt") return;
    for (const [, color, label] of PLDDT_BANDS) {
      const row = document.createElement("div");
      row.innerHTML = `<span class="mf-swatch" style="background:${color}"></span>${label}`;
      legend.appendChild(row);
    }
  }

  function select(chain, resi, additive) {
    const current = additive ? (model.get("selected") || []).slice() : [];
    const at = current.findIndex(([c, r]) => c === chain && r === resi);
    if (at >= 0) current.splice(at, 1); else current.push([chain, resi]);
    model.set("selected", current);
    model.save_changes();
  }

  function showResidues(pdb) {
    if (trackOf === pdb) return;
    trackOf = pdb;
    residues = residuesOf(pdb);
    track.innerHTML = "";
    for (const res of residues) {
      const span = document.createElement("span");
      span.className = "mf-res";
      span.textContent = ONE[res.resn] || "X";
      span.title = `${res.chain} ${res.resn} ${res.resi}  pLDDT ${res.plddt.toFixed(1)}`;
      span.style.borderBottom = `4px solid ${plddtColor(res.plddt)}`;
      span.dataset.key = key(res.chain, res.resi);
      span.addEventListener("click", (e) => select(res.chain, res.resi, e.shiftKey));
      track.appendChild(span);
    }
    markSelection();
  }

  function markSelection() {
    const selected = new Set((model.get("selected") || []).map(([c, r]) => key(c, r)));
    for (const span of track.children) span.classList.toggle("mf-selected", selected.has(span.dataset.key));
  }

  function load() {
    const start = performance.now();
    viewer.removeAllModels();  // no frame, unlike viewer.clear()
    const pdb = model.get("pdb") || "";
    showResidues(pdb);
    if (!pdb) {
      applyStyle();
      afterPaint("load", start);
      return;
    }
    viewer.addModel(pdb, "pdb", { cartoonQuality: residues.length > LARGE ? 5 : 10 });
    viewer.setClickable({}, true, (atom, _v, event) => select(atom.chain, atom.resi, event && event.shiftKey));
    applyStyle(false);
    const now = [stage.clientWidth, stage.clientHeight];
    if (now[0] !== size[0] || now[1] !== size[1]) {  // a new structure's track took more or less room
      size = now;
      viewer.resize();  // before the geometry exists: a cheap frame, not a second full one
    }
    viewer.zoomTo();  // draws the still empty scene: cheap
    viewer.render();  // builds the geometry and draws it
    afterPaint("load", start);
  }

  function onMessage(msg) {
    if (msg && msg.type === "snapshot") model.send({ type: "snapshot", id: msg.id, data: viewer.pngURI() });
  }
  const listeners = [["change:pdb", load], ["change:style", restyle], ["change:color_by", restyle],
    ["change:values", restyle], ["change:highlights", restyle], ["change:selected", () => { markSelection(); restyle(); }],
    ["msg:custom", onMessage]];
  for (const [event, handler] of listeners) model.on(event, handler);
  // 3Dmol's constructor watches the stage with a ResizeObserver and an IntersectionObserver whose
  // first calls each redraw the whole scene (~0.5 s at 2,000 residues with software WebGL). Ours
  // redraw only when the size really changes or the view comes back into sight (3Dmol's reason for
  // the second one: a WebGL context lost while off screen is restored by resize()).
  viewer.divwatcher?.disconnect();
  viewer.intwatcher?.disconnect();
  let visible = null;
  const resizer = new ResizeObserver(() => {
    const now = [stage.clientWidth, stage.clientHeight];
    if (now[0] === size[0] && now[1] === size[1]) return;
    size = now;
    viewer.resize();
  });
  const sight = new IntersectionObserver((entries) => {
    const now = entries[entries.length - 1].isIntersecting;
    if (now && visible === false) viewer.resize();
    visible = now;
  });
  resizer.observe(stage);
  sight.observe(stage);
  load();
  el.matfoldViewer = {
    residueCount: () => residues.length,
    selectResidue: (chain, resi) => select(chain, resi, false),
    timings,
    // [x, y] of a residue's C-alpha in CSS pixels from the canvas' top left (null if absent)
    screenPosition: (chain, resi) => {
      const atom = viewer.selectedAtoms({ chain, resi, atom: "CA" })[0];
      if (!atom) return null;
      const at = viewer.modelToScreen(atom);  // page coordinates
      const box = viewer.getCanvas().getBoundingClientRect();
      return [at.x - box.left - window.scrollX, at.y - box.top - window.scrollY];
    },
  };
  root.dataset.ready = "true";
  return () => {
    resizer.disconnect();
    sight.disconnect();
    for (const [event, handler] of listeners) model.off(event, handler);
    if (hasSurface) viewer.removeAllSurfaces();  // frees the surface buffers
    viewer.removeAllModels();  // viewer.clear() would draw five frames on the way out
    delete el.matfoldViewer;
    root.remove();
  };
}

export default { render };
