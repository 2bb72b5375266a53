"""Run a command and write its peak resident memory (KiB) to a file: ``python -m benchmarks.peak_rss FILE CMD...``.

The benchmark cannot take a child's peak from its own ``wait4``: a child
forked from the benchmark starts with the benchmark's pages mapped, and Linux
keeps that size in the child's ``ru_maxrss`` across ``exec``, so a sender
started late in a run looked as large as the benchmark had grown. Forked from
this small process instead, the command's peak is its own.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    output, command = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:
        os.execvp(command[0], command)
    _, status, usage = os.wait4(pid, 0)
    with open(output, "w") as peak:
        peak.write(f"{usage.ru_maxrss}\n")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
