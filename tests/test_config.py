"""SPEC §7: layered configuration with named sources and clear errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from jobico.config import Config, flags_as_env, load_config
from jobico.errors import ConfigError


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_defaults_without_files(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config == Config()
    assert config.listener.port == 8080
    assert config.sources["listener.port"] == "default"


def test_layers_in_spec_order(tmp_path: Path) -> None:
    write(tmp_path / "jobico.toml", "[listener]\nport = 9001\nhost = '0.0.0.0'\nworkers = 2\n")
    write(tmp_path / ".env", "JOBICO_LISTENER_PORT=9002\nJOBICO_EXECUTOR_WORKERS=3\n")
    write(tmp_path / ".env.prod", "JOBICO_LISTENER_PORT=9003\n")
    env = {"APP_ENV": "prod", "JOBICO_LISTENER_WORKERS": "4"}
    config = load_config(tmp_path, flags={"executor.workers": 5}, environ=env)
    assert config.listener.host == "0.0.0.0"
    assert config.listener.port == 9003
    assert config.listener.workers == 4
    assert config.executor.workers == 5
    assert config.sources["listener.host"] == str(tmp_path / "jobico.toml")
    assert config.sources["listener.port"] == f"{tmp_path / '.env.prod'} JOBICO_LISTENER_PORT"
    assert config.sources["listener.workers"] == "environment variable JOBICO_LISTENER_WORKERS"
    assert config.sources["executor.workers"] == "command-line flag executor.workers"


def test_env_beats_dotenv_and_toml(tmp_path: Path) -> None:
    write(tmp_path / "jobico.toml", "[queue]\nfsync = true\n")
    write(tmp_path / ".env", "JOBICO_QUEUE_FSYNC=true\n")
    config = load_config(tmp_path, environ={"JOBICO_QUEUE_FSYNC": "false"})
    assert config.queue.fsync is False


def test_app_env_may_come_from_dotenv(tmp_path: Path) -> None:
    write(tmp_path / ".env", "APP_ENV=dev\n")
    write(tmp_path / ".env.dev", "export JOBICO_RECORDER_RETENTION_DAYS='30'\n")
    assert load_config(tmp_path, environ={}).recorder.retention_days == 30


@pytest.mark.parametrize(
    ("toml", "env", "needle"),
    [
        ("[listener]\nport = 'x'\n", {}, "listener.port: expected int, got 'x' (from "),
        ("[listener]\nport = 70000\n", {}, "listener.port = 70000 must be 0..65535"),
        ("[listener]\nbogus = 1\n", {}, "listener.bogus: unknown key in [listener]"),
        ("[nope]\na = 1\n", {}, "nope.a: unknown section [nope]"),
        ("", {"JOBICO_QUEUE_BACKEND": "kafka"}, "JOBICO_QUEUE_BACKEND"),
        ("", {"JOBICO_QUEUE_FSYNC": "maybe"}, "queue.fsync: expected bool"),
        ("[listener\n", {}, "jobico.toml"),
        ("[tenants.acme]\nrate = -1\n", {}, "tenants.acme.rate must not be negative"),
    ],
)
def test_errors_name_key_and_source(tmp_path: Path, toml: str, env: dict[str, str],
                                    needle: str) -> None:
    write(tmp_path / "jobico.toml", toml)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(tmp_path, environ=env)
    assert needle in str(info.value)


@pytest.mark.parametrize("line", ["not a valid line", 'JOBICO_LISTENER_PORT="unterminated', "=5"])
def test_bad_dotenv_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    write(tmp_path / ".env", f"# ok\n{line}\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        load_config(tmp_path, environ={})


@pytest.mark.parametrize(
    ("text", "port"),
    [
        ("JOBICO_LISTENER_PORT=9000  # dev\n", 9000),  # a comment after an unquoted value
        ("JOBICO_LISTENER_PORT='9000' # dev\n", 9000),  # after a quoted one
        ('export JOBICO_LISTENER_PORT="9000"\n', 9000),
        ("A=90\nJOBICO_LISTENER_PORT=${A}00\n", 9000),  # interpolation, as docker compose does
    ],
)
def test_dotenv_is_read_as_python_dotenv_reads_it(tmp_path: Path, text: str, port: int) -> None:
    write(tmp_path / ".env", text)
    config = load_config(tmp_path, environ={})
    assert config.listener.port == port
    assert config.sources["listener.port"] == f"{tmp_path / '.env'} JOBICO_LISTENER_PORT"


def test_dotenv_quoted_multiline_value(tmp_path: Path) -> None:
    write(tmp_path / ".env", 'JOBICO_LOG_FILE="first\nsecond"  # two lines\nJOBICO_LOG_LEVEL=debug\n')
    config = load_config(tmp_path, environ={})
    assert config.log.file == "first\nsecond"
    assert config.log.level == "debug"


def test_dotenv_key_without_value_declares_nothing(tmp_path: Path) -> None:
    write(tmp_path / ".env", "JOBICO_LISTENER_PORT\n")
    config = load_config(tmp_path, environ={})
    assert (config.listener.port, config.sources["listener.port"]) == (8080, "default")


def test_redis_backend_without_its_client_names_the_extra(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """coredis is the optional ``jobico[redis]`` extra: choosing the backend without it is a
    config error saying how to install it, not an ImportError in a restarting queue."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "coredis" else real(name, *a))
    write(tmp_path / "jobico.toml", '[queue]\nbackend = "redis"\nurl = "redis://127.0.0.1:1"\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert "pip install 'jobico[redis]'" in str(info.value)
    assert str(tmp_path / "jobico.toml") in str(info.value)
    assert load_config(tmp_path, environ={"JOBICO_QUEUE_BACKEND": "file"}).queue.backend == "file"


def test_tenant_quotas_and_default(tmp_path: Path) -> None:
    write(tmp_path / "jobico.toml",
          "[tenants.default]\nrate = 100\n[tenants.noisy]\nrate = 5.5\nmax_queue_depth = 10\n")
    config = load_config(tmp_path, environ={})
    assert config.quota("noisy").rate == 5.5
    assert config.quota("noisy").max_queue_depth == 10
    assert config.quota("quiet").rate == 100.0


def test_flags_round_trip_through_child_environment(tmp_path: Path) -> None:
    flags = {"listener.port": 9100, "queue.fsync": False}
    env = flags_as_env(flags)
    assert env == {"JOBICO_LISTENER_PORT": "9100", "JOBICO_QUEUE_FSYNC": "false"}
    config = load_config(tmp_path, environ=env)
    assert (config.listener.port, config.queue.fsync) == (9100, False)


def test_shown_masks_the_queue_password_that_components_still_get(tmp_path: Path) -> None:
    write(tmp_path / "jobico.toml", '[queue]\nbackend = "redis"\nurl = "redis://:s3cret@127.0.0.1:6379/0"\n')
    config = load_config(tmp_path, environ={})
    assert config.queue.url == "redis://:s3cret@127.0.0.1:6379/0"
    assert config.shown()["queue"]["url"] == "redis://:****@127.0.0.1:6379/0"
    assert config.to_dict()["queue"]["url"] == config.queue.url  # shown() copies, never masks in place


@pytest.mark.parametrize(
    ("cores", "listeners", "executors"),
    [(1, 1, 1), (2, 1, 1), (4, 1, 2), (8, 2, 4), (64, 16, 32), (256, 64, 64)],
)
def test_process_counts_default_to_the_cores_this_process_may_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int, listeners: int, executors: int
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(cores)))
    config = load_config(tmp_path, environ={})
    assert (config.listener.workers, config.executor.workers) == (listeners, executors)
    assert config.executor.max_concurrency == 4
    assert config.sources["executor.workers"] == f"default ({cores} cores)"
    assert config.sources["listener.workers"] == f"default ({cores} cores)"
    assert config.sources["executor.max_concurrency"] == "default"


def test_a_sized_default_gives_way_to_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(8)))
    write(tmp_path / "jobico.toml", "[executor]\nworkers = 1\n")
    config = load_config(tmp_path, environ={})
    assert config.executor.workers == 1 and config.listener.workers == 2
    assert config.sources["executor.workers"] == str(tmp_path / "jobico.toml")
