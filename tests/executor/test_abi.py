from __future__ import annotations

import pytest
import wasmtime

from jobico.errors import UserError
from jobico.executor.abi import detect, exports_of

from . import guests

ENGINE = wasmtime.Engine()


def exports(module: bytes) -> dict[str, object]:
    return exports_of(wasmtime.Module(ENGINE, module))


def test_auto_picks_jobicolet_for_event_and_malloc() -> None:
    assert detect(exports(guests.ECHO)) == "jobicolet"


def test_auto_picks_wasi_for_start() -> None:
    assert detect(exports(guests.WASI_ECHO)) == "wasi"


def test_auto_uses_the_jobs_entry_name() -> None:
    with pytest.raises(UserError, match="'handle'"):
        detect(exports(guests.ECHO), "auto", "handle")


def test_auto_without_either_names_what_the_module_exports() -> None:
    with pytest.raises(UserError, match="it exports 'event', 'memory'"):
        detect(exports(guests.MISSING_EXPORTS))


def test_forced_abi_checks_its_exports() -> None:
    with pytest.raises(UserError, match="abi wasi: missing export '_start'"):
        detect(exports(guests.ECHO), "wasi")
    with pytest.raises(UserError, match="missing export 'init'"):
        detect(exports(guests.WASI_ECHO), "jobicolet", "_start")


def test_a_mistyped_entry_is_reported() -> None:
    with pytest.raises(UserError, match="export 'malloc' takes 1 parameters"):
        detect(exports(guests.ECHO), "jobicolet", "malloc")


def test_unknown_abi() -> None:
    with pytest.raises(UserError, match="abi 'wasm'"):
        detect(exports(guests.ECHO), "wasm")
