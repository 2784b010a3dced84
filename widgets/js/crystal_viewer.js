// matfold crystal viewer: draws the scene Python computed (matfold_widgets.crystal_scene)
// with three.js. Bundled by esbuild at build time; nothing is fetched at view time.
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";

const MODES = ["ball-and-stick", "polyhedral", "space-filling"];
const MODE_LABELS = { "ball-and-stick": "Ball & stick", polyhedral: "Polyhedra", "space-filling": "Space-filling" };
const MAX_LABELS = 600;

function makeButton(text, title, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  button.title = title;
  button.addEventListener("click", onClick);
  return button;
}

function disposeGroup(group) {
  group.traverse((obj) => {
    if (obj.geometry) obj.geometry.dispose();
    if (obj.material) (Array.isArray(obj.material) ? obj.material : [obj.material]).forEach((m) => m.dispose());
  });
  group.clear();
}

function buildAtoms(atoms, group) {
  const n = atoms.elements.length;
  if (!n) return null;
  const detail = n > 5000 ? [10, 8] : n > 800 ? [16, 12] : [28, 20];
  const geometry = new THREE.SphereGeometry(1, detail[0], detail[1]);
  const material = new THREE.MeshPhongMaterial({ shininess: 60, specular: 0x333333 });
  const mesh = new THREE.InstancedMesh(geometry, material, n);
  const matrix = new THREE.Matrix4();
  const color = new THREE.Color();
  const p = atoms.positions;
  for (let i = 0; i < n; i++) {
    const r = atoms.radii[i];
    matrix.makeScale(r, r, r).setPosition(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
    mesh.setMatrixAt(i, matrix);
    mesh.setColorAt(i, color.set(atoms.colors[i]));
  }
  mesh.instanceMatrix.needsUpdate = true;
  mesh.computeBoundingSphere();
  group.add(mesh);
  return mesh;
}

function buildBonds(atoms, bonds, group) {
  const nb = bonds.length / 2;
  if (!nb) return;
  const radius = 0.09;
  const geometry = new THREE.CylinderGeometry(1, 1, 1, 12, 1, true);
  const material = new THREE.MeshPhongMaterial({ shininess: 40 });
  const mesh = new THREE.InstancedMesh(geometry, material, 2 * nb);
  const p = atoms.positions;
  const a = new THREE.Vector3(), b = new THREE.Vector3(), mid = new THREE.Vector3();
  const dir = new THREE.Vector3(), half = new THREE.Vector3();
  const up = new THREE.Vector3(0, 1, 0), q = new THREE.Quaternion(), s = new THREE.Vector3();
  const m = new THREE.Matrix4(), color = new THREE.Color();
  for (let k = 0; k < nb; k++) {
    const i = bonds[2 * k], j = bonds[2 * k + 1];
    a.set(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
    b.set(p[3 * j], p[3 * j + 1], p[3 * j + 2]);
    mid.addVectors(a, b).multiplyScalar(0.5);
    dir.subVectors(b, a);
    const length = dir.length();
    q.setFromUnitVectors(up, dir.normalize());
    s.set(radius, length / 2, radius);
    half.addVectors(a, mid).multiplyScalar(0.5);
    mesh.setMatrixAt(2 * k, m.compose(half, q, s));
    mesh.setColorAt(2 * k, color.set(atoms.colors[i]));
    half.addVectors(b, mid).multiplyScalar(0.5);
    mesh.setMatrixAt(2 * k + 1, m.compose(half, q, s));
    mesh.setColorAt(2 * k + 1, color.set(atoms.colors[j]));
  }
  mesh.instanceMatrix.needsUpdate = true;
  group.add(mesh);
}

function buildPolyhedra(polyhedra, group) {
  for (const poly of polyhedra) {
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.Float32BufferAttribute(poly.vertices, 3));
    geometry.setIndex(poly.faces);
    geometry.computeVertexNormals();
    const face = new THREE.Mesh(
      geometry,
      new THREE.MeshPhongMaterial({
        color: poly.color, transparent: true, opacity: 0.55, side: THREE.DoubleSide,
        depthWrite: false, flatShading: true,
      }),
    );
    const edges = new THREE.LineSegments(
      new THREE.EdgesGeometry(geometry, 1),
      new THREE.LineBasicMaterial({ color: 0x333333, transparent: true, opacity: 0.6 }),
    );
    group.add(face, edges);
  }
}

function buildCell(cell, group) {
  const [a, b, c] = cell.vectors.map((v) => new THREE.Vector3(...v));
  const o = new THREE.Vector3();
  const corners = [o, a, b, c, a.clone().add(b), a.clone().add(c), b.clone().add(c), a.clone().add(b).add(c)];
  const edges = [[0, 1], [0, 2], [0, 3], [1, 4], [1, 5], [2, 4], [2, 6], [3, 5], [3, 6], [4, 7], [5, 7], [6, 7]];
  const points = [];
  for (const [i, j] of edges) points.push(corners[i], corners[j]);
  const box = new THREE.LineSegments(
    new THREE.BufferGeometry().setFromPoints(points),
    new THREE.LineBasicMaterial({ color: 0x222222 }),
  );
  group.add(box);
  // unit-cell axes a (red), b (green), c (blue) from the origin
  const axisColors = [0xd62728, 0x2ca02c, 0x1f77b4];
  cell.unit.forEach((v, k) => {
    const line = new THREE.Line(
      new THREE.BufferGeometry().setFromPoints([o, new THREE.Vector3(...v)]),
      new THREE.LineBasicMaterial({ color: axisColors[k], linewidth: 2 }),
    );
    group.add(line);
  });
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "matfold-crystal-viewer";
  root.style.height = model.get("height") || "420px";
  el.appendChild(root);

  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  } catch (err) {
    root.innerHTML = `<div class="mf-error">The crystal viewer needs WebGL, which this browser did not provide (${err.message}).</div>`;
    return () => root.remove();
  }
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  root.appendChild(renderer.domElement);

  const scene = new THREE.Scene();
  const camera = new THREE.OrthographicCamera(-10, 10, 10, -10, 0.1, 2000);
  scene.add(camera);
  scene.add(new THREE.AmbientLight(0xffffff, 1.4));
  const light = new THREE.DirectionalLight(0xffffff, 2.2);
  light.position.set(1, 1, 2);
  camera.add(light);
  const controls = new OrbitControls(camera, renderer.domElement);
  controls.enableDamping = false;

  const content = new THREE.Group();
  scene.add(content);
  const highlight = new THREE.Mesh(
    new THREE.SphereGeometry(1, 24, 16),
    new THREE.MeshBasicMaterial({ color: 0xffd60a, transparent: true, opacity: 0.45, depthWrite: false }),
  );
  highlight.visible = false;
  scene.add(highlight);

  const overlay = (className) => {
    const div = document.createElement("div");
    div.className = className;
    return div;
  };
  const labelLayer = overlay("mf-labels");
  const legend = overlay("mf-legend");
  const status = overlay("mf-status");
  root.append(labelLayer, legend, status);

  // toolbar: the mode buttons write the `mode` trait; Python recomputes the scene.
  const toolbar = overlay("mf-toolbar");
  const modeButtons = {};
  const interactive = !model.standalone;
  if (interactive) {
    for (const mode of MODES) {
      modeButtons[mode] = makeButton(MODE_LABELS[mode], `Draw ${mode}`, () => {
        model.set("mode", mode);
        model.save_changes();
      });
      toolbar.appendChild(modeButtons[mode]);
    }
    toolbar.appendChild(makeButton("Cell", "Show or hide the unit cell", () => {
      model.set("show_cell", !model.get("show_cell"));
      model.save_changes();
    }));
    toolbar.appendChild(makeButton("Labels", "Show or hide atom labels", () => {
      model.set("show_labels", !model.get("show_labels"));
      model.save_changes();
    }));
  }
  toolbar.appendChild(makeButton("Reset view", "Fit the structure in the view", () => fitCamera()));
  toolbar.appendChild(makeButton("PNG", "Download a PNG of this view", () => {
    draw();
    const link = document.createElement("a");
    link.download = `${model.get("title") || "structure"}.png`;
    link.href = renderer.domElement.toDataURL("image/png");
    link.click();
  }));
  root.appendChild(toolbar);

  let atomsMesh = null;
  let data = null;
  let labels = [];

  function size() {
    const w = root.clientWidth || 600;
    const h = root.clientHeight || 420;
    return [w, h];
  }

  function fitCamera() {
    if (!data) return;
    const [w, h] = size();
    const aspect = w / h;
    const extent = Math.max(data.extent, 1) * 1.15;
    camera.left = -extent * aspect;
    camera.right = extent * aspect;
    camera.top = extent;
    camera.bottom = -extent;
    camera.zoom = 1;
    const center = new THREE.Vector3(...data.center);
    const direction = new THREE.Vector3(0.55, -1.0, 0.45).normalize();
    camera.position.copy(center).addScaledVector(direction, extent * 6);
    camera.up.set(0, 0, 1);
    camera.near = 0.1;
    camera.far = extent * 20;
    camera.lookAt(center);
    controls.target.copy(center);
    camera.updateProjectionMatrix();
    controls.update();
    draw();
  }

  function updateLegend() {
    legend.style.display = model.get("show_legend") && data ? "" : "none";
    legend.innerHTML = "";
    if (!data) return;
    for (const entry of data.legend) {
      const row = document.createElement("div");
      const swatch = document.createElement("span");
      swatch.className = "mf-swatch";
      swatch.style.background = entry.color;
      const text = document.createElement("span");
      text.textContent = `${entry.element} ×${entry.count}`;
      row.append(swatch, text);
      legend.appendChild(row);
    }
  }

  function updateLabels() {
    labelLayer.innerHTML = "";
    labels = [];
    if (!model.get("show_labels") || !data) return;
    const n = Math.min(data.atoms.labels.length, MAX_LABELS);
    for (let i = 0; i < n; i++) {
      const div = document.createElement("div");
      div.className = "mf-label";
      div.textContent = data.atoms.labels[i];
      labelLayer.appendChild(div);
      labels.push(div);
    }
  }

  function screenPosition(i) {
    const p = data.atoms.positions;
    const v = new THREE.Vector3(p[3 * i], p[3 * i + 1], p[3 * i + 2]).project(camera);
    const [w, h] = size();
    return [((v.x + 1) / 2) * w, ((1 - v.y) / 2) * h];
  }

  function draw() {
    renderer.render(scene, camera);
    for (let i = 0; i < labels.length; i++) {
      const [x, y] = screenPosition(i);
      labels[i].style.left = `${x}px`;
      labels[i].style.top = `${y}px`;
    }
  }

  function rebuild(refit) {
    data = model.get("scene");
    disposeGroup(content);
    atomsMesh = null;
    highlight.visible = false;
    if (data && data.atoms) {
      atomsMesh = buildAtoms(data.atoms, content);
      buildBonds(data.atoms, data.bonds, content);
      buildPolyhedra(data.polyhedra, content);
      if (model.get("show_cell")) buildCell(data.cell, content);
    }
    for (const [mode, button] of Object.entries(modeButtons)) {
      button.classList.toggle("mf-active", mode === model.get("mode"));
    }
    renderer.setClearColor(new THREE.Color(model.get("background") || "#ffffff"), 1);
    updateLegend();
    updateLabels();
    status.textContent = data ? `${model.get("title") || ""}` : "";
    if (refit) fitCamera();
    else draw();
  }

  function resize() {
    const [w, h] = size();
    renderer.setSize(w, h, false);
    const aspect = w / h;
    const half = (camera.top - camera.bottom) / 2;
    camera.left = -half * aspect;
    camera.right = half * aspect;
    camera.updateProjectionMatrix();
    draw();
  }

  // picking: a click (not a drag) on an atom writes `picked`; hovering shows the site.
  const raycaster = new THREE.Raycaster();
  const pointer = new THREE.Vector2();
  let down = null;
  function atomAt(event) {
    if (!atomsMesh) return -1;
    const rect = renderer.domElement.getBoundingClientRect();
    pointer.x = ((event.clientX - rect.left) / rect.width) * 2 - 1;
    pointer.y = -((event.clientY - rect.top) / rect.height) * 2 + 1;
    raycaster.setFromCamera(pointer, camera);
    const hits = raycaster.intersectObject(atomsMesh);
    return hits.length ? hits[0].instanceId : -1;
  }
  function describe(i) {
    const a = data.atoms;
    return `${a.labels[i]} (${a.elements[i]}, site ${a.sites[i]}, cell [${a.images[i].join(", ")}])`;
  }
  function onPointerDown(event) {
    down = [event.clientX, event.clientY];
  }
  function onPointerUp(event) {
    if (!down) return;
    const moved = Math.hypot(event.clientX - down[0], event.clientY - down[1]);
    down = null;
    if (moved > 4) return;
    const i = atomAt(event);
    if (i < 0) return;
    const a = data.atoms;
    const p = a.positions;
    highlight.position.set(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
    highlight.scale.setScalar(a.radii[i] * 1.35);
    highlight.visible = true;
    status.textContent = `Picked ${describe(i)}`;
    draw();
    model.set("picked", {
      index: i,
      site: a.sites[i],
      element: a.elements[i],
      label: a.labels[i],
      image: a.images[i],
      cartesian: [p[3 * i], p[3 * i + 1], p[3 * i + 2]],
    });
    model.save_changes();
  }
  function onPointerMove(event) {
    if (down) return;
    const i = atomAt(event);
    renderer.domElement.style.cursor = i >= 0 ? "pointer" : "grab";
    if (i >= 0) status.textContent = describe(i);
  }
  const canvas = renderer.domElement;
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointermove", onPointerMove);
  controls.addEventListener("change", draw);

  function onMessage(msg) {
    if (msg && msg.type === "snapshot") {
      draw();
      model.send({ type: "snapshot", id: msg.id, data: canvas.toDataURL("image/png") });
    } else if (msg && msg.type === "reset_view") {
      fitCamera();
    }
  }
  const onScene = () => rebuild(false);
  const onNewStructure = () => rebuild(true);
  const onLegend = () => updateLegend();
  const onLabels = () => { updateLabels(); draw(); };
  const listeners = [
    ["change:scene", onScene], ["change:title", onNewStructure], ["change:show_cell", onScene],
    ["change:background", onScene], ["change:show_legend", onLegend], ["change:show_labels", onLabels],
    ["msg:custom", onMessage],
  ];
  for (const [event, handler] of listeners) model.on(event, handler);

  const observer = new ResizeObserver(() => resize());
  observer.observe(root);
  const [w, h] = size();
  renderer.setSize(w, h, false);
  rebuild(true);

  // A small handle for tests and for other widgets: project atoms, count them, redraw.
  el.matfoldViewer = {
    atomCount: () => (data ? data.atoms.elements.length : 0),
    screenPosition: (i) => screenPosition(i),
    redraw: () => draw(),
  };
  root.dataset.ready = "true";

  return () => {
    observer.disconnect();
    for (const [event, handler] of listeners) model.off(event, handler);
    canvas.removeEventListener("pointerdown", onPointerDown);
    canvas.removeEventListener("pointerup", onPointerUp);
    canvas.removeEventListener("pointermove", onPointerMove);
    controls.dispose();
    disposeGroup(content);
    renderer.dispose();
    delete el.matfoldViewer;
    root.remove();
  };
}

export default { render };
