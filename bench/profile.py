"""Summarise a py-spy collapsed-stack file (``--format raw``, written by ``python -m bench --profile DIR``).

    python -m bench.profile DIR/worker-import-full-50000.txt [--top 25] [--filter tgflow/]

Prints, as % of the main thread's samples (py-spy ran with ``--idle``, so % of the event loop's wall
time; a blocking store call shows as the loop waiting):
the functions with the largest inclusive share (optionally only frames whose file matches
``--filter``) and the largest self share (leaf frames).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def summarise(path: Path, top: int, needle: str | None, main_only: bool = True) -> str:
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if main_only and not frames[0].startswith("_run_module_as_main"):
            continue
        total += n
        threads[frames[0].split(" (")[0]] += n
        seen = set()
        for frame in frames[1:] if frames[0].startswith(("thread", "process")) else frames:
            key = short(frame)
            if needle and needle not in frame:
                continue
            if key not in seen:
                inclusive[key] += n
                seen.add(key)
        self_[short(frames[-1])] += n
    if not total:
        return f"{path}: no samples"
    out = [f"{path.name}: {total} samples" + (" (main thread)" if main_only else "")]
    out.append("\ninclusive (% of samples)" + (f", frames matching {needle!r}" if needle else ""))
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in inclusive.most_common(top)]
    out.append("\nself (% of samples)")
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in self_.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--all-threads", action="store_true",
                        help="count every thread (default: the main thread, i.e. the event loop)")
    parser.add_argument("--filter", default=None, help="only frames whose file contains this (inclusive list)")
    args = parser.parse_args()
    print(summarise(args.path, args.top, args.filter, not args.all_threads))


if __name__ == "__main__":
    main()
