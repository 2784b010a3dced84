"""CGCNN on PyTorch Geometric with the published weights (../shared/models/cgcnn).

Checked three ways: the checkpoints load key for key; the port matches a transcription
of the original dense implementation (txie-93/cgcnn ``model.py``/``data.py``) to 1e-5;
and predictions on real crystals agree with Materials Project values at the level of
the paper's errors (formation energy MAE 0.039 eV/atom, band gap 0.388 eV, moduli
0.054/0.087 log10 GPa).

Reference values:
- formation energy: Matbench v0.1 ``mp_e_form`` (MP, 2018), ``../shared/data/materials/
  composition/matbench_mp_e_form``, the lowest entry with the cell formula of the
  structure built here (the ground-state prototype); elemental ground states are 0.
- band gap: PBE gaps by MP id from megnet's multi-fidelity set (``structures/megnet/
  bandgap_multifidelity_no_structs.json.gz``); SrTiO3 from Matbench ``mp_gap``.
- moduli: ``composition/mp_bulk_modulus`` and ``mp_shear_modulus`` (MP elastic data, GPa).
Prototype structures use PBE-relaxed lattice constants (MP's functional); BaTiO3 and
LiFePO4 are MP's own computed CIFs.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")
torch.set_num_threads(1)

from matfold_kernel.errors import MatfoldDependencyError, MatfoldInputError

from tests.support.paths import STRUCTURES

MEGNET = STRUCTURES  # BaTiO3_mp-2998_computed.cif, LiFePO4_mp-19017_computed.cif (megnet test CIFs)


@pytest.fixture(scope="module")
def cgcnn_weights(published_weights):
    """The seeded model cache (see conftest.published_weights)."""
    return published_weights


@pytest.fixture(scope="module")
def models(cgcnn_weights):
    from matfold_kernel.properties.cgcnn import load_cgcnn

    return {p: load_cgcnn(p) for p in ("formation_energy", "band_gap", "bulk_modulus", "shear_modulus")}


# --------------------------------------------------------------------------- structures

def prototypes() -> dict:
    """Real crystals: ground-state prototypes at PBE lattice constants (Å), plus two MP CIFs."""
    from pymatgen.core import Lattice, Structure

    from matfold_kernel.crystal import read_structure

    fcc = 0.5 * (1 - np.eye(3))  # primitive vectors in units of the cubic a

    def rocksalt(a, b, x):
        return Structure(Lattice(x * fcc), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])

    def zincblende(a, b, x):
        return Structure(Lattice(x * fcc), [a, b], [[0, 0, 0], [0.25, 0.25, 0.25]])

    def wurtzite(a, b, x, c, u):
        return Structure(Lattice.hexagonal(x, c), [a, a, b, b],
                         [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]])

    def element(symbol, x, bcc=False):
        vectors = 0.5 * (np.ones((3, 3)) - 2 * np.eye(3)) if bcc else fcc
        return Structure(Lattice(x * vectors), [symbol], [[0, 0, 0]])

    cubic = Lattice.cubic
    return {
        "NaCl": rocksalt("Na", "Cl", 5.69), "LiF": rocksalt("Li", "F", 4.07),
        "KCl": rocksalt("K", "Cl", 6.38), "CaO": rocksalt("Ca", "O", 4.83), "MgO": rocksalt("Mg", "O", 4.25),
        "CsCl": Structure(cubic(4.20), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        "SrTiO3": Structure(cubic(3.94), ["Sr", "Ti", "O", "O", "O"],
                            [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]),
        "Li2O": Structure(Lattice(4.63 * fcc), ["O", "Li", "Li"], [[0, 0, 0], [0.25] * 3, [0.75] * 3]),
        "Si": zincblende("Si", "Si", 5.47), "C": zincblende("C", "C", 3.57), "Ge": zincblende("Ge", "Ge", 5.76),
        "GaAs": zincblende("Ga", "As", 5.75), "CdTe": zincblende("Cd", "Te", 6.63),
        "GaP": zincblende("Ga", "P", 5.51), "AlP": zincblende("Al", "P", 5.51),
        "InP": zincblende("In", "P", 5.96), "SiC": zincblende("Si", "C", 4.38), "ZnS": zincblende("Zn", "S", 5.45),
        "GaN": wurtzite("Ga", "N", 3.22, 5.24, 0.377), "ZnO": wurtzite("Zn", "O", 3.29, 5.30, 0.38),
        "Cu": element("Cu", 3.63), "Al": element("Al", 4.04), "Ni": element("Ni", 3.52),
        "Fe": element("Fe", 2.83, bcc=True),
        "BaTiO3": read_structure(MEGNET / "BaTiO3_mp-2998_computed.cif"),
        "LiFePO4": read_structure(MEGNET / "LiFePO4_mp-19017_computed.cif"),
    }


def spg229_structures(indices) -> list:
    """Real COD structures (jarvis-tools, one per space group) by index."""
    from pymatgen.core import Lattice, Structure

    with gzip.open(STRUCTURES / "spg229.json.gz", "rt") as fh:
        entries = json.load(fh)
    out = []
    for i in indices:
        atoms = entries[i]["atoms"]
        out.append(Structure(Lattice(atoms["lattice_mat"]), atoms["elements"], atoms["coords"],
                             coords_are_cartesian=atoms["cartesian"]))
    return out


def sparse_box():
    """One Xe atom in a 7 Å cube: 6 neighbours within 8 Å, so CGCNN's padding is used."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(7.0), ["Xe"], [[0, 0, 0]])


