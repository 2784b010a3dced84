"""Fetching structures and sequences: RCSB PDB, UniProt, AlphaFold DB, with a local cache.

Every download lands in ``$MATFOLD_CACHE_DIR/downloads`` (default
``~/.cache/matfold/downloads``) and is served from there afterwards, so a notebook
that ran once runs offline. Base addresses can be changed with
``MATFOLD_RCSB_URL``, ``MATFOLD_UNIPROT_URL`` and ``MATFOLD_ALPHAFOLD_URL`` (mirrors,
tests).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import MatfoldError, MatfoldInputError

__all__ = ["MatfoldNetworkError", "UniProtEntry", "fetch_pdb", "fetch_uniprot", "fetch_alphafold",
           "parse_uniprot_text"]

_PDB_ID = re.compile(r"^[0-9][A-Za-z0-9]{3}$")
_UNIPROT = re.compile(r"^([OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9]([A-Z][A-Z0-9]{2}[0-9]){1,2})$")


class MatfoldNetworkError(MatfoldError):
    """A database could not be reached and nothing was cached."""


def _cache_root() -> Path:
    return config.cache_dir() / "downloads"


def _download(source: str, path: str, filename: str, *, timeout: float, retries: int, refresh: bool) -> Path:
    base = config.source_url(source)
    target = _cache_root() / source / filename
    if target.is_file() and not refresh:
        return target
    url = f"{base}/{path.lstrip('/')}"
    last = None
    for attempt in range(retries + 1):
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "matfold"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(body)
            tmp.replace(target)  # never a half-written file in the cache
            return target
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise MatfoldInputError(f"{source} has no entry {filename.split('.')[0]!r} (HTTP 404 from {url})") from None
            last = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < retries:
            time.sleep(0.5 * 2**attempt)
    if target.is_file():
        return target  # refresh failed: the cached copy still serves
    raise MatfoldNetworkError(f"cannot reach {source} at {base} ({last}); check the network, or put the file "
                              f"at {target} to work offline")


def fetch_pdb(pdb_id: str, format: str = "pdb", *, timeout: float = 30, retries: int = 2,
              refresh: bool = False) -> Path:
    """Download (or take from the cache) an RCSB PDB entry; returns the local path.

    Parameters
    ----------
    pdb_id : str
        Four characters, e.g. ``"1UYD"``.
    format : {"pdb", "cif"}
    """
    if not _PDB_ID.match(str(pdb_id)):
        raise MatfoldInputError(f"{pdb_id!r} is not a PDB id (four characters, a digit first, e.g. 1UYD)")
    if format not in ("pdb", "cif"):
        raise MatfoldInputError(f"format {format!r}: use 'pdb' or 'cif'")
    name = f"{pdb_id.upper()}.{format}"
    return _download("rcsb", f"download/{name}", name, timeout=timeout, retries=retries, refresh=refresh)


def fetch_alphafold(accession: str, version: int = 4, *, timeout: float = 30, retries: int = 2,
                    refresh: bool = False) -> Path:
    """Download the AlphaFold DB model of a UniProt accession (pLDDT in the B-factors)."""
    if not _UNIPROT.match(str(accession)):
        raise MatfoldInputError(f"{accession!r} is not a UniProt accession (e.g. P62258)")
    name = f"AF-{accession}-F1-model_v{int(version)}.pdb"
    return _download("alphafold", f"files/{name}", name, timeout=timeout, retries=retries, refresh=refresh)


@dataclass(frozen=True)
class UniProtEntry:
    accession: str
    entry_name: str
    protein_name: str
    organism: str
    sequence: str


def parse_uniprot_text(text: str) -> UniProtEntry:
    """Accession, names, organism and sequence from a UniProt flat-file record."""
    lines = text.split("\n")

    def field(tag):
        return [line[5:].strip() for line in lines if line.startswith(tag + "   ")]

    ids, acs = field("ID"), field("AC")
    if not ids or not acs:
        raise MatfoldInputError("is not a UniProt flat-file record (no ID/AC lines)", "<uniprot>")
    names = " ".join(field("DE"))
    match = re.search(r"RecName: Full=([^;{]+)", names) or re.search(r"SubName: Full=([^;{]+)", names)
    seq_start = next((i for i, line in enumerate(lines) if line.startswith("SQ   ")), None)
    if seq_start is None:
        raise MatfoldInputError("has no sequence (SQ block)", "<uniprot>")
    sequence = "".join("".join(line.split()) for line in lines[seq_start + 1:] if line.startswith("     "))
    return UniProtEntry(accession=acs[0].split(";")[0].strip(), entry_name=ids[0].split()[0],
                        protein_name=match.group(1).strip() if match else "",
                        organism=" ".join(field("OS")).rstrip("."), sequence=sequence)


def fetch_uniprot(accession: str, *, timeout: float = 30, retries: int = 2, refresh: bool = False) -> UniProtEntry:
    """Download (or take from the cache) a UniProt entry and parse it."""
    if not _UNIPROT.match(str(accession)):
        raise MatfoldInputError(f"{accession!r} is not a UniProt accession (e.g. P62258)")
    path = _download("uniprot", f"uniprotkb/{accession}.txt", f"{accession}.txt", timeout=timeout,
                     retries=retries, refresh=refresh)
    return parse_uniprot_text(path.read_text(encoding="utf-8"))
