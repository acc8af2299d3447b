from __future__ import annotations

import os
from pathlib import Path

from jobico.procs import TICKS_PER_S
from tui.procstat import ProcSampler


def test_cpu_percent_from_two_samples(tmp_path: Path) -> None:
    proc = tmp_path / "7"
    proc.mkdir()
    (proc / "statm").write_text("1000 256 0 0 0 0 0")
    sampler = ProcSampler(tmp_path)
    (proc / "stat").write_text(f"7 (x) S {' '.join(['0'] * 10)} 0 0")
    assert sampler.sample(7, 1.0)[0] is None
    (proc / "stat").write_text(f"7 (x) S {' '.join(['0'] * 10)} {TICKS_PER_S // 2} 0")
    cpu, rss = sampler.sample(7, 2.0)
    assert cpu == 50.0
    assert rss == 256 * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_missing_process_gives_no_figures_instead_of_an_error(tmp_path: Path) -> None:
    assert ProcSampler(tmp_path).sample(99, 1.0) == (None, None)


def test_this_process_has_memory() -> None:
    assert ProcSampler().sample(os.getpid(), 1.0)[1] > 0