# Matbench mp_e_form (MP 2018): lowest entry with this cell formula; elements 0 by definition.
FORMATION_ENERGY = {
    "NaCl": -2.1049, "LiF": -3.1809, "KCl": -2.2486, "CaO": -3.3117, "CsCl": -2.2453, "SrTiO3": -3.5684,
    "BaTiO3": -3.4927,  # Ba1O3Ti1 entries -3.493 ... -3.507 (cubic to rhombohedral)
    "LiFePO4": -2.5509, "AlP": -0.6103, "ZnS": -1.1403, "GaP": -0.4061, "InP": -0.2098, "SiC": -0.2042,
    "CdTe": -0.4625, "GaN": -0.6626, "Si": 0.0, "Ge": 0.0, "Cu": 0.0, "Al": 0.0, "Ni": 0.0, "Fe": 0.0,
}
# PBE band gaps (eV) by MP id.
BAND_GAP = {
    "NaCl": ("mp-22862", 5.0033), "LiF": ("mp-1138", 8.7161), "KCl": ("mp-23193", 5.027),
    "CaO": ("mp-2605", 3.6344), "MgO": ("mp-1265", 4.4449), "Li2O": ("mp-1960", 4.8986),
    "SrTiO3": ("mp-5229", 1.7673), "BaTiO3": ("mp-2998", 1.667), "LiFePO4": ("mp-19017", 3.9224),
    "Si": ("mp-149", 0.6119), "C": ("mp-66", 4.1128), "GaAs": ("mp-2534", 0.1887), "CdTe": ("mp-406", 0.5846),
    "GaP": ("mp-2490", 1.5928), "AlP": ("mp-1550", 1.6302), "InP": ("mp-20351", 0.4679),
    "SiC": ("mp-8062", 1.3704), "ZnS": ("mp-10695", 2.0186), "GaN": ("mp-804", 1.7433), "ZnO": ("mp-2133", 0.7309),
}
# MP elastic data (GPa), Voigt-Reuss-Hill averages.
BULK = {"NaCl": 22.59, "LiF": 69.88, "KCl": 15.83, "CaO": 105.0, "MgO": 151.0, "GaN": 171.7,
        "SrTiO3": 168.5, "ZnS": 68.25, "GaAs": 60.74, "LiFePO4": 90.86}
SHEAR = {"NaCl": 14.27, "LiF": 50.94, "KCl": 9.24, "CaO": 74.0, "GaN": 105.5, "SrTiO3": 102.3,
         "ZnS": 33.16, "LiFePO4": 48.05}


@pytest.fixture(scope="module")
def crystals():
    return prototypes()


def _table(title, names, pred, ref, unit):
    lines = [f"{title}:"] + [f"  {n:8s} predicted {p:9.3f}  reference {r:9.3f}  {unit}" for n, p, r in zip(names, pred, ref)]
    print("\n".join(lines))


# --------------------------------------------------------------------------- graphs

