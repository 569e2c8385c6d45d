"""Small helpers shared by several test modules (not tests themselves)."""

from __future__ import annotations

import math


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text`` as a list of rows keyed by header."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            header, _, *rows = block
            tables.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return tables


def assert_progress_shows_each_epoch_complete(progress: list, epochs: int) -> None:
    """Steps only move forward within an epoch, and each epoch's last progress event is
    steps/steps with that batch's (finite) loss."""
    for epoch in range(1, epochs + 1):
        mine = [p for p in progress if p.epoch == epoch]
        assert mine, f"no progress in epoch {epoch}"
        steps = [p.step for p in mine]
        assert steps == sorted(steps) and all(0 < s <= mine[0].steps for s in steps), steps
        assert mine[-1].step == mine[-1].steps and math.isfinite(mine[-1].loss), mine[-1]
