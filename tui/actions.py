"""The admin actions, shared by the screens' keys and the `:` palette.

Each asks first where it cannot be undone (restart, replay, purge), then says how
it went in a notification. They await dialogs, so they run inside a worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from jobico.errors import JobicoError
from tui import fmt
from tui.screens.confirm import ConfirmScreen
from tui.source import Offline

if TYPE_CHECKING:
    from tui.app import JobicoApp


async def act(app: JobicoApp, call: Awaitable[Any], done: str) -> bool:
    """Await an admin call and say how it went."""
    try:
        await call
    except JobicoError as exc:
        app.notify(fmt.said(exc), title="Failed", severity="error", markup=False)
        if isinstance(exc, Offline):
            app.show_offline()
        return False
    app.notify(done)
    return True


async def confirmed(app: JobicoApp, question: str) -> bool:
    return bool(await app.push_screen_wait(ConfirmScreen(question)))


async def restart(app: JobicoApp, component: str) -> bool:
    if not await confirmed(app, f"Restart {component}?"):
        return False
    return await act(app, app.source.restart(component), f"{component} restarting")


async def set_paused(app: JobicoApp, tenant: str, pause: bool) -> bool:
    if pause:
        return await act(app, app.source.pause(tenant), f"{tenant}: queue paused")
    return await act(app, app.source.resume(tenant), f"{tenant}: queue resumed")


async def replay(app: JobicoApp, ids: list[str]) -> bool:
    """Re-queue dead letters under their own event ids (SPEC §6 `jobico replay`)."""
    return await _on_dead_letters(app, "Replay", ids, lambda: app.source.replay(ids=ids))


async def purge(app: JobicoApp, ids: list[str]) -> bool:
    return await _on_dead_letters(app, "Purge", ids, lambda: app.source.purge(ids=ids))


async def _on_dead_letters(app: JobicoApp, verb: str, ids: list[str],
                           call: Callable[[], Awaitable[int]]) -> bool:
    """Ask, then act on the dead letters ``ids``; nothing happens on "no" or no ids."""
    if not ids:
        return False
    what = ids[0] if len(ids) == 1 else f"all {len(ids)} dead letters shown"
    if not await confirmed(app, f"{verb} {what}?"):
        return False
    return await act(app, call(), f"{verb}: {len(ids)} event(s)")
