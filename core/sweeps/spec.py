"""Sweep profiles: one TOML file naming a base run profile and the runs to make from it.

A sweep is either a grid (``[grid]``: dotted keys with lists of values, the cartesian product in
file order), an explicit list (``[[runs]]``: a ``label`` and a ``set`` table of dotted keys), or a
study (``[search]``: core/sweeps/search.py reads it; its runs are asked for as it goes).
It is validated whole before anything runs: every expanded run is resolved through
``core.profiles`` exactly as ``--run`` resolves a profile, so a typo in run 9 of 11 is one clear
line in a second, not a crash after eight hours of training. Like profiles, an unknown key is an
error with a "did you mean", never a silent default.

Layers of one run, later wins: the base profile, the hyperparameter profile (if any), the run's
own settings (its ``set`` table or its grid point), then ``--set`` from the command line.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.config import TABLES, Profile
from core.errors import ProfileError
from core.profiles import (
    NAME_RE,
    SET_SOURCE,
    Layer,
    check_layer,
    overrides_layer,
    read_toml,
    resolve,
)
from core.values import flatten, nest, show_value

TOP_KEYS = ("name", "description", "base", "hparams", "grid", "runs", "search", "slurm")
RUN_KEYS = ("label", "set", "base", "hparams")
#: Short names used in grid labels ("lr=0.002" reads better than "learning_rate=0.002").
SHORT_NAMES = {"learning_rate": "lr", "batch_size": "batch"}
MAX_RUNS = 1000
MAX_LABEL = 80
SCHEMA = "cifar-tui/sweep/1"


@dataclass
class SweepError(ProfileError):
    """A mistake in a sweep file; ``where`` names the run or table that holds it."""

    where: str = ""

    def __str__(self) -> str:
        text = self.file + (f":{self.line}" if self.line else "")
        for part in (self.where, self.key):
            if part:
                text += f": {part}"
        return f"{text}: {self.message}"


@dataclass(frozen=True, eq=False)
class SweepRun:
    """One expanded run of a sweep: its settings and the profile they resolve to."""

    index: int  # from 1, in file order
    label: str
    overrides: dict[str, Any]  # the dotted keys the sweep file sets for this run
    base: Path
    hparams: Path | None
    profile: Profile


@dataclass(frozen=True, eq=False)
class Sweep:
    """A validated sweep: every run already resolved, nothing started."""

    path: Path
    name: str
    description: str
    runs: tuple[SweepRun, ...]
    overrides: tuple[str, ...] = ()  # --set items laid over every run
    #: A ``[search]`` sweep's core.sweeps.search.Search: its runs (none here) are the trials
    #: its study asks for as it goes.
    search: Any = None

    @property
    def planned(self) -> int:
        """How many runs the sweep makes in all: its runs, or its study's trials."""
        return self.search.trials if self.search is not None else len(self.runs)

    @property
    def digest(self) -> str:
        """8 hex digits of the expanded, resolved runs (a study's search and base): same runs,
        same sweep directory."""
        payload: Any = [{"label": r.label, "profile": r.profile.to_dict()} for r in self.runs]
        if self.search is not None:
            payload = self.search.fingerprint()
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def dir_name(self) -> str:
        return f"{self.name}-{self.digest}"


def load_sweep(
    path: str | os.PathLike[str],
    overrides: list[str] | tuple[str, ...] = (),
    *,
    check_data: bool = True,
) -> Sweep:
    """Read, expand and validate a sweep file; raises ProfileError (often SweepError)."""
    return _Reader(Path(path), read_toml(path)).sweep(tuple(overrides), check_data)


def run_name(base_name: str, label: str) -> str:
    """A run's profile name, so its run directory says which sweep run it holds."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.")
    if not slug:
        return base_name
    name = slug if slug == base_name or slug.startswith(base_name + "-") else f"{base_name}-{slug}"
    return name[:64].rstrip("-.")


# --- reading the file -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """Where something is written: its name in messages ("[[runs]] 2") and its lines."""

    where: str = ""
    span: tuple[int, int] | None = None  # None: the top of the file

    @property
    def header_line(self) -> int | None:
        """1-based line of the table's header: for what is missing from the table."""
        return self.span[0] + 1 if self.span else None


