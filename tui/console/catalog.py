"""What the launch screen lists: model profiles, hyperparameter profiles, sweeps, last results.

Listing reads TOML files and run reports only; it never builds a model (the parameter count
is the notebook's, from ``core.models.NOTEBOOK_PARAMS``, when the input size is the native one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import CifarTuiError, ProfileError
from core.format import metric_text, params_text
from core.profiles import load_profile, read_toml
from core.status import FINISHED, RunStatus

if TYPE_CHECKING:
    from core.config import Profile
    from core.storage.index import RunSummary
    from core.storage.rundir import RunRecord
    from core.sweeps.spec import Sweep


@dataclass(frozen=True)
class ProfileEntry:
    """A model profile file and what could be read from it (or why it could not)."""

    path: Path
    name: str
    description: str = ""
    architecture: str | None = None
    params: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class HparamsEntry:
    """A hyperparameter profile file; ``path`` None is the "(none)" choice."""

    path: Path | None
    name: str
    description: str = ""


NO_HPARAMS = HparamsEntry(None, "(none)", "the model profile's own settings")


def native_params(profile: Profile) -> int | None:
    """The notebook's parameter count, valid only at the architecture's native input size."""
    from core.config import DEFAULT_INPUT_SIZE
    from core.models import NOTEBOOK_PARAMS  # imports no Keras at module level

    arch = profile.model.architecture
    if profile.model.input_size != DEFAULT_INPUT_SIZE.get(arch) or arch not in NOTEBOOK_PARAMS:
        return None
    return NOTEBOOK_PARAMS[arch][0]


def list_model_profiles(profiles_dir: Path) -> list[ProfileEntry]:
    """Every ``*.toml`` in ``profiles_dir``, sorted by file name; broken ones keep their error."""
    entries = []
    for path in sorted(profiles_dir.glob("*.toml")):
        try:
            profile = load_profile(path, check_data=False)
        except CifarTuiError as exc:
            entries.append(ProfileEntry(path, path.stem, error=str(exc)))
            continue
        entries.append(
            ProfileEntry(
                path,
                profile.name,
                profile.description,
                profile.model.architecture,
                native_params(profile),
            )
        )
    return entries


def list_hparams(profiles_dir: Path) -> list[HparamsEntry]:
    """ "(none)" then every ``hparams/*.toml``; errors surface when one is chosen."""
    entries = [NO_HPARAMS]
    for path in sorted((profiles_dir / "hparams").glob("*.toml")):
        try:
            raw = read_toml(path).raw
        except ProfileError:
            entries.append(HparamsEntry(path, path.stem, "(unreadable)"))
            continue
        name, description = raw.get("name", path.stem), raw.get("description", "")
        entries.append(HparamsEntry(path, str(name), str(description)))
    return entries


@dataclass(frozen=True)
class SweepFileEntry:
    """A sweep file (``<profiles>/sweeps/*.toml``), its runs, and how far it got before."""

    path: Path
    name: str
    description: str = ""
    labels: tuple[str, ...] = ()
    directory: Path | None = None  # <runs-dir>/sweeps/<name>-<hash>: where it is recorded
    last: str = "-"  # "stopped 1/3" (finished of all), "-" when never started
    error: str | None = None
    epochs: tuple[int, ...] = ()  # each run's planned epochs
    overrides: tuple[str, ...] = ()  # the pick form's overrides it runs with
    dropped: tuple[str, ...] = ()  # form overrides left out: the sweep sets those keys itself
    estimate: str = ""  # "about 1:05 at 4.4 s/epoch (...)", or "" when nothing says
    #: A study ([search]): what it searches, and its trials in all ("" and 0 for a list).
    study: str = ""
    trials: int = 0

    @property
    def runs(self) -> int:
        return self.trials or len(self.labels)


def split_overrides(
    overrides: tuple[str, ...], varied: set[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The form's overrides a sweep keeps, and those it drops because its runs set that key
    (an override would make every run the same there)."""
    kept = tuple(item for item in overrides if item.partition("=")[0].strip() not in varied)
    return kept, tuple(item for item in overrides if item not in kept)


def list_sweeps(
    profiles_dir: Path, runs_dir: Path, overrides: tuple[str, ...] = ()
) -> list[SweepFileEntry]:
    """Every ``sweeps/*.toml`` under ``profiles_dir``, validated (no data check) and expanded as
    ``--sweep`` would, with the pick form's ``overrides`` on every run (less those the sweep
    varies); a broken one keeps its error for the screen to show."""
    from core.storage.index import list_summaries

    # The runs index: earlier runs' s/epoch without reading every run's files again.
    records = list_summaries(runs_dir, verify=False) if runs_dir.is_dir() else []
    return [
        _sweep_entry(path, runs_dir, overrides, records)
        for path in sorted((profiles_dir / "sweeps").glob("*.toml"))
    ]


def _sweep_entry(
    path: Path, runs_dir: Path, overrides: tuple[str, ...], records: list[RunSummary]
) -> SweepFileEntry:
    from core.sweeps.spec import load_sweep
    from core.sweeps.sweepdir import SWEEPS_FOLDER

    try:
        sweep = load_sweep(path, check_data=False)
        kept, dropped = split_overrides(overrides, _varied(sweep))
        if kept:
            sweep = load_sweep(path, kept, check_data=False)
    except CifarTuiError as exc:
        return SweepFileEntry(path, path.stem, error=str(exc))
    directory = runs_dir / SWEEPS_FOLDER / sweep.dir_name
    if sweep.search is not None:
        return _study_entry(path, sweep, directory, kept, dropped, records)
    return SweepFileEntry(
        path,
        sweep.name,
        sweep.description,
        tuple(run.label for run in sweep.runs),
        directory,
        sweep_progress(directory),
        epochs=tuple(run.profile.train.epochs for run in sweep.runs),
        overrides=kept,
        dropped=dropped,
        estimate=sweep_estimate([run.profile for run in sweep.runs], records),
    )


def _varied(sweep: Sweep) -> set[str]:
    """The keys a sweep sets per run: a form override of one would undo it (of a study's
    searched key, it would be an error)."""
    if sweep.search is not None:
        return {dim.key for dim in sweep.search.space}
    return {k for r in sweep.runs for k in r.overrides}


def _study_entry(
    path: Path,
    sweep: Sweep,
    directory: Path,
    kept: tuple[str, ...],
    dropped: tuple[str, ...],
    records: list[RunSummary],
) -> SweepFileEntry:
    """A study's row: its trials (each at most the base's epochs: pruned ones stop early)."""
    search = sweep.search
    space = "; ".join(f"{d.key} {d.describe()}" for d in search.space)
    return SweepFileEntry(
        path,
        sweep.name,
        sweep.description,
        (),
        directory,
        sweep_progress(directory),
        epochs=(search.epochs,) * search.trials,
        overrides=kept,
        dropped=dropped,
        estimate=sweep_estimate([search.profile] * search.trials, records),
        study=f"{search.describe()}; searching {space}",
        trials=search.trials,
    )


def sweep_estimate(profiles: list[Profile], records: list[RunRecord] | list[RunSummary]) -> str:
    """How long a sweep's epochs would take, from earlier runs of the same model at the same
    input size (the median of their s/epoch); "" when no earlier run says."""
    import statistics

    from core.format import duration

    seconds = 0.0
    measured: set[str] = set()
    for profile in profiles:
        model = profile.model
        same = [
            r.seconds_per_epoch
            for r in records
            if r.seconds_per_epoch is not None
            and r.architecture == model.architecture
            and _input_size(r) == model.input_size
        ]
        if not same:
            return ""
        seconds += statistics.median(same) * profile.train.epochs
        measured.add(f"{model.architecture} at {model.input_size}x{model.input_size}")
    return f"about {duration(seconds)}, from earlier runs of {', '.join(sorted(measured))}"


def _input_size(record: RunRecord | RunSummary) -> int | None:
    if hasattr(record, "input_size"):
        return record.input_size
    return (record.report.get("profile") or {}).get("model", {}).get("input_size")


def sweep_progress(directory: Path) -> str:
    """What a sweep directory's sweep.json last said: "stopped 1/3" (runs finished of all)."""
    from core.storage.rundir import is_live
    from core.sweeps.sweepfile import try_read_sweep_file

    data = try_read_sweep_file(directory)
    if data is None:
        return "-"
    runs = data.runs
    status = data.status
    if status == RunStatus.RUNNING and not is_live(directory):
        status = RunStatus.INTERRUPTED  # killed: nobody holds its lock
    done = sum(r.status in FINISHED for r in runs)
    study = data.search
    if study is None:
        return f"{status} {done}/{len(runs)}"
    best = study.get("best") if isinstance(study.get("best"), dict) else None
    text = f"{status} {done}/{study.get('trials', len(runs))}"
    if best and isinstance(best.get("objective"), (int, float)):
        # the best trial's objective so far, as people read it (an accuracy in percent)
        text += f" best {metric_text(str(study.get('objective', '')), best['objective'])}"
    return text


def last_results(runs_dir: Path, max_reads: int | None = None) -> dict[str, RunSummary] | None:
    """The newest run of each profile name in ``runs_dir``, newest first, through the runs
    index (brought up to date first); None when more than ``max_reads`` runs would need
    reading (a caller on the UI thread then leaves it to a worker)."""
    from core.storage.index import RunIndex

    index = RunIndex(runs_dir)
    if not index.refresh(max_reads=max_reads).complete:
        return None
    return index.latest_by_name()


def settings_rows(profile: Profile) -> list[tuple[str, str]]:
    """The resolved profile as short (label, value) rows for the launch screen."""
    m, d, a, t, p = profile.model, profile.data, profile.augment, profile.train, profile.pipeline
    if d.source == "synthetic":
        data = (
            f"synthetic, {d.synthetic_train} train ({d.validation_size} val), "
            f"{d.synthetic_test} test"
        )
    else:
        data = f"{d.source} {d.path}".rstrip() + f", {d.validation_size} val"
    if d.limit:
        data += f", limit {d.limit}"
    rl = t.reduce_lr
    reduce = (
        f"x{rl.factor:g} on {rl.monitor} after {rl.patience}, min {rl.min_lr:g}"
        if rl.enabled
        else "off"
    )
    train = f"{t.optimizer} lr {t.learning_rate:g}"
    if t.optimizer == "sgd":
        train += f" momentum {t.momentum:g}"
    train += f", batch {t.batch_size}, {t.epochs} epochs, {t.precision}, seed {t.seed}"
    prof = (
        f"batches {profile.profiler.batches[0]}-{profile.profiler.batches[1]}"
        if profile.profiler.enabled
        else "off"
    )
    return [
        (
            "model",
            f"{m.architecture} at {m.input_size}x{m.input_size}, "
            f"{params_text(native_params(profile))} params",
        ),
        ("data", data),
        (
            "augment",
            f"flip {a.flip}, rotation {a.rotation:g}"
            + (", before the resize" if a.order == "augment_first" else ""),
        ),
        ("train", train),
        ("reduce_lr", reduce),
        (
            "pipeline",
            f"preprocess on {p.preprocess}, shuffle {p.shuffle_buffer}, jit {t.jit_compile}",
        ),
        ("profiler", prof),
    ]
