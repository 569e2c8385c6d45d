"""A sweep's ``[search]`` table: an Optuna study instead of a fixed list of runs.

```toml
[search]
trials = 20                 # how many trials in all
method = "tpe"              # "tpe" | "random"
objective = "val_accuracy"  # or "val_loss"; the direction follows from the metric
pruner = "median"           # "none" | "median" | "hyperband"
seed = 0
[search.space]
"train.learning_rate" = { log_uniform = [1e-4, 1e-2] }
"train.optimizer" = { choice = ["adam", "sgd"] }
```

It is checked as strictly as a profile, before anything runs: every key of the space must be a
profile key, its bounds inside what the key takes, a choice's values each valid, and the space
must not hold a key that ``--set`` fixes. Every corner of the space (each bound and each choice,
the other keys at their first) is then resolved as a run, so a cross-key mistake (an input size
too small for the model, a batch too large for the data) is one line now, not a crashed trial
later. Trials are resolved like any sweep run: the base profile, the hyperparameter profile, the
trial's settings, then ``--set``. The study itself (core/sweeps/study.py) asks for them.

This module imports no Optuna: reading a sweep file stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.config import TABLES, Profile, check_value, describe_allowed
from core.profiles import check_layer, overrides_layer
from core.sweeps.reader import Place, Spec, Sweep, SweepReader, SweepRun
from core.values import show, show_value, suggest

SEARCH_KEYS = (
    "trials",
    "method",
    "objective",
    "pruner",
    "seed",
    "startup_trials",
    "warmup_epochs",
    "space",
)
METHODS = ("tpe", "random")
#: The objective's metric and the direction that is better for it.
OBJECTIVES = {"val_accuracy": "maximize", "val_loss": "minimize"}
PRUNERS = ("none", "median", "hyperband")
KINDS = ("log_uniform", "uniform", "choice")
MAX_TRIALS = 1000
#: Profile key kinds a range can be searched over (the rest take a choice).
INT_KINDS = ("int", "int_or_auto", "int_or_all")
RANGE_KINDS = (*INT_KINDS, "float")
#: Defaults of the optional keys.
DEFAULTS = {
    "method": "tpe",
    "objective": "val_accuracy",
    "pruner": "median",
    "seed": 0,
    "warmup_epochs": 1,
}


@dataclass(frozen=True)
class Dimension:
    """One searched key: a range (log-uniform or uniform) or a choice of values."""

    key: str
    kind: str  # one of KINDS
    values: tuple[Any, ...]  # (low, high), or the choices
    integer: bool = False  # a range over an integer key: trials draw integers

    @property
    def corners(self) -> tuple[Any, ...]:
        """The values that bound what a trial may get: both ends, or every choice."""
        return self.values

    def describe(self) -> str:
        """ "log-uniform 0.0001..0.01", "one of adam, sgd": for headers and summaries."""
        if self.kind == "choice":
            return "one of " + ", ".join(show_value(v) for v in self.values)
        low, high = (show_value(v) for v in self.values)
        return f"{self.kind.replace('_', '-')} {low}..{high}"

    def suggest(self, trial: Any) -> Any:
        """This key's value for an Optuna trial (its parameter is named by the dotted key)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        low, high = self.values
        log = self.kind == "log_uniform"
        if self.integer:
            return trial.suggest_int(self.key, low, high, log=log)
        return self.normalize(trial.suggest_float(self.key, low, high, log=log))

    def normalize(self, value: Any) -> Any:
        """A drawn value as trials use it: a float range's to 4 significant digits, which
        read well in labels and tables and train the same, kept inside the bounds (which the
        key takes, so every value between them too)."""
        if self.kind == "choice" or self.integer:
            return value
        low, high = self.values
        return min(max(float(f"{value:.4g}"), low), high)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "values": list(self.values)}