def test_graph_is_cgcnns_12_nearest_within_8_angstrom(crystals):
    from matfold_kernel.properties.cgcnn import cgcnn_graph
    from matfold_kernel.properties.graphs import (
        crystal_graph,
        gaussian_centers,
        gaussian_expansion,
    )

    nacl = crystals["NaCl"]  # 2 sites, a = 5.69 Å
    g, warnings = cgcnn_graph(nacl)
    assert warnings == []
    assert g.edge_index.shape == (2, 24) and g.distances.shape == (24,)
    for centre in (0, 1):
        d = g.distances[g.edge_index[1] == centre]
        assert np.all(np.diff(d) >= 0)
        np.testing.assert_allclose(d[:6], 5.69 / 2)  # 6 counter-ions at a/2
        np.testing.assert_allclose(d[6:], 5.69 / np.sqrt(2))  # then 6 of the 12 like ions at a/sqrt(2)
        src = g.edge_index[0][g.edge_index[1] == centre]
        assert set(src[:6]) == {1 - centre} and set(src[6:]) == {centre}
    # Images reproduce the distances (Å) from the lattice.
    cart = nacl.cart_coords
    vec = cart[g.edge_index[0]] + g.images @ nacl.lattice.matrix - cart[g.edge_index[1]]
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), g.distances, atol=1e-8)
    # Without truncation: all 2 x (6 + 12 + 8 + 6 + 24 + ...) neighbours within 8 Å.
    full = crystal_graph(nacl, cutoff=8.0, max_neighbors=None)
    assert full.num_edges == int(full.counts.sum()) and full.distances.max() < 8.0
    mu = gaussian_centers()
    assert mu.shape == (41,) and mu[0] == 0.0 and mu[-1] == pytest.approx(8.0)
    e = gaussian_expansion([0.0, 2.0], mu, 0.2)
    assert e.shape == (2, 41) and e[0, 0] == 1.0 and e[1, 10] == pytest.approx(1.0)
    assert e[1, 11] == pytest.approx(np.exp(-1.0))  # (0.2 Å / 0.2 Å)**2


def test_sparse_sites_are_padded_like_the_original():
    from matfold_kernel.properties.cgcnn import cgcnn_graph

    g, warnings = cgcnn_graph(sparse_box())
    assert g.num_edges == 12
    np.testing.assert_allclose(np.sort(g.distances), [7.0] * 6 + [9.0] * 6)
    assert "fewer than 12 neighbours" in warnings[0]


def test_disordered_and_unknown_inputs_are_refused(models, crystals):
    from pymatgen.core import Lattice, Structure

    from matfold_kernel.properties.cgcnn import load_cgcnn

    alloy = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.raises(MatfoldInputError, match="input 1: .*disordered"):
        models["formation_energy"].predict_batch([crystals["Cu"], alloy])
    with pytest.raises(MatfoldInputError, match="no CGCNN model for property 'debye_temperature'"):
        load_cgcnn("debye_temperature")
    with pytest.raises(MatfoldInputError, match="expected a pymatgen Structure"):
        models["band_gap"].predict_batch([42])


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    from matfold_kernel.properties.cgcnn import load_cgcnn

    monkeypatch.setenv("MATFOLD_MODEL_DIR", str(tmp_path))
    with pytest.raises(MatfoldDependencyError, match="band-gap.pth.tar.*missing.*Download https://"):
        load_cgcnn("band-gap", download=False)


# --------------------------------------------------------------------------- weights

