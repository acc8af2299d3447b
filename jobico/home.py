"""Where a home keeps its state; every component derives its paths from here.

Components find each other only through these paths, so they are defined once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobico.errors import UserError
from jobico.private import private_dirs, tighten

CONFIG_NAME = "jobico.toml"


@dataclass(frozen=True, slots=True)
class Home:
    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def tenants(self) -> Path:
        return self.root / "tenants"

    @property
    def state(self) -> Path:
        return self.root / ".jobico"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def queue(self) -> Path:
        return self.state / "queue"

    @property
    def recorder(self) -> Path:
        return self.state / "recorder"

    @property
    def cache(self) -> Path:
        return self.state / "cache"

    @property
    def blobs(self) -> Path:
        return self.state / "blobs"

    def socket(self, component: str) -> Path:
        return self.run / f"{component}.sock"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def ensure(self) -> None:
        """Create the state folders, each 0700, and make an older home's state owner-only.

        ``.jobico/`` holds compiled code that gets run and every tenant's
        events and secrets: nothing in it may be readable or writable by anyone
        but its owner, whatever the umask it was made under.
        Errors: UserError when a folder of the state belongs to another user.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        for path in (self.run, self.logs, self.queue, self.recorder, self.cache, self.blobs):
            private_dirs(self.state, path)
        tighten(self.state)


def find_home(start: Path | None = None) -> Home:
    """The nearest folder upward holding ``jobico.toml`` (SPEC §6 default for --home)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return Home(folder)
    raise UserError(f"no {CONFIG_NAME} in {here} or any parent folder; pass --home or run `jobico init`")


def open_home(path: Path | str | None) -> Home:
    if path is None:
        return find_home()
    root = Path(path).resolve()
    if not (root / CONFIG_NAME).is_file():
        raise UserError(f"{root} is not a Jobico home: no {CONFIG_NAME} there")
    return Home(root)