@dataclass(frozen=True, eq=False)
class Search:
    """A validated ``[search]`` table, and how a trial's settings become a run."""

    trials: int
    method: str
    objective: str
    pruner: str
    seed: int
    startup_trials: int
    warmup_epochs: int
    space: tuple[Dimension, ...]
    #: The first corner resolved: the base with its hparams and --set (epochs, the model).
    profile: Profile
    #: (index from 1, {dotted key: value}) -> the trial's SweepRun, resolved as a sweep run.
    make_run: Callable[[int, dict[str, Any]], SweepRun] = field(repr=False)

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @property
    def epochs(self) -> int:
        """A trial's epochs when the space does not vary them (the ETA's estimate)."""
        return self.profile.train.epochs

    def run(self, index: int, params: dict[str, Any]) -> SweepRun:
        """Trial ``index`` (from 1; Optuna's trial number + 1) with ``params`` as a sweep run."""
        return self.make_run(index, params)

    def sample(self, trial: Any) -> dict[str, Any]:
        """The trial's settings, each key drawn only where it applies (core/relevance.py): an
        Adam trial draws no ``train.momentum``, so nothing learns from a key that did
        nothing. A key whose switch is searched too is drawn after it."""
        from core.relevance import condition_of

        searched = {dim.key for dim in self.space}
        later = [d for d in self.space if (condition_of(d.key) or ("",))[0] in searched]
        params: dict[str, Any] = {}
        for dim in [*(d for d in self.space if d not in later), *later]:
            if self.applies(dim.key, params):
                params[dim.key] = dim.suggest(trial)
        return {dim.key: params[dim.key] for dim in self.space if dim.key in params}

    def applies(self, key: str, params: dict[str, Any]) -> bool:
        """Whether ``key`` applies to a trial with ``params`` over this study's base."""
        from core.relevance import applies
        from core.values import flatten

        return applies(key, {**flatten(self.profile.to_dict()), **params})

    def active_keys(self, params: dict[str, Any]) -> list[str]:
        """The searched keys a trial with ``params`` draws (those that apply to it)."""
        return [dim.key for dim in self.space if self.applies(dim.key, params)]

    def describe(self) -> str:
        """ "8 trials, tpe, val_accuracy (higher is better), median pruner"."""
        better = "higher" if self.maximize else "lower"
        pruner = "no pruner" if self.pruner == "none" else f"{self.pruner} pruner"
        return (
            f"{self.trials} trials, {self.method}, {self.objective} ({better} is better), {pruner}"
        )

    def fingerprint(self) -> dict[str, Any]:
        """What names the study's directory: the same file and --set find the same study."""
        return {
            "search": {
                "trials": self.trials,
                "method": self.method,
                "objective": self.objective,
                "pruner": self.pruner,
                "seed": self.seed,
                "startup_trials": self.startup_trials,
                "warmup_epochs": self.warmup_epochs,
                "space": [d.to_dict() for d in self.space],
            },
            "profile": self.profile.to_dict(),
        }


def optuna_number(index: int) -> int:
    """Optuna's number for cifar-tui's trial ``index``: cifar-tui counts trials from 1 (run
    names ``<name>-trial-N`` stay as they are), Optuna and optuna-dashboard from 0."""
    return index - 1


def trial_name(index: int, planned: int = 0) -> str:
    """ "trial 4 (Optuna #3)", or "trial 4/8 (Optuna #3)" with the planned number: every front
    names a trial with both numbers, so it can be found in optuna-dashboard too."""
    of = f"/{planned}" if planned else ""
    return f"trial {index}{of} (Optuna #{optuna_number(index)})"


