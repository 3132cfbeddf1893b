"""Names made safe: one place that turns any name (a run's, a layer's from a user's checkpoint, a sweep setting's)
into a file or folder name, makes a list of them unique, and writes unprintable characters out for one line of text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

MAX_SLUG = 80  # characters of a name kept in a file or folder name
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(name: str) -> str:
    """A file or folder name for `name`: letters, digits, '.', '_' and '-' only, never '.' or '..' (no leading or
    trailing '.' or '-'), and short enough for any file system (a long name keeps its start and gets a hash of the
    whole)."""
    s = _UNSAFE.sub("-", name).strip("-.")
    if len(s) > MAX_SLUG:
        s = s[:MAX_SLUG].rstrip("-.") + "-" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:10]
    return s or "x"


def is_slug(name: str) -> bool:
    """Whether `name` is already a file or folder name that slug() would leave as it is."""
    return bool(name) and slug(name) == name


def unique_slugs(names: Sequence[str], taken: Iterable[str] = ()) -> list[str]:
    """slug() of each name, made unique among themselves and against `taken`, ignoring case (two folders `A` and `a`
    are one folder on macOS and Windows): the first keeps its slug, later ones get `-2`, `-3`, ... (skipping any
    that is itself taken, so `a`, `a`, `a-2` become `a`, `a-2`, `a-2-2`)."""
    used = {t.casefold() for t in taken}
    out = []
    for name in names:
        base = slug(name)
        s, n = base, 1
        while s.casefold() in used:
            n += 1
            s = f"{base}-{n}"
        used.add(s.casefold())
        out.append(s)
    return out


def printable(text: str) -> str:
    """`text` with the characters that cannot be printed (newline, NUL, terminal controls, bidi controls, ...)
    written as Python escapes: "line\\nbreak" becomes "line\\\\nbreak". Safe in one line of text, in a page, and as
    a member of a zip archive."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
