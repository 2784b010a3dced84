// matfold prediction panel: one card per property with value ± 1σ, an uncertainty bar
// (1σ box, 2σ whiskers), unit, model and version, source and warnings.
// Plain DOM + SVG; no CDN, no dependencies. The root's `data-rendered` counts draws.

const LABELS = {
  formation_energy: "Formation energy", band_gap: "Band gap", bulk_modulus: "Bulk modulus",
  shear_modulus: "Shear modulus", debye_temperature: "Debye temperature", e_above_hull: "Energy above hull",
};

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return v.toPrecision(a >= 100 ? 4 : 3).replace(/\.?0+$/, (m) => (m.includes(".") ? "" : m));
}

function bar(value, sigma, lo, hi) {
  const W = 220, H = 26, pad = 6;
  const x = (v) => pad + ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo || 1)) * (W - 2 * pad);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H); svg.setAttribute("class", "mf-bar");
  const add = (tag, attrs) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.appendChild(e); return e;
  };
  add("line", { x1: pad, x2: W - pad, y1: H / 2, y2: H / 2, class: "mf-axis" });
  if (Number.isFinite(sigma) && sigma > 0) {
    add("line", { x1: x(value - 2 * sigma), x2: x(value + 2 * sigma), y1: H / 2, y2: H / 2, class: "mf-two-sigma" });
    for (const s of [-2, 2]) add("line", { x1: x(value + s * sigma), x2: x(value + s * sigma), y1: H / 2 - 5, y2: H / 2 + 5, class: "mf-two-sigma" });
    add("rect", { x: x(value - sigma), y: H / 2 - 6, width: Math.max(x(value + sigma) - x(value - sigma), 1), height: 12, class: "mf-one-sigma" });
  }
  add("circle", { cx: x(value), cy: H / 2, r: 4, class: "mf-value" });
  if (lo <= 0 && hi >= 0) add("line", { x1: x(0), x2: x(0), y1: 3, y2: H - 3, class: "mf-zero" });
  return svg;
}

function render({ model, el }) {
  el.innerHTML = "";
  const root = document.createElement("div");
  root.className = "mf-panel";
  const rows = model.get("rows") || [];
  const title = model.get("title");
  if (title) {
    const h = document.createElement("div"); h.className = "mf-title"; h.textContent = title; root.appendChild(h);
  }
  const errors = rows.filter((r) => r.error && !r.property);
  for (const r of errors) {
    const e = document.createElement("div"); e.className = "mf-error"; e.textContent = `${r.input}: ${r.error}`; root.appendChild(e);
  }
  const grid = document.createElement("div"); grid.className = "mf-grid";
  for (const r of rows.filter((r) => r.property)) {
    const card = document.createElement("div");
    card.className = "mf-card"; card.dataset.property = r.property; card.dataset.source = r.source;
    const head = document.createElement("div"); head.className = "mf-label";
    head.textContent = (LABELS[r.property] || r.property) + (r.source && r.source !== "composition" ? ` (${r.source})` : "");
    card.appendChild(head);
    if (r.error) {
      const e = document.createElement("div"); e.className = "mf-error"; e.textContent = r.error; card.appendChild(e);
    } else {
      const v = document.createElement("div"); v.className = "mf-number";
      v.innerHTML = `<b>${fmt(r.value)}</b> ± ${fmt(r.uncertainty)} <span class="mf-unit">${r.unit}</span>`;
      card.appendChild(v);
      const s = Number.isFinite(r.uncertainty) && r.uncertainty > 0 ? r.uncertainty : Math.abs(r.value) * 0.1 || 1;
      let lo = r.value - 3 * s, hi = r.value + 3 * s;
      if (["band_gap", "bulk_modulus", "shear_modulus", "debye_temperature", "e_above_hull"].includes(r.property)) lo = Math.max(lo, 0);
      card.appendChild(bar(r.value, r.uncertainty, lo, hi));
    }
    const m = document.createElement("div"); m.className = "mf-model";
    m.textContent = `${r.model}${r.version ? " v" + r.version : ""}`; m.title = r.model;
    card.appendChild(m);
    for (const w of r.warnings || []) {
      const d = document.createElement("div"); d.className = "mf-warning"; d.textContent = "⚠ " + w; card.appendChild(d);
    }
    grid.appendChild(card);
  }
  root.appendChild(grid);
  const legend = document.createElement("div"); legend.className = "mf-legend";
  legend.textContent = "dot: prediction · box: ±1σ · whiskers: ±2σ (σ calibrated on validation data)";
  root.appendChild(legend);
  el.appendChild(root);
  el.dataset.rendered = String((parseInt(el.dataset.rendered || "0", 10) || 0) + 1);
}

export default {
  render({ model, el }) {
    render({ model, el });
    const redraw = () => render({ model, el });
    model.on("change:rows", redraw);
    model.on("change:title", redraw);
    return () => { model.off("change:rows", redraw); model.off("change:title", redraw); };
  },
};