def default_startup_trials(trials: int) -> int:
    """Trials the median pruner lets finish before it compares: a quarter, 2 to 5."""
    return min(5, max(2, trials // 4))


# --- reading the table -----------------------------------------------------------------------


def read_search(
    reader: SweepReader,
    name: str,
    description: str,
    base: Path | None,
    hparams: Path | None,
    overrides: tuple[str, ...],
    check_data: bool,
) -> Sweep:
    """The sweep of a file with a ``[search]`` table; raises SweepError on the first mistake."""
    raw = reader.raw
    for other in ("grid", "runs"):
        if other in raw:
            table = "[grid]" if other == "grid" else "[[runs]]"
            raise reader.fail(
                f"a sweep has either a [search] or a {table}, not both: a search proposes its "
                f"own runs; keep one (a second file can hold the other)",
                key=other,
            )
    search = raw["search"]
    at = Place("[search]", reader.span_of("search"))
    if not isinstance(search, dict):
        raise reader.fail(
            "must be a table: [search] with trials = N and a [search.space]", key="search"
        )
    _check_keys(reader, search, at)
    options = _options(reader, search, at)
    if base is None:
        raise reader.fail(
            'a [search] sweep needs base = "<run profile>" (relative to this file)', key="search"
        )
    space_at = Place("[search.space]", at.span)
    dims = _space(reader, search.get("space"), space_at)
    cli = overrides_layer(list(overrides))
    cli_flat = check_layer(cli, tuple(TABLES))
    _check_set(reader, dims, cli_flat, space_at)

    def make_run(
        index: int, params: dict[str, Any], check: bool = False, where: str = ""
    ) -> SweepRun:
        """A trial's run, resolved (and blamed when it cannot be) as any sweep run is."""
        place = Place(where or f"[search] {trial_name(index)}", space_at.span)
        spec = Spec(index, f"trial {index}", place, params, base, hparams)
        return reader.resolve(spec, cli, cli_flat, check)

    profile = _check_corners(reader, dims, space_at, make_run, check_data)
    search_spec = Search(**options, space=dims, profile=profile, make_run=make_run)
    return Sweep(reader.path, name, description, (), overrides, search=search_spec)


def _check_keys(reader: SweepReader, search: dict[str, Any], at: Place) -> None:
    for key in search:
        if key not in SEARCH_KEYS:
            raise reader.fail(
                "unknown key in [search]"
                + suggest(key, SEARCH_KEYS)
                + "; allowed: "
                + ", ".join(k if k != "space" else "[search.space]" for k in SEARCH_KEYS),
                key,
                at,
            )
    if "trials" not in search:
        raise reader.fail(
            'missing key "trials": how many trials the study runs in all, e.g. trials = 20',
            at=at,
            line=at.header_line,
        )


def _options(reader: SweepReader, search: dict[str, Any], at: Place) -> dict[str, Any]:
    """trials, method, objective, pruner, seed and the pruner's two settings, checked."""
    values = {**DEFAULTS, **{k: v for k, v in search.items() if k != "space"}}
    trials = _integer(reader, values, "trials", 1, MAX_TRIALS, at, "how many trials in all")
    values["startup_trials"] = values.get("startup_trials", default_startup_trials(trials))
    for key, allowed in (
        ("method", METHODS),
        ("objective", tuple(OBJECTIVES)),
        ("pruner", PRUNERS),
    ):
        if values[key] not in allowed or not isinstance(values[key], str):
            extra = (
                " (the direction follows: higher accuracy, lower loss)"
                if key == "objective"
                else ""
            )
            raise reader.fail(
                "must be one of " + ", ".join(f'"{a}"' for a in allowed) + extra
                + f", got {show(values[key])}",
                key,
                at,
            )  # fmt: skip
    _integer(reader, values, "seed", 0, 2**31 - 1, at, "the sampler's seed")
    _integer(
        reader, values, "startup_trials", 0, MAX_TRIALS, at,
        "trials the median pruner lets finish before it prunes",
    )  # fmt: skip
    _integer(
        reader, values, "warmup_epochs", 0, 100_000, at,
        "epochs a trial trains before the pruner may stop it",
    )  # fmt: skip
    return {k: values[k] for k in SEARCH_KEYS if k != "space"}


def _integer(
    reader: SweepReader, values: dict[str, Any], key: str, low: int, high: int, at: Place, what: str
) -> int:
    value = values[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise reader.fail(
            f"must be an integer from {low} to {high} ({what}), got {show(value)}", key, at
        )
    return value


# --- the space -------------------------------------------------------------------------------


def _space(reader: SweepReader, space: Any, at: Place) -> tuple[Dimension, ...]:
    example = '"train.learning_rate" = { log_uniform = [1e-4, 1e-2] }'
    if space is None:
        raise reader.fail(
            f"missing [search.space]: the keys to search, e.g. {example}",
            at=at,
            line=at.header_line,
        )
    if not isinstance(space, dict) or not space:
        raise reader.fail(
            f"[search.space] must be a table of keys to search, e.g. {example}, got "
            + ("an empty table" if isinstance(space, dict) else show(space)),
            at=at,
            line=at.header_line,
        )
    return tuple(_dimension(reader, key, spec, at) for key, spec in _dimensions(space).items())


def _dimensions(space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> its table: descend only through profile tables, so a dotted key written
    bare (train.learning_rate = {...}) reads like the quoted one, and a misspelt kind is not
    mistaken for a table."""
    found: dict[str, Any] = {}
    for key, value in space.items():
        dotted = prefix + key
        if dotted in TABLES and isinstance(value, dict) and not set(value) & set(KINDS):
            found.update(_dimensions(value, dotted + "."))
        else:
            found[dotted] = value
    return found


def _meta(dotted: str) -> dict[str, Any] | None:
    """The schema's metadata of a profile key, or None when it is none."""
    table, _, name = dotted.rpartition(".")
    for f in fields(TABLES[table]) if table in TABLES else ():
        if f.name == name and "kind" in f.metadata:
            return dict(f.metadata)
    return None


#: Every searchable profile key, for "did you mean".
ALL_KEYS = tuple(
    f"{table}.{f.name}"
    for table, cls in TABLES.items()
    for f in fields(cls)
    if "kind" in f.metadata
)


def _dimension(reader: SweepReader, key: str, spec: Any, at: Place) -> Dimension:
    """One key of the space: a profile key, one kind, and values the key takes."""
    meta = _meta(key)
    if meta is None:
        raise reader.fail(
            "not a profile key" + suggest(key, ALL_KEYS)
            + '; [search.space] takes dotted profile keys such as "train.learning_rate"',
            key,
            at,
        )  # fmt: skip
    shape = "{ log_uniform = [low, high] }, { uniform = [low, high] } or { choice = [values] }"
    if not isinstance(spec, dict):
        raise reader.fail(f"must be {shape}, got {show(spec)}", key, at)
    kinds = [k for k in spec if k in KINDS]
    unknown = [k for k in spec if k not in KINDS]
    if unknown:
        raise reader.fail(
            f'unknown kind "{unknown[0]}"' + suggest(unknown[0], KINDS) + f"; write {shape}",
            key,
            at,
        )
    if len(kinds) != 1:
        raise reader.fail(f"gives {len(kinds)} kinds ({', '.join(kinds) or 'none'}): write {shape}",
                          key, at)  # fmt: skip
    kind = kinds[0]
    if kind == "choice":
        return _choice(reader, key, spec[kind], meta, at)
    return _range(reader, key, kind, spec[kind], meta, at)


def _choice(
    reader: SweepReader, key: str, values: Any, meta: dict[str, Any], at: Place
) -> Dimension:
    if not isinstance(values, list) or not values:
        got = "an empty list" if values == [] else show(values)
        raise reader.fail(f"choice must list at least one value to try, got {got}", key, at)
    shown: list[str] = []
    for value in values:
        if isinstance(value, (list, dict)):
            raise reader.fail(
                f"a choice's values must be numbers, strings or booleans, got {show(value)}",
                key,
                at,
            )
        ok, _ = check_value(meta, value)
        if not ok:
            raise reader.fail(
                f"choice {show(value)} is not a value {key} takes: {describe_allowed(meta)}",
                key,
                at,
            )
        if show_value(value) in shown:
            raise reader.fail(f"choice lists {show_value(value)} more than once", key, at)
        shown.append(show_value(value))
    return Dimension(key, "choice", tuple(values))


def _range(
    reader: SweepReader, key: str, kind: str, bounds: Any, meta: dict[str, Any], at: Place
) -> Dimension:
    """A log-uniform or uniform range: two numbers, low below high, both values the key takes
    (the key's allowed range is an interval, so every value between them is one too)."""
    if meta["kind"] not in RANGE_KINDS:
        raise reader.fail(
            f"{kind} needs a numeric key; {key} takes {describe_allowed(meta)}: "
            "search it with { choice = [...] }",
            key,
            at,
        )
    integer = meta["kind"] in INT_KINDS
    number = int if integer else (int, float)
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)
    ):
        what = "two integers" if integer else "two numbers"
        raise reader.fail(f"{kind} must be [low, high], {what}, got {show(bounds)}", key, at)
    low, high = bounds if integer else (float(b) for b in bounds)
    if not all(math.isfinite(b) for b in (low, high)) or low >= high:
        raise reader.fail(
            f"{kind} = {show(bounds)}: low must be below high (one value: use --set)", key, at
        )
    if kind == "log_uniform" and low <= 0:
        raise reader.fail(
            f"log_uniform = {show(bounds)}: a log scale needs bounds above 0 "
            "(use uniform for a range from 0)",
            key,
            at,
        )
    for bound in (low, high):
        if not check_value(meta, bound)[0]:
            raise reader.fail(
                f"{kind} = {show(bounds)} goes outside what {key} takes: {describe_allowed(meta)}",
                key,
                at,
            )
    return Dimension(key, kind, (low, high), integer)


def _check_set(
    reader: SweepReader, dims: tuple[Dimension, ...], cli_flat: dict[str, Any], at: Place
) -> None:
    """A key both searched and fixed by --set: the trials would all get --set's value."""
    for dim in dims:
        if dim.key in cli_flat:
            raise reader.fail(
                f"is searched here and fixed by --set {dim.key}={show_value(cli_flat[dim.key])}: "
                "every trial would get --set's value; drop one of them",
                dim.key,
                at,
            )


def _check_corners(
    reader: SweepReader,
    dims: tuple[Dimension, ...],
    at: Place,
    make_run: Callable[..., SweepRun],
    check_data: bool,
) -> Profile:
    """Resolve each corner of the space as a run (every bound and choice, the other keys at
    their first value); returns the first, which stands for the study's base."""
    first = {d.key: d.corners[0] for d in dims}
    where = "[search.space] with " + " ".join(f"{k}={show_value(v)}" for k, v in first.items())
    profile = make_run(1, first, check_data, where).profile
    for dim in dims:
        for value in dim.corners[1:]:
            make_run(
                1,
                {**first, dim.key: value},
                False,
                f"[search.space] with {dim.key}={show_value(value)}",
            )
    return profile
