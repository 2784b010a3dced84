"""ONNX export of the structure models (dynamo exporter) and the onnxruntime backend.

Parity is measured, not assumed: the legacy exporter once turned index_add message
passing into wrong numbers without an error. Each check runs real structures of
different sizes batched together, with batch sizes (atoms, edges, crystals) different
from those the model was exported with, so dynamic shapes are exercised too.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
torch.set_num_threads(1)

from .test_cgcnn import cgcnn_weights, prototypes, sparse_box, spg229_structures  # noqa: F401

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(cgcnn_weights, tmp_path_factory):  # noqa: F811
    """Formation energy through load_cgcnn(backend="onnx") (exports into the cache); band gap by hand."""
    from matfold_kernel.properties.cgcnn import load_cgcnn

    out = tmp_path_factory.mktemp("onnx")
    fe_onnx = load_cgcnn("formation_energy", backend="onnx", threads=1)
    fe_torch = load_cgcnn("formation_energy")
    gap_torch = load_cgcnn("band_gap")
    gap_path = gap_torch.export_onnx(out / "band-gap.onnx")
    return {"fe_onnx": fe_onnx, "fe_torch": fe_torch, "gap_torch": gap_torch, "gap_path": gap_path}


@pytest.fixture(scope="module")
def structures():
    crystals = prototypes()
    # 1 to 140 sites; the Xe box has padded edges, spg229 entries are real COD crystals.
    picked = spg229_structures([0, 10, 50, 100, 200, 228])
    return [crystals["LiFePO4"], sparse_box(), crystals["NaCl"], *picked, crystals["BaTiO3"], crystals["GaN"],
            crystals["Cu"]]


def _batch(model, structures):
    from matfold_kernel.properties.graphs import collate

    graphs, _ = model.graphs(structures)
    return collate(graphs)


def test_cgcnn_onnx_matches_pytorch_on_batched_real_structures(exported, structures):
    from matfold_kernel.properties.onnx_export import OnnxRunner

    fe_onnx, fe_torch = exported["fe_onnx"], exported["fe_torch"]
    assert type(fe_onnx.backend).__name__ == "OnnxRunner"
    assert fe_onnx.backend.path == fe_onnx.onnx_path() and fe_onnx.onnx_path().is_file()
    sizes = sorted(len(s) for s in structures)
    assert sizes[0] == 1 and sizes[-1] > 100 and len(set(sizes)) >= 6

    # Formation energy: the whole property-model path (graphs, batching, units).
    torch_fe = fe_torch.predict_batch(structures).mean
    onnx_fe = fe_onnx.predict_batch(structures).mean
    print("formation energy torch", np.round(torch_fe, 5), "\n                 onnx ", np.round(onnx_fe, 5))
    assert np.isfinite(onnx_fe).all()
    np.testing.assert_allclose(onnx_fe, torch_fe, atol=TOLERANCE, rtol=0)

    # Band gap: the raw runner on one batch, then on sub-batches of other sizes.
    runner = OnnxRunner(exported["gap_path"], threads=1)
    gap_torch = exported["gap_torch"]
    batch = _batch(gap_torch, structures)
    assert batch.num_graphs == len(structures) and batch.edge_index.shape[1] > 1000
    expected = gap_torch.backend(batch)
    got = runner(batch)
    assert got.shape == (len(structures),)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)
    for part in (structures[:1], structures[1:2], structures[2:5], structures[::-1]):
        sub = _batch(gap_torch, part)
        np.testing.assert_allclose(runner(sub), gap_torch.backend(sub), atol=TOLERANCE, rtol=0)


def test_parity_check_can_fail(exported, structures):
    """The parity check notices a wrong model: the same batch through another network differs."""
    from matfold_kernel.properties.onnx_export import OnnxRunner

    runner = OnnxRunner(exported["gap_path"], threads=1)
    batch = _batch(exported["fe_torch"], structures[:4])
    assert np.abs(runner(batch) - exported["fe_torch"].backend(batch)).max() > 100 * TOLERANCE


def test_onnx_file_is_self_contained_with_dynamic_inputs(exported):
    import onnx

    from matfold_kernel.properties.graphs import GraphBatch

    path = exported["gap_path"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["band-gap.onnx"]  # no external data file
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == list(GraphBatch.NAMES)

    def dims(name):
        return [d.dim_param or d.dim_value for d in inputs[name].type.tensor_type.shape.dim]

    atoms, edges, crystals = dims("atomic_numbers")[0], dims("distances")[0], dims("num_atoms")[0]
    assert all(isinstance(d, str) for d in (atoms, edges, crystals)) and len({atoms, edges, crystals}) == 3
    assert dims("edge_index") == [2, edges] and dims("batch") == [atoms]


def test_provider_choice(monkeypatch, exported):
    from matfold_kernel.errors import MatfoldInputError
    from matfold_kernel.properties import onnx_export
    from matfold_kernel.properties.onnx_export import OnnxRunner, default_providers

    runner = OnnxRunner(exported["gap_path"], threads=1)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert default_providers()[0] == "CUDAExecutionProvider"
    else:
        assert default_providers() == ["CPUExecutionProvider"]
        assert runner.providers == ["CPUExecutionProvider"]
    monkeypatch.setattr(onnx_export._ort(), "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert default_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(MatfoldInputError, match="needs inputs"):
        runner.run({"atomic_numbers": np.array([14])})
    with pytest.raises(MatfoldInputError, match="does not exist"):
        OnnxRunner(exported["gap_path"].with_name("missing.onnx"))
