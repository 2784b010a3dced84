"""Chemical formulas: parsing, validation and the element table the models know.

A formula string (``"LiFePO4"``, ``"Li13Mg1Ni12O26"``, ``"Fe2(SO4)3"``) becomes a
mapping of element symbol to amount. The composition models know the elements
H (Z=1) to Pu (Z=94); anything else is refused with a message that names it.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

from ..errors import MatfoldInputError

__all__ = ["ELEMENTS", "MAX_Z", "parse_formula", "amounts", "fractions", "reduced_formula"]

#: Element symbols by atomic number (index 0 is Z=1). Composition models know Z <= MAX_Z.
ELEMENTS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge "
    "As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm "
    "Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U "
    "Np Pu"
).split()
MAX_Z = len(ELEMENTS)
_INDEX = {s: i for i, s in enumerate(ELEMENTS)}

_TOKEN = re.compile(r"\s*(?:([A-Z][a-z]?)|([()\[\]])|(\d*\.?\d+(?:[eE][-+]?\d+)?))")


def parse_formula(formula: str) -> dict[str, float]:
    """Parse a chemical formula into ``{symbol: amount}``.

    Parentheses and brackets nest (``"Ca3(PO4)2"``); amounts may be decimal
    (``"Fe0.9Ni0.1"``); a ``·`` or ``*`` separates hydrate parts (``"CuSO4·5H2O"``).

    Raises
    ------
    MatfoldInputError
        The string is empty, has characters that are not part of a formula, names an
        element matfold does not know (beyond Pu, or misspelt), or sums to zero.
    """
    if not isinstance(formula, str):
        raise MatfoldInputError(f"a formula must be a string, got {type(formula).__name__} {formula!r}")
    text = formula.strip()
    if not text:
        raise MatfoldInputError("empty formula: give a chemical formula such as 'LiFePO4'")
    total: dict[str, float] = {}
    for part in re.split(r"[·*]", text):
        leading = re.match(r"\s*(\d*\.?\d+)\s*(?=[A-Z(\[])", part)
        factor = 1.0
        if leading:
            factor = float(leading.group(1))
            part = part[leading.end():]
        for sym, amt in _parse_group(part, formula).items():
            total[sym] = total.get(sym, 0.0) + amt * factor
    total = {s: a for s, a in total.items() if a > 0}
    if not total:
        raise MatfoldInputError(f"formula {formula!r} has no atoms: every amount is zero")
    return total


def _parse_group(text: str, original: str) -> dict[str, float]:
    stack: list[dict[str, float]] = [{}]
    last: dict[str, float] | str | None = None  # what a following number multiplies
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise MatfoldInputError(
                f"cannot parse formula {original!r} at {text[pos:pos + 8]!r}: "
                "write element symbols with a capital first letter, e.g. 'Fe2O3'"
            )
        pos = m.end()
        sym, bracket, number = m.groups()
        if sym:
            if sym not in _INDEX:
                raise MatfoldInputError(_unknown_element(sym, original))
            stack[-1][sym] = stack[-1].get(sym, 0.0) + 1.0
            last = sym
        elif bracket and bracket in "([":
            stack.append({})
            last = None
        elif bracket:
            if len(stack) == 1:
                raise MatfoldInputError(f"unbalanced ')' in formula {original!r}")
            group = stack.pop()
            for s, a in group.items():
                stack[-1][s] = stack[-1].get(s, 0.0) + a
            last = group
        else:
            amount = float(number)
            if not math.isfinite(amount) or amount < 0 or amount > 1e6:
                raise MatfoldInputError(f"amount {number!r} in formula {original!r} is out of range (0 to 1e6)")
            if last is None:
                raise MatfoldInputError(f"number {number!r} in formula {original!r} follows no element")
            if isinstance(last, str):
                stack[-1][last] += amount - 1.0
            else:
                for s, a in last.items():
                    stack[-1][s] += a * (amount - 1.0)
            last = None
    if len(stack) != 1:
        raise MatfoldInputError(f"unbalanced '(' in formula {original!r}")
    return stack[0]


def _unknown_element(sym: str, formula: str) -> str:
    try:
        from pymatgen.core.periodic_table import Element

        z = Element(sym).Z
        return (
            f"element {sym} (Z={z}) in formula {formula!r} is beyond what the composition "
            f"models were trained on (H to Pu)"
        )
    except Exception:
        return (
            f"unknown element {sym!r} in formula {formula!r}: check the spelling "
            "(symbols are case-sensitive, e.g. 'Co' is cobalt, 'CO' is carbon monoxide)"
        )


def amounts(composition: Mapping[str, float] | str) -> dict[str, float]:
    """Atoms of each element as written (``"Cl4Hg4N4"``: 4 each) of a formula or mapping."""
    comp = parse_formula(composition) if isinstance(composition, str) else composition
    return {s: float(a) for s, a in comp.items()}


def fractions(composition: Mapping[str, float] | str) -> dict[str, float]:
    """Atomic fractions (summing to 1) of a formula or ``{symbol: amount}`` mapping."""
    comp = parse_formula(composition) if isinstance(composition, str) else dict(composition)
    total = sum(comp.values())
    return {s: a / total for s, a in comp.items()}


def reduced_formula(composition: Mapping[str, float] | str) -> str:
    """The reduced formula in pymatgen's convention (``"Fe2O3"``, ``"LiFePO4"``)."""
    from pymatgen.core import Composition

    comp = parse_formula(composition) if isinstance(composition, str) else dict(composition)
    return Composition(comp).reduced_formula
