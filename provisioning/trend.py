"""The trend over the last audits: a short history kept beside the reports, drawn as an inline SVG.

Each audit appends its finish time and its count per state; the report shows drifted, clean and
pending per run, so a platform lead sees at a glance whether things get better.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provisioning.audit import AuditReport

KEEP = 30  # audits kept in the history
DRAWN = ("drifted", "clean", "pending")
COLOURS = {"drifted": "#d97706", "clean": "#15803d", "pending": "#2563eb"}


def appended(history_text: str | None, report: AuditReport) -> list[dict[str, Any]]:
    """The history with this audit added (oldest first, at most ``KEEP``). A history that cannot be
    read starts again rather than failing the audit that found real drift."""
    try:
        history = json.loads(history_text) if history_text else []
    except ValueError:
        history = []
    if not isinstance(history, list):
        history = []
    history.append({"finished": report.finished.isoformat(), "counts": report.counts()})
    return history[-KEEP:]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lines: tuple[tuple[str, str, str], ...]  # (state, colour, SVG points)
    labels: tuple[tuple[float, str], ...]  # (x, the audit's date) under each run
    top: int  # the largest count, written on the axis


def chart(history: list[dict[str, Any]], *, width: int = 640, height: int = 160) -> Chart:
    runs = history[-KEEP:]
    top = max([1, *(int(run["counts"].get(state, 0)) for run in runs for state in DRAWN)])
    step = (width - 60) / max(1, len(runs) - 1)

    def x(index: int) -> float:
        return 40 + index * step

    def y(value: int) -> float:
        return 10 + (height - 40) * (1 - value / top)

    lines = tuple(
        (
            state,
            COLOURS[state],
            " ".join(f"{x(i):.1f},{y(int(run['counts'].get(state, 0))):.1f}" for i, run in enumerate(runs)),
        )
        for state in DRAWN
    )
    labels = tuple((x(i), str(run["finished"])[5:16].replace("T", " ")) for i, run in enumerate(runs))
    return Chart(width, height, lines, labels, top)