_TOP = _Place()


@dataclass
class _Spec:
    """A run before resolution: where it is written and what it sets."""

    index: int
    label: str
    at: _Place
    overrides: dict[str, Any]
    base: Path
    hparams: Path | None


@dataclass
class _SweepLayer(Layer):
    """A run's own settings as a profile layer; its key lines are found inside the run's span."""

    lines: list[str] = field(default_factory=list)
    span: tuple[int, int] | None = None

    def line_of(self, dotted: str) -> int | None:
        return _key_line(self.lines, self.span, dotted) if self.span else None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]")


def _headers(lines: list[str]) -> list[tuple[int, str, bool]]:
    """(line index, table name, is an array-of-tables header) for each table header."""
    found = []
    for number, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            name = m.group(2).replace(" ", "").replace('"', "")
            found.append((number, name, m.group(1) == "[["))
    return found


def _key_line(lines: list[str], span: tuple[int, int], dotted: str) -> int | None:
    """1-based line of ``dotted`` (or its last part) between span's lines, if written there."""
    last = dotted.rsplit(".", 1)[-1]
    patterns = [
        re.compile(rf"""(?:^|[{{,])\s*["']?{re.escape(dotted)}["']?\s*="""),
        re.compile(rf"""(?:^|[{{,.])\s*["']?{re.escape(last)}["']?\s*="""),
    ]
    start, end = span
    for pattern in patterns:
        for number in range(start, min(end, len(lines))):
            if pattern.search(lines[number]):
                return number + 1
    return None