@pytest.mark.parametrize("prop", ["formation_energy", "band_gap", "bulk_modulus", "shear_modulus"])
def test_checkpoints_load_key_for_key(models, cgcnn_weights, prop):
    model = models[prop]
    ckpt = torch.load(cgcnn_weights / model.spec.weights, map_location="cpu", weights_only=True)
    ours = {k: v for k, v in model.net.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(ours) == set(ckpt["state_dict"])
    for key, value in ckpt["state_dict"].items():
        assert torch.equal(ours[key], value), key
    assert float(model.net.target_mean) == pytest.approx(ckpt["normalizer"]["mean"])
    assert float(model.net.target_std) == pytest.approx(ckpt["normalizer"]["std"])


def test_model_cards(models):
    for prop, model in models.items():
        card = model.card
        assert card.licence == "MIT" and card.input == "structure" and card.property == prop
        assert "Materials Project" in card.training_data and "2017" in card.training_data
        assert "Phys. Rev. Lett. 120, 145301" in card.reference
    assert models["formation_energy"].card.unit == "eV/atom"
    assert models["band_gap"].card.unit == "eV"
    for prop in ("bulk_modulus", "shear_modulus"):
        card = models[prop].card
        assert card.unit == "GPa" and "log10" in card.notes and "GPa" in card.notes
    assert models["formation_energy"].card.val_mae == pytest.approx(0.0397, abs=1e-4)
    assert "non-metals" in models["band_gap"].card.notes


# --------------------------------------------------------------------------- the original, transcribed

def _original_inputs(structure, atom_init):
    """cgcnn/data.py CIFData.__getitem__ (radius 8, 12 neighbours, dmin 0, step 0.2)."""
    atom_fea = np.vstack([atom_init[str(structure[i].specie.number)] for i in range(len(structure))])
    all_nbrs = structure.get_all_neighbors(8, include_index=True)
    all_nbrs = [sorted(nbrs, key=lambda x: x[1]) for nbrs in all_nbrs]
    nbr_fea_idx, nbr_fea = [], []
    for nbr in all_nbrs:
        if len(nbr) < 12:
            nbr_fea_idx.append([x[2] for x in nbr] + [0] * (12 - len(nbr)))
            nbr_fea.append([x[1] for x in nbr] + [8 + 1.0] * (12 - len(nbr)))
        else:
            nbr_fea_idx.append([x[2] for x in nbr[:12]])
            nbr_fea.append([x[1] for x in nbr[:12]])
    filt = np.arange(0, 8 + 0.2, 0.2)
    nbr_fea = np.exp(-((np.array(nbr_fea)[..., np.newaxis] - filt) ** 2) / 0.2**2)
    return torch.Tensor(atom_fea), torch.Tensor(nbr_fea), torch.LongTensor(np.array(nbr_fea_idx))


def _original_forward(sd, atom_fea, nbr_fea, nbr_fea_idx, crystal_atom_idx, n_conv=4):
    """cgcnn/model.py CrystalGraphConvNet.forward in eval mode, with the checkpoint tensors."""
    F = torch.nn.functional

    def bn(x, p):
        return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], training=False, eps=1e-5)

    atom = F.linear(atom_fea, sd["embedding.weight"], sd["embedding.bias"])
    for k in range(n_conv):
        p = f"convs.{k}."
        N, M = nbr_fea_idx.shape
        total = torch.cat([atom.unsqueeze(1).expand(N, M, atom.shape[1]), atom[nbr_fea_idx, :], nbr_fea], dim=2)
        total = F.linear(total, sd[p + "fc_full.weight"], sd[p + "fc_full.bias"])
        total = bn(total.view(-1, 2 * atom.shape[1]), p + "bn1").view(N, M, -1)
        nbr_filter, nbr_core = total.chunk(2, dim=2)
        summed = torch.sum(torch.sigmoid(nbr_filter) * F.softplus(nbr_core), dim=1)
        atom = F.softplus(atom + bn(summed, p + "bn2"))
    crys = torch.cat([torch.mean(atom[idx], dim=0, keepdim=True) for idx in crystal_atom_idx], dim=0)
    crys = F.softplus(F.linear(F.softplus(crys), sd["conv_to_fc.weight"], sd["conv_to_fc.bias"]))
    return F.linear(crys, sd["fc_out.weight"], sd["fc_out.bias"]).squeeze(-1)


@pytest.mark.parametrize("prop", ["formation_energy", "band_gap"])
def test_port_matches_the_original_implementation(models, cgcnn_weights, crystals, prop):
    model = models[prop]
    ckpt = torch.load(cgcnn_weights / model.spec.weights, map_location="cpu", weights_only=True)
    atom_init = json.loads((cgcnn_weights / "cgcnn" / "atom_init.json").read_text())
    structures = [crystals["LiFePO4"], crystals["BaTiO3"], crystals["SrTiO3"], crystals["GaN"], crystals["C"], sparse_box(),
                  *spg229_structures([10, 100, 200])]
    parts = [_original_inputs(s, atom_init) for s in structures]
    base = np.cumsum([0] + [p[0].shape[0] for p in parts])
    crystal_atom_idx = [torch.arange(base[i], base[i + 1]) for i in range(len(parts))]
    with torch.no_grad():
        normed = _original_forward(
            ckpt["state_dict"], torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
            torch.cat([p[2] + int(b) for p, b in zip(parts, base[:-1])]), crystal_atom_idx,
        )
    original = normed.numpy() * ckpt["normalizer"]["std"] + ckpt["normalizer"]["mean"]
    ours = model.predict_raw(structures)
    print(prop, "original", np.round(original, 4), "port", np.round(ours, 4))
    np.testing.assert_allclose(ours, original, atol=1e-4, rtol=0)


