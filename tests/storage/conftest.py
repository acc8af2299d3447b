from __future__ import annotations

import pytest

from tests.storage.stores import KINDS, StoreKind


@pytest.fixture(params=KINDS, ids=[kind.name for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> StoreKind:
    """Each store on the shared storage package, in turn."""
    return request.param  # type: ignore[no-any-return]
