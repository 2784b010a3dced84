"""Element colours (Jmol scheme) and covalent radii (Å) used by the viewers."""

from __future__ import annotations

__all__ = ["element_color", "covalent_radius"]


def _z(symbol: str) -> int:
    from ase.data import atomic_numbers

    return atomic_numbers.get(symbol, 0)


def element_color(symbol: str) -> str:
    """Jmol CPK colour of an element as ``#rrggbb`` (pink for elements past the table)."""
    from ase.data.colors import jmol_colors

    z = _z(symbol)
    if not 0 < z < len(jmol_colors):
        return "#ff1493"
    r, g, b = (jmol_colors[z] * 255).round().astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


def covalent_radius(symbol: str) -> float:
    """Covalent radius in Å (Cordero et al. 2008, via ASE); 1.5 Å if unknown."""
    from ase.data import covalent_radii

    z = _z(symbol)
    return float(covalent_radii[z]) if 0 < z < len(covalent_radii) else 1.5
