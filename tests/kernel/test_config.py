"""The library's one configuration (matfold_kernel.config): folders, backend, device, the table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from matfold_kernel import config
from matfold_kernel.errors import MatfoldInputError
from tests.support.paths import ROOT

KERNEL = ROOT / "matfold_kernel"
VARIABLES = ("MATFOLD_DATA_DIR", "MATFOLD_CACHE_DIR", "MATFOLD_MODEL_DIR", "XDG_DATA_HOME", "XDG_CACHE_HOME",
             "MATFOLD_PREDICT_BACKEND", "MATFOLD_DEVICE")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: no matfold or XDG variables, HOME in tmp_path."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def _folders():
    """Every folder the library places, as its users see them."""
    from matfold_kernel.properties.weights import model_dir
    from matfold_kernel.protein.esmfold import _cache_dir
    from matfold_kernel.protein.fetch import _cache_root

    return {"data": config.data_dir(), "cache": config.cache_dir(), "models": model_dir(),
            "downloads": _cache_root(), "folds": _cache_dir(None)}


def test_defaults_follow_the_home_folder(env, tmp_path):
    home = tmp_path / "home"
    assert _folders() == {"data": home / ".local/share/matfold", "cache": home / ".cache/matfold",
                          "models": home / ".cache/matfold/models", "downloads": home / ".cache/matfold/downloads",
                          "folds": home / ".cache/matfold/folds"}


def test_xdg_folders_are_honoured(env, tmp_path):
    env.setenv("XDG_DATA_HOME", str(tmp_path / "xdata"))
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xcache"))
    cache = tmp_path / "xcache" / "matfold"
    # downloads and folds followed ~/.cache before issue 27; now all the cache follows XDG
    assert _folders() == {"data": tmp_path / "xdata" / "matfold", "cache": cache, "models": cache / "models",
                          "downloads": cache / "downloads", "folds": cache / "folds"}


def test_a_relative_xdg_folder_is_ignored(env, tmp_path):
    env.setenv("XDG_DATA_HOME", "relative/data")
    env.setenv("XDG_CACHE_HOME", "relative/cache")
    assert config.data_dir() == tmp_path / "home" / ".local/share/matfold"
    assert config.cache_dir() == tmp_path / "home" / ".cache/matfold"


def test_matfold_variables_win(env, tmp_path):
    env.setenv("XDG_DATA_HOME", str(tmp_path / "xdata"))
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xcache"))
    env.setenv("MATFOLD_DATA_DIR", str(tmp_path / "d"))
    env.setenv("MATFOLD_CACHE_DIR", str(tmp_path / "c"))
    folders = _folders()
    assert folders["data"] == tmp_path / "d" and folders["cache"] == tmp_path / "c"
    assert folders["downloads"] == tmp_path / "c" / "downloads" and folders["folds"] == tmp_path / "c" / "folds"
    assert folders["models"] == tmp_path / "c" / "models"
    env.setenv("MATFOLD_MODEL_DIR", "~/weights")  # expanded
    assert _folders()["models"] == tmp_path / "home" / "weights"


def test_backend_setting(env):
    from matfold_kernel.properties.predict import _select_backend

    assert config.predict_backend() == "torch" and _select_backend("auto") == "torch"
    env.setenv("MATFOLD_PREDICT_BACKEND", "ONNX")
    assert _select_backend("auto") == "onnx" and _select_backend("torch") == "torch"
    env.setenv("MATFOLD_PREDICT_BACKEND", "tensorflow")
    with pytest.raises(MatfoldInputError, match="MATFOLD_PREDICT_BACKEND='tensorflow'; use 'torch' or 'onnx'"):
        _select_backend("auto")


def test_device_setting(env):
    assert config.device("cpu") == "cpu" and config.device("cuda:1") == "cuda:1"
    env.setenv("MATFOLD_DEVICE", "cpu")
    assert config.device() == "cpu" and config.device("cuda") == "cuda"  # asked for wins
    for bad in ("gpu", "cuda:x", "tpu"):
        env.setenv("MATFOLD_DEVICE", bad)
        with pytest.raises(MatfoldInputError, match=f"device '{re.escape(bad)}'; use 'auto', 'cpu'"):
            config.device()
    torch = pytest.importorskip("torch")
    assert config.device(torch.device("cpu")) == "cpu"
    env.setenv("MATFOLD_DEVICE", "auto")
    assert config.device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_the_loaders_use_the_device_setting(env):
    pytest.importorskip("torch")
    from matfold_kernel.properties.models import load_composition_model

    env.setenv("MATFOLD_DEVICE", "cpu")
    assert str(load_composition_model("mp_bulk_modulus").device) == "cpu"
    env.setenv("MATFOLD_DEVICE", "gpu")
    with pytest.raises(MatfoldInputError, match="device 'gpu'"):
        load_composition_model("mp_bulk_modulus")


#: MATFOLD_ variables the library only sets for a process it starts (not settings it reads):
#: the laptop store hands its service a one-off token (issue 27, the store's part)
SET_FOR_CHILDREN: set[str] = {"MATFOLD_SERVICE_LOCAL_TOKEN"}


def _matfold_variables_in_source() -> set[str]:
    return {name for path in KERNEL.rglob("*.py")
            for name in re.findall(r"MATFOLD_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))}


def test_the_table_lists_every_matfold_variable_the_library_reads():
    variables = {s.variable for s in config.SETTINGS}
    found = _matfold_variables_in_source() - SET_FOR_CHILDREN
    assert {"MATFOLD_MODEL_DIR", "MATFOLD_CACHE_DIR", "MATFOLD_DEBUG"} <= found  # the scan sees them
    assert found <= variables, f"MATFOLD_ variables missing from config.SETTINGS: {sorted(found - variables)}"
    table = config.settings_table()
    assert all(f"`{v}`" in table for v in variables)


def _environment_reads(path: Path) -> list[tuple[int, str]]:
    """(line, variable) for each `os.environ[...]`, `os.environ.get(...)`, `os.getenv(...)` of a constant."""
    reads = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key = None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            key = node.slice
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv") and node.args:
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            reads.append((node.lineno, key.value))
    return reads


def test_only_config_reads_matfold_settings_from_the_environment(tmp_path):
    # store/ and service_client.py are being rebuilt (issue 27, the store's part): not checked here yet
    offenders = [f"{path.relative_to(ROOT)}:{line} reads {name}"
                 for path in sorted(KERNEL.rglob("*.py"))
                 if path.name not in ("config.py", "service_client.py") and "store" not in path.relative_to(KERNEL).parts
                 for line, name in _environment_reads(path)
                 if name.startswith("MATFOLD_") or name in ("XDG_CACHE_HOME", "XDG_DATA_HOME")]
    assert offenders == []
    # the scanner itself sees such reads
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nos.environ.get('MATFOLD_X')\nos.environ['MATFOLD_Y']\nos.getenv('HOME')\n")
    assert _environment_reads(probe) == [(2, "MATFOLD_X"), (3, "MATFOLD_Y"), (4, "HOME")]