# --------------------------------------------------------------------------- against Materials Project

def test_formation_energy_agrees_with_materials_project(models, crystals):
    names = list(FORMATION_ENERGY)
    pred = models["formation_energy"].predict_batch([crystals[n] for n in names]).mean
    ref = np.array([FORMATION_ENERGY[n] for n in names])
    _table("formation energy", names, pred, ref, "eV/atom")
    err = np.abs(pred - ref)
    # Paper MAE 0.039 eV/atom: mean within 2x, every structure within 4x.
    assert err.mean() < 0.08, f"MAE {err.mean():.3f} eV/atom"
    assert err.max() < 0.16, f"{names[int(err.argmax())]} off by {err.max():.3f} eV/atom"


def test_band_gap_agrees_with_materials_project(models, crystals):
    names = list(BAND_GAP)
    prediction = models["band_gap"].predict_batch([crystals[n] for n in names])
    pred = prediction.mean
    ref = np.array([BAND_GAP[n][1] for n in names])
    _table("band gap (PBE)", names, pred, ref, "eV")
    err = np.abs(pred - ref)
    assert np.all(pred >= 0)
    # Paper MAE 0.388 eV: mean within 1.5x; all but one structure within 3x. The one
    # allowed outlier is diamond (predicted ~2.0 eV against 4.11 eV), a known miss of
    # this published model, not of the port (the original gives the same number).
    assert err.mean() < 0.6, f"MAE {err.mean():.3f} eV"
    outliers = [n for n, e in zip(names, err) if e > 3 * 0.388]
    assert len(outliers) <= 1, f"off by more than 1.16 eV: {outliers}"


def test_moduli_are_returned_in_gpa_and_agree_with_materials_project(models, crystals):
    for prop, table, paper in (("bulk_modulus", BULK, 0.054), ("shear_modulus", SHEAR, 0.087)):
        model = models[prop]
        names = list(table)
        structures = [crystals[n] for n in names]
        pred = model.predict_batch(structures).mean
        np.testing.assert_allclose(np.log10(pred), model.predict_raw(structures), rtol=1e-12)
        ref = np.array([table[n] for n in names])
        _table(prop, names, pred, ref, "GPa")
        err = np.abs(np.log10(pred / ref))
        assert err.mean() < 2.5 * paper, f"{prop}: MAE {err.mean():.3f} log10 GPa"
        assert err.max() < 0.35, f"{prop}: {names[int(err.argmax())]} off by a factor {10 ** err.max():.2f}"


# --------------------------------------------------------------------------- batching

def test_batching_supercells_and_site_order_do_not_change_predictions(models, crystals):
    model = models["formation_energy"]
    lfp = crystals["LiFePO4"]
    shuffled = lfp.copy()
    order = np.random.default_rng(0).permutation(len(lfp))
    shuffled = type(lfp).from_sites([lfp[int(i)] for i in order])
    structures = [crystals["NaCl"], lfp, crystals["BaTiO3"], shuffled, lfp * (1, 2, 1)]
    together = model.predict_batch(structures).mean
    alone = np.array([model.predict(s) for s in structures])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together[[3, 4]], together[1], atol=1e-4)
    saved = model.batch_size, model.max_edges
    try:  # several forward passes: by structure count, then by edge count
        model.batch_size = 2
        np.testing.assert_allclose(model.predict_batch(structures).mean, together, atol=1e-5)
        model.batch_size, model.max_edges = 256, 400
        np.testing.assert_allclose(model.predict_batch(structures).mean, together, atol=1e-5)
    finally:
        model.batch_size, model.max_edges = saved
    assert model.predict_batch([]).mean.shape == (0,)
