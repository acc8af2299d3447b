"""`python -m tui [HOME]`: the dashboard without the CLI (HOME defaults as `--home` does)."""

from __future__ import annotations

import sys

from jobico.errors import UserError
from jobico.home import open_home
from tui.app import run_tui


def main(argv: list[str]) -> int:
    try:
        home = open_home(argv[0] if argv else None)
    except UserError as exc:
        print(f"jobico tui: {exc}", file=sys.stderr)
        return 2
    run_tui(home.root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
