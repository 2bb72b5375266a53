"""The run as charts: latency over time, the percentile distribution, throughput, CPU.

``--report run.html`` writes one self-contained page (the summary and the
charts as inline SVG: no script, nothing fetched); ``--report run.png`` one
image with the four charts. Drawn with matplotlib, the optional extra
``xmppext[report]`` (it brings numpy): imported only when a report is asked for.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from xmpp_ext.load.coordinator import LoadOutcome

FORMATS = (".html", ".png")
INSTALL_HINT = "the report needs matplotlib: pip install 'xmppext[report]'"
#: Percentiles marked on the distribution chart's axis.
TAIL_MARKS = (50.0, 90.0, 99.0, 99.9, 99.99, 99.999)


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_report(path: Path, outcome: LoadOutcome, title: str, summary_lines: list[str]) -> None:
    """Write the report in the format ``path``'s suffix names (.html or .png)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    if path.suffix.lower() == ".png":
        figure = _figure(outcome, title)
        figure.savefig(path, dpi=110)
        _close(figure)
        return
    charts = []
    for draw in (_latency_over_time, _distribution, _throughput, _cpu):
        figure, axes = _single()
        draw(axes, outcome)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        _close(figure)
        charts.append(buffer.getvalue()[buffer.getvalue().index("<svg") :])
    rows = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} li{{font-family:monospace;list-style:none}}
.charts{{display:grid;grid-template-columns:1fr 1fr;gap:1em}} svg{{width:100%;height:auto}}</style></head>
<body><h1>{html.escape(title)}</h1><ul>{rows}</ul><div class="charts">{"".join(charts)}</div></body></html>
"""
    path.write_text(page, encoding="utf-8")


def _single():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    return figure, figure.subplots()


def _figure(outcome: LoadOutcome, title: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 8.5))
    grid = figure.subplots(2, 2)
    for axes, draw in zip(grid.flat, (_latency_over_time, _distribution, _throughput, _cpu), strict=True):
        draw(axes, outcome)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _close(figure) -> None:
    figure.clear()


def _integer_seconds(axes) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _seconds(outcome: LoadOutcome) -> list[int]:
    first = outcome.series[0].second if outcome.series else 0
    return [second.second - first for second in outcome.series]


def _shade_run(axes, outcome: LoadOutcome) -> None:
    """Grey behind the seconds spent logging in (before the exchanging started); whole seconds on the axis."""
    _integer_seconds(axes)
    seconds = _seconds(outcome)
    login = [x for x, second in zip(seconds, outcome.series, strict=True) if second.phase in ("login", "ready")]
    if login:
        axes.axvspan(min(login) - 0.5, max(login) + 0.5, color="0.9", label="logging in")


def _latency_over_time(axes, outcome: LoadOutcome) -> None:
    seconds = _seconds(outcome)
    _shade_run(axes, outcome)
    for name, label in (("max_ms", "max"), ("p99_ms", "p99"), ("p50_ms", "p50")):
        values = [getattr(second, name) for second in outcome.series]
        points = [(x, value) for x, value in zip(seconds, values, strict=True) if value is not None]
        if points:
            axes.plot(*zip(*points, strict=True), marker=".", label=label)
    axes.set_yscale("log")
    axes.set_title("Exchange latency per second")
    axes.set_xlabel("seconds")
    axes.set_ylabel("ms")
    axes.legend(loc="upper left")
    axes.grid(True, which="both", alpha=0.3)


def _distribution(axes, outcome: LoadOutcome) -> None:
    points = [(percentile, ms) for percentile, ms in outcome.exchanges.distribution() if percentile < 100.0]
    axes.set_title("Latency by percentile (whole run)")
    if points:
        axes.plot([1.0 / (1.0 - p / 100.0) for p, _ in points], [ms for _, ms in points], label="exchanges")
    logins = [(percentile, ms) for percentile, ms in outcome.login_times.distribution() if percentile < 100.0]
    if logins:
        axes.plot([1.0 / (1.0 - p / 100.0) for p, _ in logins], [ms for _, ms in logins], label="logins")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks([1.0 / (1.0 - mark / 100.0) for mark in TAIL_MARKS])
    axes.set_xticklabels([f"{mark:g}%" for mark in TAIL_MARKS])
    axes.minorticks_off()
    axes.set_xlabel("percentile")
    axes.set_ylabel("ms")
    axes.legend(loc="upper left")
    axes.grid(True, which="both", alpha=0.3)


def _throughput(axes, outcome: LoadOutcome) -> None:
    seconds = _seconds(outcome)
    _shade_run(axes, outcome)
    axes.plot(seconds, [second.ok for second in outcome.series], marker=".", label="exchanges/s")
    axes.plot(seconds, [second.logins for second in outcome.series], marker=".", label="logins/s")
    errors = [second.failed + second.lost for second in outcome.series]
    if any(errors):
        axes.plot(seconds, errors, marker="x", color="red", label="failed + lost /s")
    axes.set_title("Throughput")
    axes.set_xlabel("seconds")
    axes.set_ylabel("per second")
    twin = axes.twinx()
    twin.plot(seconds, [second.up for second in outcome.series], color="0.5", linestyle="--", label="sessions")
    twin.set_ylabel("sessions")
    twin.set_ylim(bottom=0)
    lines, labels = axes.get_legend_handles_labels()
    twin_lines, twin_labels = twin.get_legend_handles_labels()
    axes.legend(lines + twin_lines, labels + twin_labels, loc="upper left")
    axes.grid(True, alpha=0.3)


def _cpu(axes, outcome: LoadOutcome) -> None:
    seconds = _seconds(outcome)
    _shade_run(axes, outcome)
    axes.plot(seconds, [second.generator_cpu * 100 for second in outcome.series], label="generator (all workers)")
    pairs = zip(seconds, outcome.series, strict=True)
    server = [(x, second.server_cpu * 100) for x, second in pairs if second.server_cpu is not None]
    if server:
        axes.plot(*zip(*server, strict=True), label="local server")
    axes.set_title("CPU (100% = one core)")
    axes.set_xlabel("seconds")
    axes.set_ylabel("%")
    axes.legend(loc="upper left")
    axes.grid(True, alpha=0.3)
