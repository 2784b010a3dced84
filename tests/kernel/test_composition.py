"""Formulas and composition descriptors: parsing, refusals, fuzzing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from matfold_kernel import MatfoldInputError
from matfold_kernel.properties import ELEMENTS, fractions, parse_formula, reduced_formula
from matfold_kernel.properties.elements import ELEMENT_PROPERTIES, element_table
from matfold_kernel.properties.features import describe, feature_names


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("LiFePO4", {"Li": 1, "Fe": 1, "P": 1, "O": 4}),
        ("Ca3(PO4)2", {"Ca": 3, "P": 2, "O": 8}),
        ("Fe0.9Ni0.1", {"Fe": 0.9, "Ni": 0.1}),
        ("CuSO4·5H2O", {"Cu": 1, "S": 1, "O": 9, "H": 10}),
        ("NaN", {"Na": 1, "N": 1}),  # sodium nitride, not a missing value
        ("[Co(NH3)6]Cl3", {"Co": 1, "N": 6, "H": 18, "Cl": 3}),
        ("Li13Mg1Ni12O26", {"Li": 13, "Mg": 1, "Ni": 12, "O": 26}),
    ],
)
def test_parse_formula(formula, expected):
    got = parse_formula(formula)
    assert got.keys() == expected.keys()
    for sym, amount in expected.items():
        assert got[sym] == pytest.approx(amount)


@pytest.mark.parametrize(
    "formula, words",
    [
        ("", "empty formula"),
        ("Xx2", "unknown element 'Xx'"),
        ("Og", "beyond what the composition models were trained on"),
        ("CO(", "unbalanced '('"),
        ("Fe)2", "unbalanced ')'"),
        ("fe2o3", "capital first letter"),
        ("2", "follows no element"),
        ("Fe0O0", "no atoms"),
        ("Fe1e9", "out of range"),
    ],
)
def test_bad_formulas_say_what_is_wrong(formula, words):
    with pytest.raises(MatfoldInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_formula(formula)


def test_reduced_formula_and_fractions():
    assert reduced_formula("Fe4O6") == "Fe2O3"
    assert sum(fractions("LiFePO4").values()) == pytest.approx(1.0)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="HeLiOFNaClCuSb()[]0123456789.·* xyz-", max_size=24))
@example("((((((((((Fe))))))))))999999")
@example("Fe" + "(" * 50)
def test_fuzzed_formulas_raise_only_input_errors(text):
    try:
        comp = parse_formula(text)
    except MatfoldInputError:
        return
    assert comp and all(a > 0 and np.isfinite(a) for a in comp.values())
    assert set(comp) <= set(ELEMENTS)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(ELEMENTS), st.integers(1, 40), min_size=1, max_size=6))
def test_written_formulas_parse_back(comp):
    text = "".join(f"{s}{n}" for s, n in comp.items())
    assert parse_formula(text) == {s: float(n) for s, n in comp.items()}


def test_descriptor_of_a_pure_element_is_its_table_row():
    x = describe(["Fe"])[0]
    names = feature_names()
    row = element_table()[ELEMENTS.index("Fe")]
    for j, (prop, _) in enumerate(ELEMENT_PROPERTIES):
        assert x[names.index(f"mean_{prop}")] == pytest.approx(row[j], rel=1e-5)
        assert x[names.index(f"range_{prop}")] == 0
    assert x[names.index("frac_Fe")] == 1 and x[names.index("n_elements")] == 1


def test_descriptor_weights_by_fraction():
    x = describe(["Fe2O3"])[0]
    names = feature_names()
    z_mean = x[names.index("mean_Z")]
    assert z_mean == pytest.approx(0.4 * 26 + 0.6 * 8, rel=1e-6)
    assert x[names.index("range_Z")] == 18
