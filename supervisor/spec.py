"""Which component processes a home runs, in which order: pure data from the config."""

from __future__ import annotations

from dataclasses import dataclass

from jobico.config import Config
from jobico.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    name: str  # instance name: "queue", "executor-2", "listener-1"
    module: str  # python -m jobico.<module>

    def argv(self, python: str) -> list[str]:
        return [python, "-m", f"jobico.{self.module}", self.name]


def is_component_argv(argv: list[str]) -> bool:
    """``argv`` is one ``ComponentSpec.argv`` builds (with any python): how leftovers are told apart."""
    return len(argv) == 4 and argv[1] == "-m" and argv[2].startswith("jobico.") and bool(argv[3])


def _instances(module: str, count: int, plain_when_one: bool) -> list[ComponentSpec]:
    if count == 1 and plain_when_one:
        return [ComponentSpec(module, module)]
    return [ComponentSpec(f"{module}-{i}", module) for i in range(1, count + 1)]


ROLES = ("all", "executor")


def components(config: Config, role: str = "all") -> list[ComponentSpec]:
    """Start order: catalog first, then storage, then the workers, the listener last.

    The listener starts last so it never accepts events before the queue and the
    catalog it needs are serving; shutdown runs this list in reverse. With the
    ``redis`` queue, the main node also runs ``records`` (records from
    executor-only nodes into the recorder); an executor-only node (role
    ``executor``) runs the catalog follower, its queue client, executors, and a
    ``recorder`` that forwards records through Redis (docs/scaleout.md).

    Errors: ``ConfigError`` for an unknown role, or role ``executor`` without the redis queue.
    """
    executors = _instances("executor", config.executor.workers, plain_when_one=False)
    if role == "executor":
        if config.queue.backend != "redis":
            raise ConfigError("--role executor needs the redis queue: --queue redis://HOST:PORT")
        relay = ComponentSpec("recorder", "recorder.redis_relay")
        return [ComponentSpec("repo", "repo"), ComponentSpec("ctl", "ctl"), ComponentSpec("queue", "queue"),
                relay, *executors]
    if role != "all":
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
    inbox = [ComponentSpec("records", "recorder.redis_inbox")] if config.queue.backend == "redis" else []
    return [
        ComponentSpec("repo", "repo"),
        ComponentSpec("ctl", "ctl"),
        ComponentSpec("queue", "queue"),
        ComponentSpec("recorder", "recorder"),
        *inbox,
        *executors,
        *_instances("listener", config.listener.workers, plain_when_one=True),
    ]


def shutdown_order(specs: list[ComponentSpec]) -> list[list[ComponentSpec]]:
    """Groups stopped one after another: listeners, executors, queue, recorder, ctl, repo.

    Instances of one kind stop together; each group finishes before the next starts,
    so executors can still settle with the queue and record while they drain.
    """
    order = ["listener", "executor", "recorder.redis_relay", "queue", "recorder.redis_inbox", "recorder",
             "ctl", "repo"]  # a relay outlives the executors it serves; the inbox stops before its recorder
    return [[s for s in specs if s.module == kind] for kind in order if any(s.module == kind for s in specs)]


def start_waves(specs: list[ComponentSpec]) -> list[list[ComponentSpec]]:
    """Everything but the listeners first (together), then the listeners."""
    return [[s for s in specs if s.module != "listener"], [s for s in specs if s.module == "listener"]]
