"""Sweep profiles: one TOML file naming a base run profile and the runs to make from it.

A sweep is either a grid (``[grid]``: dotted keys with lists of values, the cartesian product in
file order), an explicit list (``[[runs]]``: a ``label`` and a ``set`` table of dotted keys), or a
study (``[search]``: core/sweeps/search.py reads it; its runs are asked for as it goes).
This module reads the file and picks the kind: ``reader.py`` is the reader they share, ``grid.py``
holds the grid and the runs list, ``search.py`` the study, ``slurm.py`` the ``[slurm]`` table.
It is validated whole before anything runs: every expanded run is resolved through
``core.profiles`` exactly as ``--run`` resolves a profile, so a typo in run 9 of 11 is one clear
line in a second, not a crash after eight hours of training. Like profiles, an unknown key is an
error with a "did you mean", never a silent default.

Layers of one run, later wins: the base profile, the hyperparameter profile (if any), the run's
own settings (its ``set`` table or its grid point), then ``--set`` from the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.config import TABLES
from core.profiles import check_layer, overrides_layer, read_toml
from core.sweeps.grid import MAX_RUNS, RUN_KEYS, SHORT_NAMES, grid_specs, runs_specs
from core.sweeps.reader import SCHEMA, Sweep, SweepError, SweepReader, SweepRun, run_name
from core.sweeps.search import read_search
from core.values import show, suggest

__all__ = [
    "MAX_RUNS",
    "RUN_KEYS",
    "SCHEMA",
    "SHORT_NAMES",
    "TOP_KEYS",
    "Sweep",
    "SweepError",
    "SweepRun",
    "load_sweep",
    "read_sweep",
    "run_name",
]

TOP_KEYS = ("name", "description", "base", "hparams", "grid", "runs", "search", "slurm")


def load_sweep(
    path: str | os.PathLike[str],
    overrides: list[str] | tuple[str, ...] = (),
    *,
    check_data: bool = True,
) -> Sweep:
    """Read, expand and validate a sweep file; raises ProfileError (often SweepError)."""
    return read_sweep(SweepReader(Path(path), read_toml(path)), tuple(overrides), check_data)


def read_sweep(reader: SweepReader, overrides: tuple[str, ...], check_data: bool) -> Sweep:
    """The file's kind of sweep, read: a grid, a list of runs or a study; [slurm] checked."""
    raw = reader.raw
    for key in raw:
        if key not in TOP_KEYS:
            raise reader.fail(
                "unknown key or table"
                + suggest(key, TOP_KEYS)
                + "; allowed: name, description, base, hparams, [grid], [[runs]], [search], "
                "[slurm]",
                key=key,
            )
    if "slurm" in raw:  # where --slurm runs it: checked now, used then (core/sweeps/slurm.py)
        from core.sweeps.slurm import read_settings  # here: only a [slurm] file needs it

        read_settings(reader.path)
    name = reader.name()
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise reader.fail(f"must be a string, got {show(description)}", key="description")
    base = reader.file(raw["base"], "base") if "base" in raw else None
    hparams = reader.file(raw["hparams"], "hparams") if "hparams" in raw else None
    if "search" in raw:  # an Optuna study
        return read_search(reader, name, description, base, hparams, overrides, check_data)
    if "grid" in raw and "runs" in raw:
        raise reader.fail(
            "a sweep has either a [grid] or [[runs]], not both: "
            "keep the grid, or write each run out as [[runs]]",
            key="runs",
        )
    if "grid" in raw:
        specs = grid_specs(reader, base, hparams)
    elif "runs" in raw:
        specs = runs_specs(reader, base, hparams)
    else:
        raise reader.fail(
            'no runs: add a [grid] table ("train.learning_rate" = [0.001, 0.002]) or '
            '[[runs]] tables (label = "sgd", set = { "train.optimizer" = "sgd" }), or a '
            "[search] table for a study"
        )
    cli = overrides_layer(list(overrides))
    cli_flat = check_layer(cli, tuple(TABLES))
    runs = tuple(reader.resolve(spec, cli, cli_flat, check_data) for spec in specs)
    return Sweep(reader.path, name, description, runs, overrides)
