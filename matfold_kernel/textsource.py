"""Turning a path, text or bytes into checked text, for every matfold parser.

Parsers of crystal and protein files share the same first step: get the text,
refuse files that are empty, binary, too large or not UTF-8, and remember a
name for error messages.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import MatfoldInputError

__all__ = ["TextSource", "read_text_source", "text_source", "MAX_FILE_BYTES"]

#: Largest input read, in bytes (50 MiB). Larger files are refused, not parsed slowly.
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class TextSource:
    """Decoded text with the name it came from.

    Attributes
    ----------
    text : str
        The decoded text, line endings normalised to ``\\n``.
    name : str
        File name, or ``"<text>"`` / ``"<bytes>"`` for in-memory input.
    path : Path or None
        The path when the input was a file.
    """

    text: str
    name: str
    path: Path | None = None


def _decode(data: bytes, name: str) -> str:
    if not data.strip():
        raise MatfoldInputError("the file is empty; give a file with structure data", name)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise MatfoldInputError(
                f"starts with a UTF-16 byte-order mark but is not valid UTF-16 ({exc.reason}); "
                "re-save the file as UTF-8",
                name,
            ) from None
    if b"\x00" in data[:8192]:
        raise MatfoldInputError(
            "this is a binary file, not a text structure file "
            "(CIF, POSCAR, extxyz, PDB, mmCIF or FASTA); check that you picked the right file",
            name,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MatfoldInputError(
            f"is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} "
            f"(offset {exc.start}); re-save the file as UTF-8",
            name,
        ) from None


def _checked(text: str, name, path, *, empty: str, binary: str) -> TextSource:
    """The last checks every input shares (not blank, no NUL), line endings normalised."""
    if not text.strip():
        raise MatfoldInputError(empty, name)
    if "\x00" in text:
        raise MatfoldInputError(f"contains NUL characters: {binary}, not text", name)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return TextSource(text=text, name=str(name), path=path)


def text_source(content, *, name: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> TextSource:
    """Check in-memory `content` as text; never opens a file.

    Unlike :func:`read_text_source`, a ``str`` is always content, even without a
    newline: ``"/etc/passwd"`` is the 11-character text ``/etc/passwd``. This is
    what code that handles other people's input (the service) calls.

    Parameters
    ----------
    content : str or bytes
        File content.
    name : str, optional
        Name to use in error messages (default ``"<text>"`` or ``"<bytes>"``).
    max_bytes : int
        Largest input accepted, in bytes of UTF-8 (default 50 MiB).

    Raises
    ------
    MatfoldInputError
        Not str/bytes, empty, binary, oversize or non-UTF-8 input.
    """
    if isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
        name = name or "<bytes>"
        if len(data) > max_bytes:
            raise MatfoldInputError(
                f"is {len(data) / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB limit", name
            )
        text = _decode(data, name)
    elif isinstance(content, str):
        name = name or "<text>"
        # UTF-8 is at most 4 bytes a character: only count bytes when it could matter
        if len(content) * 4 > max_bytes and len(content.encode("utf-8", "surrogatepass")) > max_bytes:
            raise MatfoldInputError(
                f"is over the {max_bytes / 2**20:g} MiB limit for one structure", name
            )
        text = content
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MatfoldInputError(
                f"contains a character that is not valid Unicode text (U+{ord(text[exc.start]):04X} at "
                f"offset {exc.start}, a lone surrogate); send UTF-8 text",
                name,
            ) from None
    else:
        raise MatfoldInputError(
            f"structure text must be a str or bytes, not a {type(content).__name__} "
            "(to read a file, use read_structure(path))",
            name,
        )
    return _checked(text, name, None, empty="the structure text is empty; give CIF, POSCAR or extxyz content",
                    binary="this is binary data")


def read_text_source(source, *, name: str | None = None) -> TextSource:
    """Read `source` as text with the checks every parser needs.

    Parameters
    ----------
    source : str, os.PathLike, bytes or file-like
        A path; text (a ``str`` containing a newline is taken as file content,
        not as a path); raw bytes; or an open file.
    name : str, optional
        Name to use in error messages (defaults to the file name).

    Returns
    -------
    TextSource

    Raises
    ------
    MatfoldInputError
        Missing, empty, binary, oversize (> 50 MiB) or non-UTF-8 input.
    """
    path = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "<bytes>"
    elif isinstance(source, str) and ("\n" in source or "\r" in source):
        data = None
        text = source
        name = name or "<text>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        name = name or str(source)
        if str(source).strip() == "":
            raise MatfoldInputError("empty path or text; give a file path or the file's content")
        if not path.exists():
            raise MatfoldInputError(
                "no such file; check the path (file content given as a string must contain "
                "a newline)",
                name,
            )
        if path.is_dir():
            raise MatfoldInputError("is a directory, not a file", name)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MatfoldInputError(
                f"is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit for one "
                "structure file; split it into smaller files",
                name,
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MatfoldInputError(f"cannot be read ({exc.strerror})", name) from None
    elif isinstance(source, io.IOBase) or hasattr(source, "read"):
        raw = source.read()
        name = name or getattr(source, "name", None) or "<stream>"
        if isinstance(raw, str):
            data, text = None, raw
        else:
            data = bytes(raw)
    else:
        raise MatfoldInputError(
            f"cannot read a {type(source).__name__}; give a path, text, bytes or an open file"
        )
    if data is not None:
        if len(data) > MAX_FILE_BYTES:
            raise MatfoldInputError(
                f"is {len(data) / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit", name
            )
        text = _decode(data, name)
    return _checked(text, name, path, empty="the file is empty; give a file with structure data",
                    binary="this is a binary file")
