"""Fetching from RCSB / UniProt / AlphaFold DB: a real local HTTP server serves recorded responses
(and one constructed AlphaFold DB file: see tests/data/recorded/README.md).

The code path is the user's: the same URLs, only the base address comes from
MATFOLD_*_URL. Failures (404, 5xx then success, unreachable) are real server answers.
"""

from __future__ import annotations

import http.server
import threading
from functools import partial

import pytest

from matfold_kernel import MatfoldInputError
from matfold_kernel.protein import protein_info, read_protein
from matfold_kernel.protein.fetch import MatfoldNetworkError, fetch_alphafold, fetch_pdb, fetch_uniprot

from tests.support.paths import DATA

RECORDED = DATA / "recorded"
DATA = DATA / "proteins"


class _Handler(http.server.SimpleHTTPRequestHandler):
    flaky: dict = {}

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.flaky.get(self.path, 0) > 0:
            self.flaky[self.path] -= 1
            self.send_error(503, "try again")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(RECORDED)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("MATFOLD_RCSB_URL", base + "/rcsb")
    monkeypatch.setenv("MATFOLD_UNIPROT_URL", base + "/uniprot")
    monkeypatch.setenv("MATFOLD_ALPHAFOLD_URL", base + "/alphafold")
    monkeypatch.setenv("MATFOLD_CACHE_DIR", str(tmp_path / "cache"))
    httpd.cache = tmp_path / "cache"
    yield httpd
    httpd.shutdown()


def test_pdb_download_then_cache(server):
    path = fetch_pdb("1a8o")
    assert path.name == "1A8O.pdb"
    assert protein_info(read_protein(path)).chains[0].length == 70
    fetch_pdb("1A8O")
    assert server.requests == ["/rcsb/download/1A8O.pdb"]  # the second call was the cache


def test_uniprot_entry_parsed(server):
    entry = fetch_uniprot("P62258")
    assert (entry.accession, entry.entry_name, entry.protein_name) == ("P62258", "1433E_HUMAN", "14-3-3 protein epsilon")
    assert entry.organism == "Homo sapiens (Human)" and len(entry.sequence) == 255
    assert entry.sequence.startswith("MDDREDLVYQAKLAEQAERYDEMVESMKKVAGMDVELTVEERNLLSVAYKNVIGARRASWRIISSIEQKEENKGGEDKLKMIREYRQMVETELKLICCDILDVLDKHLIPAANTGESKVFYYKMKGDYHRYLAEFATGNDRKEAAENSLVAYKAASDIAMTELPPTHPIRLGLALNFSVFYYEILNSPDRACRLAKAAFDDAIAELDTLSEESYKDSTLIMQLLRDNLTLWTSDMQGDGEEQNKEALQDVEDENQ"[:40])


def test_alphafold_model_download_then_cache(server):
    """A successful AlphaFold DB fetch, pLDDT read from the B-factor column.

    The served file is CONSTRUCTED, not recorded (no real AlphaFold DB response is on
    disk): 1A8O's coordinates and B-factors under the AlphaFold file name; see
    tests/data/recorded/README.md.
    """
    import numpy as np

    path = fetch_alphafold("P04591")
    assert path.name == "AF-P04591-F1-model_v4.pdb"
    assert path.is_relative_to(server.cache) and not list(path.parent.glob("*.part"))
    model, source = read_protein(path), read_protein(DATA / "1A8O.pdb")
    source = source[source.res_name != "HOH"]
    assert protein_info(model).chains == protein_info(source).chains  # chain A, 70 residues
    assert np.array_equal(model.b_factor, source.b_factor)  # the "pLDDT" column came through intact
    assert model.b_factor.min() > 0 and model.b_factor.std() > 1
    assert fetch_alphafold("P04591") == path  # from the cache
    assert server.requests == ["/alphafold/files/AF-P04591-F1-model_v4.pdb"]
    with pytest.raises(MatfoldInputError, match="alphafold has no entry 'AF-P04591-F1-model_v3'"):
        fetch_alphafold("P04591", version=3)


def test_retry_on_5xx(server):
    _Handler.flaky = {"/uniprot/uniprotkb/Q13639.txt": 2}
    assert fetch_uniprot("Q13639", retries=2).accession == "Q13639"
    assert server.requests.count("/uniprot/uniprotkb/Q13639.txt") == 3


@pytest.mark.parametrize("call, fragment", [
    (lambda: fetch_pdb("9ZZZ"), "rcsb has no entry '9ZZZ' (HTTP 404"),
    (lambda: fetch_pdb("hello"), "'hello' is not a PDB id"),
    (lambda: fetch_uniprot("NOTANID"), "'NOTANID' is not a UniProt accession"),
    (lambda: fetch_alphafold("P62258"), "alphafold has no entry 'AF-P62258-F1-model_v4'"),
])
def test_clear_errors(server, call, fragment):
    with pytest.raises(MatfoldInputError, match=fragment.replace("(", r"\(")):
        call()


def test_offline_uses_cache_or_says_what_to_do(server, monkeypatch):
    cached = fetch_pdb("1A8O")
    monkeypatch.setenv("MATFOLD_RCSB_URL", "http://127.0.0.1:9")  # nothing listens: connection refused
    assert fetch_pdb("1A8O", refresh=True, retries=0) == cached  # the cached copy still serves
    with pytest.raises(MatfoldNetworkError, match="cannot reach rcsb .* to work offline"):
        fetch_pdb("1UYD", retries=0)
