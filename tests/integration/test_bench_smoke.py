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


def test_load_benchmark_section_is_complete_and_keeps_the_rest(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Run of earlier\n\nkept as it is\n")
    xmppext = Path(sys.executable).parent / "xmppext"
    options = ["--pairs", "10", "--servers", "prosody", "--duration", "2", "--many-pairs", "5", "--burst", "300"]
    options += ["--many-duration", "2", "--many-runs", "1:2", "16:1"]
    command = [sys.executable, "-m", "benchmarks.load", "--xmppext", str(xmppext), *options, "--no-tsung"]
    result = subprocess.run([*command, "--output", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = output.read_text()
    assert report.startswith("# Benchmarks\n\n## Run of earlier\n\nkept as it is\n")
    for part in (
        "## Load: `xmppext load`",
        "(L1) 20 sessions",
        "(L2) Logins per second",
        "(L3) 5 pairs",
        "| prosody: single pair, window 64 (before) |",
        "| prosody: single pair, window 64 (after) |",
        "| prosody: 5 pairs, window 1 each, 2 processes |",
        "| prosody: 5 pairs, window 16 each, 1 process |",
        "Goals (issue 22):",
    ):
        assert part in report
    assert "| sessions logged in | 20 / 20 |" in report
    assert "(L4) not measured" in report


def test_locust_benchmark_section_is_complete_and_keeps_the_rest(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Run of earlier\n\nkept as it is\n")
    xmppext = Path(sys.executable).parent / "xmppext"
    command = [sys.executable, "-m", "benchmarks.locust", "--xmppext", str(xmppext), "--pairs", "2", "--duration", "6"]
    result = subprocess.run([*command, "--output", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr
    report = output.read_text()
    assert "## Run of earlier\n\nkept as it is\n" in report
    for part in (
        "## Locust and a clustered ejabberd (issue 23)",
        "| (a) `xmppext load`, 2 processes, one node |",
        "| (b) Locust master + 2 workers, one node |",
        "| (c) `xmppext load --local --nodes 2`, every exchange across the cluster |",
        "| (d) Locust master + 2 workers, two-node cluster, pairs split |",
        "- The bridge (b against a):",
        "- The cluster (c):",
    ):
        assert part in report
