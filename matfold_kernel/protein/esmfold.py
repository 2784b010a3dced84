"""Structure prediction with ESMFold (Hugging Face ``transformers``; no openfold needed).

Weights come from a local directory (``model=``, or ``MATFOLD_ESMFOLD_MODEL``) or
the user's Hugging Face cache (``facebook/esmfold_v1``); matfold never downloads
them itself. CUDA is used when present, with the ESM-2 language model in fp16.
Results are cached by sequence (and model) under ``~/.cache/matfold/folds``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import config
from ..errors import MatfoldDependencyError, MatfoldInputError
from .sequence import validate_sequence
from .structure import read_protein

__all__ = ["FoldResult", "load_esmfold", "fold", "LINKER", "HUB_MODEL_ID"]

HUB_MODEL_ID = "facebook/esmfold_v1"
#: Glycine linker joining the chains of a multimer (removed from the output).
LINKER = "G" * 25
_CHAIN_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class FoldResult:
    """A predicted structure.

    Attributes
    ----------
    sequence : str
        Chains joined by ``:`` for a multimer.
    pdb : str
        PDB text; B-factors hold each residue's Cα pLDDT (0-100).
    plddt : ndarray, shape=(n_residues,)
        Per-residue confidence, 0-100 (Cα).
    pae : ndarray, shape=(n_residues, n_residues)
        Predicted aligned error, Å.
    ptm : float
        Predicted TM-score, 0-1.
    chains : list of str
        Chain id of each residue.
    """

    sequence: str
    pdb: str = field(repr=False)
    plddt: np.ndarray = field(repr=False)
    pae: np.ndarray = field(repr=False)
    ptm: float = 0.0
    chains: list = field(default_factory=list, repr=False)

    @property
    def mean_plddt(self) -> float:
        return float(np.mean(self.plddt))

    @property
    def atoms(self):
        """The structure as a biotite ``AtomArray`` (B-factors = pLDDT)."""
        return read_protein(self.pdb, "pdb", name="<fold>")

    def save(self, path) -> Path:
        """Write ``.pdb`` or ``.cif`` (mmCIF), pLDDT in the B-factor column."""
        path = Path(path)
        if path.suffix.lower() in (".cif", ".mmcif"):
            from biotite.structure.io.pdbx import CIFFile, set_structure

            cif = CIFFile()
            set_structure(cif, self.atoms)
            cif.write(str(path))
        else:
            path.write_text(self.pdb)
        return path


def _device(device=None):
    import torch

    return torch.device(config.device(device))


def load_esmfold(model=None, *, device=None, chunk_size: int | None = None):
    """Load ESMFold from a folder or the Hugging Face cache, on CUDA when present.

    Parameters
    ----------
    model : str or Path, optional
        A folder saved by ``save_pretrained`` (config.json + weights). Default:
        ``$MATFOLD_ESMFOLD_MODEL``, else ``facebook/esmfold_v1`` from the local cache.
    device : str, optional
        ``"cuda"``, ``"cpu"``...; default CUDA when available.
    chunk_size : int, optional
        Axial-attention chunk size of the trunk (lower uses less memory on long
        sequences, e.g. 64).
    """
    try:
        from transformers import EsmForProteinFolding
    except ImportError:
        raise MatfoldDependencyError("folding needs 'transformers' and torch: pip install 'matfold[ml]'") from None
    source = model or config.get("esmfold_model")
    try:
        if source:
            if not Path(source).is_dir() or not (Path(source) / "config.json").is_file():
                raise MatfoldInputError("is not an ESMFold model folder (no config.json); give the folder "
                                        "save_pretrained() wrote", str(source))
            esm = EsmForProteinFolding.from_pretrained(str(source))
        else:
            esm = EsmForProteinFolding.from_pretrained(HUB_MODEL_ID, local_files_only=True)
    except (OSError, EnvironmentError):
        raise MatfoldDependencyError(
            f"no ESMFold weights found: {HUB_MODEL_ID} is not in the Hugging Face cache. On a machine "
            f"that reaches the model hub run `hf download {HUB_MODEL_ID}`, or pass --model DIR "
            "(or MATFOLD_ESMFOLD_MODEL) pointing at a saved model folder") from None
    if not getattr(esm.config, "is_folding_model", False):
        raise MatfoldInputError("holds an ESM model that is not ESMFold (is_folding_model is false)", str(source))
    dev = _device(device)
    esm = esm.to(dev).eval()
    if dev.type == "cuda":
        esm.esm = esm.esm.half()  # the language model in fp16, the folding trunk in fp32
    if chunk_size:
        esm.trunk.set_chunk_size(int(chunk_size))
    esm.matfold_id = str(source or HUB_MODEL_ID)
    return esm


def _cache_key(sequence: str, model_id: str) -> str:
    return hashlib.sha256(f"{model_id}\n{sequence}".encode()).hexdigest()


def _cache_dir(cache_dir) -> Path | None:
    if cache_dir is False:
        return None
    if cache_dir is None:
        cache_dir = config.cache_dir() / "folds"
    return Path(cache_dir)


def _split_chains(sequence: str, name: str) -> list[str]:
    chains = [validate_sequence(part, name) for part in sequence.split(":")]
    if len(chains) > len(_CHAIN_IDS):
        raise MatfoldInputError(f"{len(chains)} chains; at most {len(_CHAIN_IDS)} are supported", name)
    return chains


def _predict(esm, chains: list[str]) -> FoldResult:
    import torch
    from biotite.structure.io.pdb import PDBFile

    joined = LINKER.join(chains)
    with torch.no_grad():
        out = esm.infer([joined])
    pdb_text = esm.output_to_pdb(out)[0]
    plddt_atoms = out["plddt"][0].float().cpu().numpy()  # (L, 37)
    plddt = plddt_atoms[:, 1]  # Cα
    if plddt.max() <= 1.0:
        plddt = plddt * 100.0
    pae = out["predicted_aligned_error"][0].float().cpu().numpy()
    ptm = float(out["ptm"].float().cpu())
    # keep only real residues (drop the linker), chain ids per input chain
    keep, chain_of = [], []
    position = 0
    for c, seq in enumerate(chains):
        keep.extend(range(position, position + len(seq)))
        chain_of.extend([_CHAIN_IDS[c]] * len(seq))
        position += len(seq) + len(LINKER)
    keep = np.array(keep)
    atoms = PDBFile.read(io.StringIO(pdb_text)).get_structure(model=1, extra_fields=["b_factor"])
    res_index = atoms.res_id - atoms.res_id.min()
    mask = np.isin(res_index, keep)
    atoms = atoms[mask]
    index_map = {old: new for new, old in enumerate(keep)}
    new_index = np.array([index_map[i] for i in res_index[mask]])
    atoms.chain_id = np.array([chain_of[i] for i in new_index])
    starts = np.cumsum([0] + [len(s) for s in chains])
    atoms.res_id = np.array([i - starts[_CHAIN_IDS.index(ch)] + 1 for i, ch in zip(new_index, atoms.chain_id)])
    atoms.b_factor = plddt[keep][new_index].round(2)
    buffer = io.StringIO()
    out_file = PDBFile()
    out_file.set_structure(atoms)
    out_file.write(buffer)
    return FoldResult(sequence=":".join(chains), pdb=buffer.getvalue(), plddt=plddt[keep].astype(float),
                      pae=pae[np.ix_(keep, keep)].astype(float), ptm=ptm, chains=chain_of)


def fold(sequences, model=None, *, chunk_size: int | None = None, cache_dir=None, device=None,
         progress: bool = False) -> list[FoldResult]:
    """Fold one or more sequences with ESMFold.

    Parameters
    ----------
    sequences : str or list of str
        One-letter sequences; ``"AAAA:BBBB"`` folds a two-chain complex (joined by
        a glycine linker that is removed from the output).
    model : str, Path or loaded model, optional
        See :func:`load_esmfold`.
    chunk_size : int, optional
        Trunk chunk size for long sequences.
    cache_dir : str, Path or False, optional
        Where results are cached by sequence (default ``~/.cache/matfold/folds``);
        ``False`` disables the cache.
    progress : bool
        Show a progress bar over the sequences.

    Returns
    -------
    list of FoldResult
    """
    if isinstance(sequences, str):
        sequences = [sequences]
    parsed = [_split_chains(seq, f"sequence {i + 1}") for i, seq in enumerate(sequences)]
    for chains in parsed:
        total = sum(map(len, chains)) + len(LINKER) * (len(chains) - 1)
        if total > 2048:
            raise MatfoldInputError(f"{total} residues (linkers included), over ESMFold's limit of 2048")
    esm = model if hasattr(model, "infer") else None
    model_id = getattr(esm, "matfold_id", None) or str(model or config.get("esmfold_model") or HUB_MODEL_ID)
    cache = _cache_dir(cache_dir)
    results = []
    iterator = parsed
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(parsed, desc="folding", unit="seq")
    for chains in iterator:
        key = _cache_key(":".join(chains), model_id)
        if cache is not None and (cache / f"{key}.json").is_file():
            data = json.loads((cache / f"{key}.json").read_text())
            arrays = np.load(cache / f"{key}.npz")
            results.append(FoldResult(data["sequence"], data["pdb"], arrays["plddt"], arrays["pae"], data["ptm"],
                                      data["chains"]))
            continue
        if esm is None:
            esm = load_esmfold(model, device=device, chunk_size=chunk_size)
        result = _predict(esm, chains)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache / f"{key}.npz", plddt=result.plddt, pae=result.pae)
            (cache / f"{key}.json").write_text(json.dumps({"sequence": result.sequence, "pdb": result.pdb,
                                                           "ptm": result.ptm, "chains": result.chains}))
        results.append(result)
    return results
