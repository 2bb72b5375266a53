"""scripts/bench's machinery runs end to end (tiny numbers; no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_report_is_complete(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    xmppext = Path(sys.executable).parent / "xmppext"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--xmppext",
            str(xmppext),
            "--count",
            "300",
            "--sequential",
            "30",
            "--runs",
            "1",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = output.read_text()
    rows = (
        "(a) pipelined",
        "(b) sequential",
        "(c) one tagged message",
        "(c') of which",
        "(d) peak memory",
        "(e) (a) with",
        "(f) (a) without stream management on either side",
    )
    for row in rows:
        assert row in report
    assert "(0 lost, 0 failed)" in report
    assert "- CPU: " in report and "Targets (issue 7):" in report
