"""Object ids: the lowercase BLAKE3 hex digest (64 characters) of an object's bytes.

An oid is used as a file name (``ab/cdef…``) and as a URL segment, so every oid that comes in
from outside (a tree manifest, a command line, an HTTP request) is checked here before it
reaches a path: a malformed one could otherwise name a file outside the store.
"""

from __future__ import annotations

from cairn.errors import InvalidInput
from cairn.objects.base import OID_HEX_LEN

_HEX = "0123456789abcdef"

#: The oid of zero bytes, handy for empty files without touching a hasher.
EMPTY_OID = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"

#: Length of the fan-out folder name: ``ab`` in ``ab/cdef…``.
FANOUT_LEN = 2


def is_oid(value: object) -> bool:
    """True for a well-formed oid (64 lowercase hex characters)."""
    # str.strip is a C loop: several times faster than a regex on hot paths of 100k oids.
    return isinstance(value, str) and len(value) == OID_HEX_LEN and not value.strip(_HEX)


def check_oid(value: str) -> str:
    """Return ``value`` if it is a well-formed oid, else raise ``InvalidInput``."""
    if not is_oid(value):
        raise InvalidInput(f"not an object id: {value!r} (expected 64 lowercase hex characters)")
    return value


def check_oids(oids: list[str]) -> None:
    """``check_oid`` for a whole batch, in a few C-level passes instead of one call each."""
    try:
        ok = not oids or (set(map(len, oids)) == {OID_HEX_LEN} and not "".join(oids).strip(_HEX))
    except TypeError:
        ok = False
    if not ok:
        for oid in oids:
            check_oid(oid)


def fanout(oid: str) -> tuple[str, str]:
    """Split a checked oid into its folder and file name: ``("ab", "cdef…")``."""
    check_oid(oid)
    return oid[:FANOUT_LEN], oid[FANOUT_LEN:]


def is_fanout_dir(name: str) -> bool:
    """True for a folder name that can hold objects (two lowercase hex characters)."""
    return len(name) == FANOUT_LEN and not name.strip(_HEX)


def join_fanout(folder: str, name: str) -> str | None:
    """The oid stored as ``folder/name``, or ``None`` when that is not an object file."""
    oid = folder + name
    return oid if is_oid(oid) else None
