"""A JobicoApp over FixedData: for snapshot tests and the real-terminal test.

`python tests/tui/fixed_app.py` runs it in the terminal (the pty test does);
snapshot tests import ``app``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.tui.fixed import FixedData
from tui.app import JobicoApp

app = JobicoApp(FixedData())

if __name__ == "__main__":
    app.run()
