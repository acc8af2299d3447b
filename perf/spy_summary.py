"""Summarise py-spy collapsed stacks (``bench.py --profile DIR``): where each component's time goes.

    .venv/bin/python perf/spy_summary.py DIR [--top 15]

For each file: samples, then the functions with the most samples at the top of the
stack (self) and anywhere in it (inclusive), as shares of the samples. Idle threads
(blocked in epoll or a lock wait) are sampled too, so self time in ``poll`` or
``acquire`` is waiting, not work.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def _function(frame: str) -> str:
    """``name (path/file.py:line)`` -> ``name (file.py)``: lines of one function add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':', 1)[0]})" if where else name


def summarise(path: Path, top: int) -> str:
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [_function(f) for f in stack.split(";")[1:]]  # the first frame is the thread
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            anywhere[frame] += n
    lines = [f"== {path.name}: {total} samples"]
    for title, counter in (("self", own), ("inclusive", anywhere)):
        lines.append(f"  -- {title}")
        lines += [f"  {n / total:6.1%}  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for path in sorted(args.dir.glob("*.txt")):
        if path.stat().st_size:
            print(summarise(path, args.top))


if __name__ == "__main__":
    main()
