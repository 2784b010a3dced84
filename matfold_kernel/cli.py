"""The ``matfold`` command.

``matfold info FILE --json`` describes a structure file; ``align``, ``pockets``,
``variants``, ``fold`` work on proteins; ``predict``, ``train``, ``merge``,
``blend-trees`` are the property models'. Subcommands of the layers above the library
(``lab``, ``hub``, ``service``) are plugged in through the ``matfold.subcommands`` entry
points (:class:`Subcommand`), so this module imports none of them. Bad input exits with
code 2 and one line on stderr; ``MATFOLD_DEBUG=1`` shows tracebacks; a closed pipe
(``matfold ... | head``) ends the command quietly with code 141.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Protocol, runtime_checkable

from . import __version__, config
from .crystal import read_structures, structure_info
from .errors import MatfoldDependencyError, MatfoldError, MatfoldInputError
from .properties.commands import add_commands as add_property_commands
from .protein import align_structures, guess_protein_format, protein_info, read_fasta, read_protein
from .protein.esmfold import fold
from .protein.pockets import find_pockets
from .protein.variants import score_variants
from .textsource import read_text_source

__all__ = ["main", "build_parser", "Subcommand", "ENTRY_POINT_GROUP"]


def _protein_info(args) -> dict | None:
    """``matfold info`` for PDB, mmCIF and FASTA files; None for crystal files."""
    if args.format:
        return None
    src = read_text_source(args.file)
    fmt = guess_protein_format(src.text, src.name)
    if fmt is None:
        return None
    if fmt == "fasta":
        records = read_fasta(src.text, name=src.name)
        return {"format": "fasta", "chains": [{"id": r.id, "length": len(r), "sequence": r.sequence}
                                               for r in records]}
    return {"format": fmt} | protein_info(read_protein(src.text, fmt, name=src.name)).to_dict()


def _cmd_info(args) -> int:
    protein = _protein_info(args)
    if protein is not None:
        if args.json:
            json.dump(protein, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print(f"{args.file} [{protein['format']}]" + (f" {protein['natoms']} atoms" if "natoms" in protein else ""))
            for chain in protein["chains"]:
                print(f"  chain {chain['id']}: {chain['length']} residues  {chain['sequence'][:60]}"
                      + ("..." if chain["length"] > 60 else ""))
        return 0
    structures = read_structures(
        args.file, args.format, allow_overlap=args.allow_overlap
    )
    if args.all:
        chosen = list(enumerate(structures))
    else:
        if not -len(structures) <= args.index < len(structures):
            raise MatfoldInputError(
                f"--index {args.index} is out of range: the file holds {len(structures)} "
                f"structure(s)",
                args.file,
            )
        chosen = [(args.index % len(structures), structures[args.index])]
    infos = [(i, s, structure_info(s, symprec=args.symprec)) for i, s in chosen]
    if args.json:
        payload = [info.to_dict() | {"label": s.properties.get("label", "")} for _, s, info in infos]
        if not args.all:
            payload = infos[0][2].to_dict()
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for i, s, info in infos:
        label = s.properties.get("label") or ""
        print(f"{args.file} [structure {i + 1} of {len(structures)}] {label}".rstrip())
        width = max(len(k) for k in info.to_dict())
        for key, value in info.to_dict().items():
            unit = {"volume": " Å³", "density": " g/cm³"}.get(key, "")
            print(f"  {key:<{width}}  {value}{unit}")
    if len(structures) > 1 and not args.all:
        print(f"({len(structures)} structures in the file; --index N picks one, --all shows all)")
    return 0


def _cmd_align(args) -> int:
    fixed, mobile = read_protein(args.file1), read_protein(args.file2)
    result = align_structures(fixed, mobile, args.chain1, args.chain2, names=(args.file1, args.file2))
    if args.json:
        json.dump(result.to_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"TM-score {result.tm_score_1:.4f} (by {args.file1}), {result.tm_score_2:.4f} (by {args.file2})")
        print(f"RMSD {result.rmsd:.3f} Å over {result.aligned_length} aligned residues")
    return 0


def _cmd_pockets(args) -> int:
    pockets = find_pockets(args.file, min_drug_score=args.min_drug_score, max_pockets=args.max)
    if args.json:
        json.dump({"pockets": [p.to_dict() for p in pockets]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{args.file}: {len(pockets)} pocket(s), best first")
        for p in pockets:
            lining = " ".join(f"{chain}{number}" for chain, number in p.residues[:10])
            print(f"  {p.rank:>3}  score {p.score:6.3f}  drug {p.drug_score:.3f}  {p.volume:7.1f} Å³  "
                  f"{lining}{' ...' if len(p.residues) > 10 else ''}")
    return 0


def _cmd_variants(args) -> int:
    variants = list(args.variants)
    if args.variant_file:
        try:
            text = Path(args.variant_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MatfoldInputError("no such file; give a text file with one variant per line",
                                    args.variant_file) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MatfoldInputError(f"cannot be read as UTF-8 text ({type(exc).__name__})", args.variant_file) from None
        for line in text.splitlines():
            variants += line.split("#")[0].replace(",", " ").split()
    if not variants:
        raise MatfoldInputError("no variants given: list them (K156E A:F168D) or pass --file LIST.txt", args.file)
    results = score_variants(read_protein(args.file), variants, args.model, chain=args.chain)
    if args.json:
        json.dump({"variants": [r.to_dict() for r in results]}, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for r in results:
            esm = f"  ESM-2 {r.esm_marginal:+.2f}" if r.esm_marginal is not None else ""
            print(f"{r.name:<12} {r.score:5.3f}  {r.category:<19}{esm}  {'; '.join(r.reasons)}".rstrip())
    return 0


def _cmd_fold(args) -> int:
    source = Path(args.sequence)
    if source.is_file():
        records = read_fasta(source, model="esmfold")
        sequences = [r.sequence for r in records]
    else:
        sequences = [args.sequence]
    results = fold(sequences, args.model, chunk_size=args.chunk_size, progress=len(sequences) > 1)
    out = Path(args.out)
    for i, result in enumerate(results):
        path = out if len(results) == 1 else out.with_name(f"{out.stem}_{i + 1}{out.suffix}")
        result.save(path)
        print(f"{path}: {len(result.plddt)} residues, mean pLDDT {result.mean_plddt:.1f}, pTM {result.ptm:.3f}")
    return 0


#: entry-point group of the subcommands other packages plug in (as ``jupyter <sub>`` finds its own)
ENTRY_POINT_GROUP = "matfold.subcommands"
#: the subcommands matfold's own extras plug in, and the extra that brings each
EXTRAS = {"lab": "lab", "hub": "hub", "service": "hub"}


@runtime_checkable
class Subcommand(Protocol):
    """What an entry point of :data:`ENTRY_POINT_GROUP` loads to.

    ``help`` is the line ``matfold --help`` shows; ``description`` (optional) heads the
    subcommand's own help; ``add_arguments`` fills its parser; ``run`` runs it and
    returns the exit code.
    """

    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _command_named(argv: list[str]) -> str | None:
    """The subcommand `argv` names (its first argument that is not an option), or None."""
    return next((a for a in argv if not a.startswith("-")), None)


def _not_installed(name: str, why: str):
    def run(args) -> int:
        extra = EXTRAS.get(name)
        advice = f": pip install 'matfold[{extra}]'" if extra else ""
        raise MatfoldDependencyError(f"`matfold {name}` {why}{advice}")
    return run


def _add_plugged_commands(sub, argv: list[str] | None) -> None:
    """Subparsers for the entry points of :data:`ENTRY_POINT_GROUP` (see :func:`build_parser`)."""
    wanted = _command_named(sys.argv[1:] if argv is None else argv)
    found = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    for name in [*EXTRAS, *sorted(set(found) - set(EXTRAS))]:
        if name in sub.choices:
            continue
        if wanted not in (None, name):
            sub.add_parser(name)  # not loaded: named in argparse's "invalid choice" message only
            continue
        extra = f": pip install 'matfold[{EXTRAS[name]}]'" if name in EXTRAS else ""
        try:
            if name not in found:
                raise LookupError("is not installed")
            command = found[name].load()
            if not isinstance(command, Subcommand):
                raise LookupError(f"is not a matfold subcommand ({found[name].value})")
        except (ImportError, AttributeError) as exc:  # the extra's dependencies are missing
            parser = sub.add_parser(name, help=f"(cannot load: {exc}{extra})", add_help=False)
            parser.set_defaults(func=_not_installed(name, f"cannot load ({exc})"), not_installed=True)
            continue
        except LookupError as exc:
            parser = sub.add_parser(name, help=f"({exc}{extra})", add_help=False)
            parser.set_defaults(func=_not_installed(name, str(exc)), not_installed=True)
            continue
        parser = sub.add_parser(name, help=command.help, description=getattr(command, "description", None))
        command.add_arguments(parser)
        parser.set_defaults(func=command.run)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``matfold`` command.

    `argv` (the arguments to parse, default ``sys.argv[1:]``) decides which plugged-in
    subcommands are loaded: the one it names, or all of them when it names none (for
    ``--help``); the others stay unloaded, so ``matfold info`` does not import a server.
    """
    parser = argparse.ArgumentParser(
        prog="matfold",
        description="matfold: crystal and protein structure analysis for Jupyter.",
    )
    parser.add_argument("--version", action="version", version=f"matfold {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser(
        "info",
        help="describe a structure file (crystal: formula, space group...; protein: chains)",
        description="Describe a CIF, POSCAR/CONTCAR or extxyz crystal, or a PDB, mmCIF or FASTA protein file.",
    )
    info.add_argument("file", help="CIF, POSCAR/CONTCAR, extxyz, PDB, mmCIF or FASTA")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--format", choices=["cif", "poscar", "extxyz", "json"], help="skip format detection (json: a pymatgen Structure.as_dict())")
    info.add_argument("--index", type=int, default=0, help="which structure of a multi-structure file (default 0)")
    info.add_argument("--all", action="store_true", help="describe every structure in the file")
    info.add_argument("--symprec", type=float, default=0.01, help="symmetry tolerance in Å (default 0.01)")
    info.add_argument(
        "--allow-overlap", action="store_true",
        help="accept atoms closer than 0.5 Å (disorder written as full sites)",
    )
    info.set_defaults(func=_cmd_info)

    align = sub.add_parser("align", help="align two protein structures (TM-score, RMSD)",
                           description="Superpose FILE2 onto FILE1 with TM-align semantics (biotite).")
    align.add_argument("file1", help="PDB or mmCIF (fixed)")
    align.add_argument("file2", help="PDB or mmCIF (moved onto file1)")
    align.add_argument("--chain1", default=None, help="chain of file1 (default: its first protein chain)")
    align.add_argument("--chain2", default=None, help="chain of file2 (default: its first protein chain)")
    align.add_argument("--json", action="store_true", help="print JSON")
    align.set_defaults(func=_cmd_align)

    pockets = sub.add_parser("pockets", help="find binding pockets with druggability scores (fpocket)",
                             description="Rank the binding pockets of a PDB or mmCIF protein with fpocket "
                                         "(fpocket-rs): score, drug score (0-1), volume (Å³), centre, residues.")
    pockets.add_argument("file", help="PDB or mmCIF")
    pockets.add_argument("--min-drug-score", type=float, default=None,
                         help="keep pockets with a drug score of at least this (0-1)")
    pockets.add_argument("--max", type=int, default=None, help="keep at most this many pockets (the best ranked)")
    pockets.add_argument("--json", action="store_true", help="print JSON")
    pockets.set_defaults(func=_cmd_pockets)

    variants = sub.add_parser("variants", help="score missense variants on a protein structure",
                              description="Score missense variants (K156E, A:K156E, p.Lys156Glu) from structure: "
                                          "BLOSUM62, burial, secondary structure, core hydropathy (0-1), with "
                                          "reasons; --model adds the ESM-2 masked marginal.")
    variants.add_argument("file", help="PDB or mmCIF")
    variants.add_argument("variants", nargs="*", metavar="VARIANT", help="e.g. K156E or A:K156E")
    variants.add_argument("--chain", default=None, help="chain of variants written without one "
                                                        "(default: the first protein chain)")
    variants.add_argument("--file", dest="variant_file", default=None, metavar="LIST.txt",
                          help="text file of variants, one per line (# comments)")
    variants.add_argument("--model", default=None, help="ESM-2 folder (EsmForMaskedLM) for the masked marginal")
    variants.add_argument("--json", action="store_true", help="print JSON")
    variants.set_defaults(func=_cmd_variants)

    fold_cmd = sub.add_parser("fold", help="predict a protein structure with ESMFold",
                              description="Fold a sequence (or every record of a FASTA file) with ESMFold; "
                                          "pLDDT goes in the B-factors. 'AAA:BBB' folds a complex.")
    fold_cmd.add_argument("sequence", help="one-letter sequence, or a FASTA file")
    fold_cmd.add_argument("--model", default=None, help="ESMFold model folder (default: $MATFOLD_ESMFOLD_MODEL "
                                                         "or facebook/esmfold_v1 from the Hugging Face cache)")
    fold_cmd.add_argument("--out", required=True, help="output .pdb or .cif")
    fold_cmd.add_argument("--chunk-size", type=int, default=None, help="trunk chunk size for long sequences")
    fold_cmd.set_defaults(func=_cmd_fold)

    add_property_commands(sub)

    _add_plugged_commands(sub, argv)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``matfold`` console command; returns the exit code."""
    parser = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "not_installed", False):
        parser.parse_args(argv)  # argparse's own message (exit 2)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `matfold ... | head`: the reader left; stop quietly, as a command killed by SIGPIPE
        _silence_stdout()
        return 141
    except MatfoldInputError as exc:
        if config.get("debug"):
            raise
        print(f"matfold {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except MatfoldError as exc:
        if config.get("debug"):
            raise
        print(f"matfold {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except (MemoryError, RecursionError, OverflowError) as exc:
        # resource exhaustion on an input the checks let through: still the input's fault
        if config.get("debug"):
            raise
        what = ("out of memory" if isinstance(exc, MemoryError) else
                "nesting too deep" if isinstance(exc, RecursionError) else "a number too large")
        print(f"matfold {args.command}: error: {what} while processing the input; check it "
              "(cell, scale factor, atom counts)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush meets no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind sys.stdout (a notebook, a test)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