def _suggest(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return show_value(value)


def _merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts merged, ``high`` winning (type mistakes are left for validation)."""
    out = copy.deepcopy(low)
    for key, value in high.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _short_names(keys: list[str]) -> dict[str, str]:
    """Each grid key as its labels name it: its last part, the whole key where two would clash."""
    short = {k: SHORT_NAMES.get(k.rsplit(".", 1)[-1], k.rsplit(".", 1)[-1]) for k in keys}
    clashes = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {k: (k if s in clashes else s) for k, s in short.items()}


class _Reader:
    """Checks one sweep file and expands it into resolved runs."""

    def __init__(self, path: Path, layer: Layer):
        self.path = path
        self.label = str(path)
        self.raw = layer.raw
        self.lines = layer.text.splitlines()
        self.headers = _headers(self.lines)
        self.folder = layer.base_dir
        self._layers: dict[Path, Layer] = {}

    # -- where things are written --------------------------------------------------------------

    @property
    def top_span(self) -> tuple[int, int]:
        first = self.headers[0][0] if self.headers else len(self.lines)
        return (0, first)

    def span_of(self, table: str, occurrence: int = 1) -> tuple[int, int] | None:
        """Lines of ``[table]`` (or the n-th ``[[table]]``) with its sub-tables."""
        starts = [pos for pos, (_, name, _) in enumerate(self.headers) if name == table]
        if not starts:  # [grid.train] with no [grid] above it opens the grid too
            prefix = table + "."
            starts = [
                pos for pos, (_, name, _) in enumerate(self.headers) if name.startswith(prefix)
            ]
            starts = starts[:1]
        if len(starts) < occurrence:
            return None
        pos = starts[occurrence - 1]
        end = len(self.lines)
        for later, later_name, _ in self.headers[pos + 1 :]:
            if not later_name.startswith(table + "."):
                end = later
                break
        return (self.headers[pos][0], end)

    def line_of(self, key: str | None, span: tuple[int, int] | None) -> int | None:
        if key is None:
            return None
        line = _key_line(self.lines, span, key) if span else None
        if line is None and span is not None and span != self.top_span:
            line = span[0] + 1  # the table's header
        if line is None:
            for number, name, _ in self.headers:
                if name == key:
                    return number + 1
        return line

    def fail(
        self,
        message: str,
        key: str | None = None,
        at: _Place = _TOP,
        line: int | None = None,
    ) -> SweepError:
        if line is None:
            line = self.line_of(key, at.span if at.span is not None else self.top_span)
        return SweepError(self.label, message, key=key, line=line, where=at.where)

    # -- the file ------------------------------------------------------------------------------

    def sweep(self, overrides: tuple[str, ...], check_data: bool) -> Sweep:
        raw = self.raw
        for key in raw:
            if key not in TOP_KEYS:
                raise self.fail(
                    "unknown key or table"
                    + _suggest(key, TOP_KEYS)
                    + "; allowed: name, description, base, hparams, [grid], [[runs]], [search], "
                    "[slurm]",
                    key=key,
                )
        if "slurm" in raw:  # where --slurm runs it: checked now, used then (core/sweeps/slurm.py)
            from core.sweeps.slurm import read_settings

            read_settings(self.path)
        name = self._name()
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise self.fail(f"must be a string, got {_show(description)}", key="description")
        base = self._file(raw["base"], "base") if "base" in raw else None
        hparams = self._file(raw["hparams"], "hparams") if "hparams" in raw else None
        if "search" in raw:  # an Optuna study (imported here: it builds on this module)
            from core.sweeps.search import read_search

            return read_search(self, name, description, base, hparams, overrides, check_data)
        if "grid" in raw and "runs" in raw:
            raise self.fail(
                "a sweep has either a [grid] or [[runs]], not both: "
                "keep the grid, or write each run out as [[runs]]",
                key="runs",
            )
        if "grid" in raw:
            specs = self._grid(base, hparams)
        elif "runs" in raw:
            specs = self._runs(base, hparams)
        else:
            raise self.fail(
                'no runs: add a [grid] table ("train.learning_rate" = [0.001, 0.002]) or '
                '[[runs]] tables (label = "sgd", set = { "train.optimizer" = "sgd" }), or a '
                "[search] table for a study"
            )
        cli = overrides_layer(list(overrides))
        cli_flat = check_layer(cli, tuple(TABLES))
        runs = tuple(self._resolve(spec, cli, cli_flat, check_data) for spec in specs)
        return Sweep(self.path, name, description, runs, overrides)

    def _name(self) -> str:
        if "name" not in self.raw:
            if not NAME_RE.match(self.path.stem):
                raise self.fail(
                    f'the file name "{self.path.stem}" cannot name the sweep directory; '
                    'add name = "..." (1-64 letters, digits, ".", "_" or "-")'
                )
            return self.path.stem
        name = self.raw["name"]
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise self.fail(
                "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
                f"(it names the sweep directory), got {_show(name)}",
                key="name",
            )
        return name

    def _file(self, value: Any, key: str, at: _Place = _TOP) -> Path:
        """A profile path, relative to the sweep file; it must exist."""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                "must be the path of a TOML profile, relative to this sweep file, "
                f"got {_show(value)}",
                key,
                at,
            )
        path = Path(os.path.expanduser(value))
        if not path.is_absolute():
            path = self.folder / path
        shown = os.path.normpath(path)
        if path.is_dir():
            raise self.fail(f'"{value}" is a directory ({shown}), not a profile', key, at)
        if not path.is_file():
            raise self.fail(
                f'no such file: "{value}" (looked for {shown}; paths are relative to the '
                "sweep file)",
                key,
                at,
            )
        return Path(shown)

    # -- [grid] --------------------------------------------------------------------------------

    def _grid(self, base: Path | None, hparams: Path | None) -> list[_Spec]:
        """The cartesian product of the grid's value lists, in file order."""
        axes = self._grid_axes()
        at = _Place("[grid]", self.span_of("grid"))
        for dotted, values in axes:
            self._check_axis(dotted, values, at)
        total = math.prod(len(values) for _, values in axes)
        if total > MAX_RUNS:
            raise self.fail(
                f"[grid] expands to {total} runs; a sweep may have at most {MAX_RUNS}",
                key="grid",
            )
        if base is None:
            raise self.fail(
                'a [grid] sweep needs base = "<run profile>" (relative to this file)', key="grid"
            )
        keys = [dotted for dotted, _ in axes]
        short = _short_names(keys)
        specs = []
        for index, combo in enumerate(itertools.product(*(v for _, v in axes)), start=1):
            settings = dict(zip(keys, combo, strict=True))
            label = " ".join(f"{short[k]}={show_value(v)}" for k, v in settings.items())
            run_at = _Place(f'[grid] run {index} "{label}"', at.span)
            specs.append(_Spec(index, label, run_at, settings, base, hparams))
        return specs

    def _grid_axes(self) -> list[tuple[str, Any]]:
        """The grid's (dotted key, values) pairs; the grid must be a non-empty table."""
        grid = self.raw["grid"]
        if not isinstance(grid, dict):
            raise self.fail(
                f'[grid] must be a table of "table.key" = [values], got {_show(grid)}',
                key="grid",
            )
        axes = list(flatten(grid).items())
        if not axes:
            raise self.fail(
                "[grid] is empty: give at least one key and the values to try, "
                'e.g. "train.learning_rate" = [0.001, 0.002]',
                key="grid",
            )
        return axes

    def _check_axis(self, dotted: str, values: Any, at: _Place) -> None:
        """One grid key: a non-empty list in which each value makes its own run."""
        if not isinstance(values, list):
            raise self.fail(
                f"must be a list of the values to try, e.g. [{_show(values)}], got {_show(values)}",
                dotted,
                at,
            )
        if not values:
            raise self.fail("is an empty list: give at least one value to try", dotted, at)
        shown = [show_value(v) for v in values]
        twice = sorted({s for s in shown if shown.count(s) > 1})
        if twice:
            raise self.fail(
                f"lists {twice[0]} more than once: each value makes one run", dotted, at
            )

    # -- [[runs]] ------------------------------------------------------------------------------

    def _runs(self, base: Path | None, hparams: Path | None) -> list[_Spec]:
        """Each [[runs]] table, in file order."""
        runs = self.raw["runs"]
        if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
            raise self.fail(
                "must be one or more [[runs]] tables, each with a label and a set table, "
                f"got {_show(runs)}",
                key="runs",
            )
        labels: dict[str, int] = {}  # label -> the run that has it
        return [
            self._run(index, entry, labels, base, hparams)
            for index, entry in enumerate(runs, start=1)
        ]

    def _run(
        self,
        index: int,
        entry: dict[str, Any],
        labels: dict[str, int],
        base: Path | None,
        hparams: Path | None,
    ) -> _Spec:
        """One [[runs]] table: its keys, its label, its settings and the profiles under them."""
        at = _Place(f"[[runs]] {index}", self.span_of("runs", index))
        for key in entry:
            if key not in RUN_KEYS:
                raise self.fail(
                    "unknown key in [[runs]]"
                    + _suggest(key, RUN_KEYS)
                    + "; allowed: "
                    + ", ".join(RUN_KEYS),
                    key,
                    at,
                )
        label = self._run_label(entry, labels, at)
        labels[label] = index
        at = replace(at, where=f'[[runs]] {index} "{label}"')
        settings = entry.get("set", {})
        if not isinstance(settings, dict):
            raise self.fail(
                'must be a table of "table.key" = value, e.g. { "train.optimizer" = "sgd" }, '
                f"got {_show(settings)}",
                "set",
                at,
            )
        run_base = self._file(entry["base"], "base", at) if "base" in entry else base
        if run_base is None:
            raise self.fail(
                'no base profile: add base = "<run profile>" at the top of the file or in this run',
                at=at,
                line=at.header_line,
            )
        run_hparams = self._file(entry["hparams"], "hparams", at) if "hparams" in entry else hparams
        return _Spec(index, label, at, flatten(settings), run_base, run_hparams)

    def _run_label(self, entry: dict[str, Any], labels: dict[str, int], at: _Place) -> str:
        """A run's label: present, one short line, and not another run's."""
        if "label" not in entry:
            raise self.fail(
                'missing key "label" (a short name for the run, e.g. "sgd")',
                at=at,
                line=at.header_line,
            )
        label = entry["label"]
        if (
            not isinstance(label, str)
            or not label.strip()
            or len(label) > MAX_LABEL
            or "\n" in label
        ):
            raise self.fail(
                f"must be a non-empty one-line string of at most {MAX_LABEL} characters, "
                f"got {_show(label)}",
                "label",
                at,
            )
        if label in labels:
            raise self.fail(
                f'"{label}" is already the label of [[runs]] {labels[label]}: '
                "each run needs its own",
                "label",
                at,
            )
        return label

    # -- one run -------------------------------------------------------------------------------

    def _read(self, path: Path) -> Layer:
        if path not in self._layers:
            self._layers[path] = read_toml(path)
        return self._layers[path]

    def _resolve(
        self, spec: _Spec, cli: Layer, cli_flat: dict[str, Any], check_data: bool
    ) -> SweepRun:
        """The run's profile, resolved exactly as ``--run`` resolves one."""
        layer, run_flat = self._own_layer(spec)
        layers = [self._read(spec.base)]
        if spec.hparams is not None:
            layers.append(replace(self._read(spec.hparams), hparams=True))
        # The run's settings and --set go in last as one layer; _blame then points an error
        # at the run or at --set, whichever set the key.
        combined = _merge(layer.raw, cli.raw)
        if combined:
            layers.append(Layer(SET_SOURCE, combined))
        try:
            profile = resolve(layers, check_data=check_data)
        except ProfileError as exc:
            raise self._blame(exc, spec, layer, run_flat, cli_flat) from None
        if "name" not in run_flat and "name" not in cli_flat:
            profile = replace(profile, name=run_name(profile.name, spec.label))
        return SweepRun(spec.index, spec.label, spec.overrides, spec.base, spec.hparams, profile)

    def _own_layer(self, spec: _Spec) -> tuple[_SweepLayer, dict[str, Any]]:
        """The run's own settings as a checked layer, and their flat form."""
        try:
            raw = nest(spec.overrides)
        except ValueError as exc:
            raise self.fail(
                "conflicts with another key of this run that sets its table to a value; "
                'write each setting once, as "table.key" = value',
                str(exc),
                spec.at,
            ) from None
        layer = _SweepLayer(
            f"{self.label} {spec.at.where}",
            raw,
            base_dir=self.folder,
            lines=self.lines,
            span=spec.at.span,
        )
        try:
            run_flat = check_layer(layer, tuple(TABLES))
        except ProfileError as exc:
            raise SweepError(
                self.label, exc.message, key=exc.key, line=exc.line, where=spec.at.where
            ) from None
        path = run_flat.get("data.path")
        if path and not Path(os.path.expanduser(path)).is_absolute():
            # relative to the sweep file; ".." made absolute as written, links kept
            raw["data"]["path"] = os.path.abspath(self.folder / path)
        return layer, run_flat

    def _blame(
        self,
        exc: ProfileError,
        spec: _Spec,
        layer: _SweepLayer,
        run_flat: dict[str, Any],
        cli_flat: dict[str, Any],
    ) -> ProfileError:
        """Point a resolution error at the sweep run, --set, or the base profile it came from."""
        if exc.file == SET_SOURCE:
            if exc.key is None or exc.key in cli_flat or exc.key not in run_flat:
                return exc
            return SweepError(
                self.label,
                exc.message,
                key=exc.key,
                line=layer.line_of(exc.key),
                where=spec.at.where,
            )
        return SweepError(
            exc.file,
            f"{exc.message} (in {self.label} {spec.at.where})",
            key=exc.key,
            line=exc.line,
        )
