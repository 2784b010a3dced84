// matfold protein viewer: 3Dmol.js (npm, bundled; BSD-3) with a sequence track.
// Residue selection is two-way: click in 3D or in the sequence -> `selected` trait.
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
  ILE: "I", LEU: "L", LYS: "K", MET: "M", PHE: "F", PRO: "P", SER: "S", THR: "T", TRP: "W", TYR: "Y", VAL: "V" };

function plddtColor(v) {
  for (const [lo, color] of PLDDT_BANDS) if (v > lo) return color;
  return PLDDT_BANDS[3][1];
}

function ramp(t) {  // 0 -> blue, 0.5 -> white, 1 -> red
  const c = (a, b) => Math.round(a + (b - a) * Math.abs(2 * t - 1));
  return t < 0.5 ? `rgb(${c(255, 33)},${c(255, 102)},${c(255, 172)})` : `rgb(${c(255, 178)},${c(255, 24)},${c(255, 43)})`;
}

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

  const viewer = $3Dmol.createViewer(stage, { backgroundColor: model.get("background") || "white",
    antialias: true, preserveDrawingBuffer: true });
  let residues = [];  // [{chain, resi, resn, plddt, ss}]

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

  function applyStyle() {
    viewer.setStyle({}, {});
    viewer.removeAllSurfaces();
    const style = model.get("style");
    const colorfunc = colorFor;
    if (style === "cartoon") viewer.setStyle({}, { cartoon: { colorfunc } });
    else if (style === "ribbon") viewer.setStyle({}, { cartoon: { colorfunc, style: "trace", thickness: 0.5 } });
    else if (style === "ball-and-stick") viewer.setStyle({}, { stick: { colorfunc, radius: 0.15 }, sphere: { colorfunc, scale: 0.25 } });
    else if (style === "surface") {
      viewer.setStyle({}, { cartoon: { colorfunc, opacity: 0.4 } });
      viewer.addSurface($3Dmol.SurfaceType.VDW, { opacity: 0.85, colorfunc });
    }
    for (const h of model.get("highlights") || []) {
      viewer.addStyle({ chain: h.chain, resi: h.resi }, { stick: { color: h.color || "magenta", radius: 0.25 } });
    }
    const selected = model.get("selected") || [];
    for (const [chain, resi] of selected) {
      viewer.addStyle({ chain, resi }, { sphere: { color: "yellow", scale: 0.45 } });
    }
    viewer.render();
    updateTrack();
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

  function updateTrack() {
    track.innerHTML = "";
    const selected = new Set((model.get("selected") || []).map(([c, r]) => key(c, r)));
    for (const res of residues) {
      const span = document.createElement("span");
      span.className = "mf-res" + (selected.has(key(res.chain, res.resi)) ? " mf-selected" : "");
      span.textContent = ONE[res.resn] || "X";
      span.title = `${res.chain} ${res.resn} ${res.resi}  pLDDT ${res.plddt.toFixed(1)}`;
      span.style.borderBottom = `4px solid ${plddtColor(res.plddt)}`;
      span.dataset.key = key(res.chain, res.resi);
      span.addEventListener("click", (e) => select(res.chain, res.resi, e.shiftKey));
      track.appendChild(span);
    }
  }

  function load() {
    viewer.clear();
    const pdb = model.get("pdb") || "";
    if (!pdb) return;
    const m = viewer.addModel(pdb, "pdb");
    residues = [];
    const seen = new Set();
    for (const atom of m.selectedAtoms({ atom: "CA" })) {
      const k = key(atom.chain, atom.resi);
      if (seen.has(k)) continue;
      seen.add(k);
      residues.push({ chain: atom.chain, resi: atom.resi, resn: atom.resn, plddt: atom.b, ss: atom.ss });
    }
    viewer.setClickable({}, true, (atom, _v, event) => select(atom.chain, atom.resi, event && event.shiftKey));
    applyStyle();
    viewer.zoomTo();
    viewer.render();
  }

  function onMessage(msg) {
    if (msg && msg.type === "snapshot") model.send({ type: "snapshot", id: msg.id, data: viewer.pngURI() });
  }
  const listeners = [["change:pdb", load], ["change:style", applyStyle], ["change:color_by", applyStyle],
    ["change:values", applyStyle], ["change:highlights", applyStyle], ["change:selected", applyStyle],
    ["msg:custom", onMessage]];
  for (const [event, handler] of listeners) model.on(event, handler);
  const observer = new ResizeObserver(() => { viewer.resize(); viewer.render(); });
  observer.observe(stage);
  load();
  el.matfoldViewer = {
    residueCount: () => residues.length,
    selectResidue: (chain, resi) => select(chain, resi, false),
  };
  root.dataset.ready = "true";
  return () => {
    observer.disconnect();
    for (const [event, handler] of listeners) model.off(event, handler);
    viewer.clear();
    delete el.matfoldViewer;
    root.remove();
  };
}

export default { render };
