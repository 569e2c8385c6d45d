"""The sweep file reader every kind of sweep builds on, and what reading one gives.

``SweepReader`` knows where things are written in the file (tables, keys, their lines), turns a
mistake into one located ``SweepError``, and resolves one run exactly as ``--run`` resolves a
profile. The kinds of sweep use it: ``grid.py`` (``[grid]`` and ``[[runs]]``), ``search.py``
(``[search]``), ``slurm.py`` (``[slurm]``); ``spec.py`` reads the file and picks the kind.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.config import TABLES, Profile
from core.errors import ProfileError
from core.profiles import NAME_RE, SET_SOURCE, Layer, check_layer, read_toml, resolve
from core.values import nest, show

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


def run_name(base_name: str, label: str) -> str:
    """A run's profile name, so its run directory says which sweep run it holds."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.")
    if not slug:
        return base_name
    name = slug if slug == base_name or slug.startswith(base_name + "-") else f"{base_name}-{slug}"
    return name[:64].rstrip("-.")


@dataclass(frozen=True)
class Place:
    """Where something is written: its name in messages ("[[runs]] 2") and its lines."""

    where: str = ""
    span: tuple[int, int] | None = None  # None: the top of the file

    @property
    def header_line(self) -> int | None:
        """1-based line of the table's header: for what is missing from the table."""
        return self.span[0] + 1 if self.span else None


TOP = Place()


@dataclass
class Spec:
    """A run before resolution: where it is written and what it sets."""

    index: int
    label: str
    at: Place
    overrides: dict[str, Any]
    base: Path
    hparams: Path | None


@dataclass
class SweepLayer(Layer):
    """A run's own settings as a profile layer; its key lines are found inside the run's span."""

    lines: list[str] = field(default_factory=list)
    span: tuple[int, int] | None = None

    def line_of(self, dotted: str) -> int | None:
        return key_line(self.lines, self.span, dotted) if self.span else None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]")


def headers(lines: list[str]) -> list[tuple[int, str, bool]]:
    """(line index, table name, is an array-of-tables header) for each table header."""
    found = []
    for number, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            name = m.group(2).replace(" ", "").replace('"', "")
            found.append((number, name, m.group(1) == "[["))
    return found


def key_line(lines: list[str], span: tuple[int, int], dotted: str) -> int | None:
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


def merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts merged, ``high`` winning (type mistakes are left for validation)."""
    out = copy.deepcopy(low)
    for key, value in high.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class SweepReader:
    """Checks one sweep file and expands it into resolved runs."""

    def __init__(self, path: Path, layer: Layer):
        self.path = path
        self.label = str(path)
        self.raw = layer.raw
        self.lines = layer.text.splitlines()
        self.headers = headers(self.lines)
        self.folder = layer.base_dir
        self._layers: dict[Path, Layer] = {}
        self._header_starts: dict[str, list[int]] | None = None

    # -- where things are written --------------------------------------------------------------

    @property
    def top_span(self) -> tuple[int, int]:
        first = self.headers[0][0] if self.headers else len(self.lines)
        return (0, first)

    def span_of(self, table: str, occurrence: int = 1) -> tuple[int, int] | None:
        """Lines of ``[table]`` (or the n-th ``[[table]]``) with its sub-tables."""
        starts = self._starts().get(table, [])
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

    def _starts(self) -> dict[str, list[int]]:
        """Each header name's positions among the headers, found in one pass (looking them up
        per run made a file of 20,000 [[runs]] take seconds per thousand runs)."""
        if self._header_starts is None:
            self._header_starts = {}
            for pos, (_, name, _) in enumerate(self.headers):
                self._header_starts.setdefault(name, []).append(pos)
        return self._header_starts

    def line_of(self, key: str | None, span: tuple[int, int] | None) -> int | None:
        if key is None:
            return None
        line = key_line(self.lines, span, key) if span else None
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
        at: Place = TOP,
        line: int | None = None,
    ) -> SweepError:
        if line is None:
            line = self.line_of(key, at.span if at.span is not None else self.top_span)
        return SweepError(self.label, message, key=key, line=line, where=at.where)

    # -- the file ------------------------------------------------------------------------------

    def name(self) -> str:
        if "name" not in self.raw:
            if not NAME_RE.fullmatch(self.path.stem):
                raise self.fail(
                    f'the file name "{self.path.stem}" cannot name the sweep directory; '
                    'add name = "..." (1-64 letters, digits, ".", "_" or "-")'
                )
            return self.path.stem
        name = self.raw["name"]
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise self.fail(
                "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
                f"(it names the sweep directory), got {show(name)}",
                key="name",
            )
        return name

    def file(self, value: Any, key: str, at: Place = TOP) -> Path:
        """A profile path, relative to the sweep file; it must exist."""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                "must be the path of a TOML profile, relative to this sweep file, "
                f"got {show(value)}",
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

    # -- one run -------------------------------------------------------------------------------

    def _read(self, path: Path) -> Layer:
        if path not in self._layers:
            self._layers[path] = read_toml(path)
        return self._layers[path]

    def resolve(
        self, spec: Spec, cli: Layer, cli_flat: dict[str, Any], check_data: bool
    ) -> SweepRun:
        """The run's profile, resolved exactly as ``--run`` resolves one."""
        layer, run_flat = self._own_layer(spec)
        layers = [self._read(spec.base)]
        if spec.hparams is not None:
            layers.append(replace(self._read(spec.hparams), hparams=True))
        # The run's settings and --set go in last as one layer; _blame then points an error
        # at the run or at --set, whichever set the key.
        combined = merge(layer.raw, cli.raw)
        if combined:
            layers.append(Layer(SET_SOURCE, combined))
        try:
            profile = resolve(layers, check_data=check_data)
        except ProfileError as exc:
            raise self._blame(exc, spec, layer, run_flat, cli_flat) from None
        if "name" not in run_flat and "name" not in cli_flat:
            profile = replace(profile, name=run_name(profile.name, spec.label))
        return SweepRun(spec.index, spec.label, spec.overrides, spec.base, spec.hparams, profile)

    def _own_layer(self, spec: Spec) -> tuple[SweepLayer, dict[str, Any]]:
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
        layer = SweepLayer(
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
        spec: Spec,
        layer: SweepLayer,
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
