"""Load problems with a file and a line, and how to find that line in TOML text.

A ``Problem`` is what ``packages`` sends (``jobico.ctl.api``); this module raises
and places them.

tomllib gives values but not where they came from, so ``TomlLines`` scans the
text once for table headers and ``key =`` lines: good enough to point a user at
the right line of a hand-written package, and it never raises.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable

from jobico.ctl.api import Problem
from jobico.errors import UserError

_HEADER = re.compile(r"""^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$""")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*[=.]""")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)|\s*\(at end of document\)")


def toml_problem(file: str, error: tomllib.TOMLDecodeError) -> Problem:
    """The problem of a file that is not TOML, placed at the line tomllib names."""
    text = str(error)
    match = _TOML_POSITION.search(text)
    line = int(match[1]) if match and match[1] else None
    return Problem(file, line, f"invalid TOML: {_TOML_POSITION.sub('', text)}")


class ProblemsError(UserError):
    """One or more problems in a package, each naming its file and line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class TomlLines:
    """Line numbers of table headers and keys; ``[[name]]`` tables are counted by index."""

    def __init__(self, text: str) -> None:
        self._headers: dict[tuple[str, int], int] = {}
        self._keys: dict[tuple[str, int], dict[str, int]] = {}
        counts: dict[str, int] = {}
        table = ("", 0)
        for number, line in enumerate(text.splitlines(), 1):
            if header := _HEADER.match(line):
                name = header[2].strip()
                index = counts.get(name, 0) if header[1] == "[[" else 0
                if header[1] == "[[":
                    counts[name] = index + 1
                table = (name, index)
                self._headers.setdefault(table, number)
            elif key := _KEY.match(line):
                self._keys.setdefault(table, {}).setdefault(key[1].strip("\"'"), number)

    def find(self, table: str, index: int, key: str) -> int | None:
        """The line of ``key`` in ``table`` (""= top level), else of the table itself."""
        if key and (line := self._keys.get((table, index), {}).get(key)):
            return line
        return self._headers.get((table, index)) or self._keys.get(("", 0), {}).get(table)
