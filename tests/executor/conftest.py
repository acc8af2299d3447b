from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.executor.sandbox import Sandbox
from jobico.home import Home

from . import guests


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.fixture
def home() -> Iterator[Home]:
    """A fresh home holding the ECHO, FAIL and SPIN blobs."""
    root = Path(tempfile.mkdtemp(prefix="jx", dir="/tmp"))  # short: socket paths are limited
    home = Home(root)
    home.ensure()
    for module in (guests.ECHO, guests.FAIL, guests.SPIN):
        (home.blobs / f"{guests.sha256(module)}.wasm").write_bytes(module)
    yield home
    shutil.rmtree(root, ignore_errors=True)
