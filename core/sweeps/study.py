"""A ``[search]`` sweep's Optuna study, run through the sweep loop (core/sweeps/loop.py).

:class:`StudySource` is the loop's :class:`~core.sweeps.source.RunSource` for a study: when the runs
so far are done it asks the study for a trial, resolves the trial's settings as a sweep run
(core/sweeps/search.py) and appends it, so every trial is an ordinary run directory that the loop
starts, records, stops and resumes like any other. The study lives in the sweep directory as
Optuna's journal file (``study.journal``: safe for several processes or Slurm jobs sharing it).

Pruning: a :class:`PruningListener` on the run itself (the engine's thread) reports the objective
after every epoch and, when the pruner says so, asks the run to stop with ``PRUNER``; the engine
ends it "pruned" (core/status.py). A trial's value is its best epoch's objective. A trial that
trains elsewhere (``--slurm``: a job of its own) takes a :class:`TrialRef` along and reports to
the pruner from there, through the shared journal; the sweep's process still tells the study how
it ended.

Stopping and resuming: a stopped trial is not told to the study; it stays running there, and the
same command rebuilds the trial list from the journal and resumes that trial's run directory from
its last epoch as the same trial (a trial killed before its directory existed starts again with
the same settings). Finished trials are kept; the rest are asked for.

Each trial's sampler is seeded from the study's seed and the trial's number, so processes asking
side by side (``--parallel``) draw different settings, and a resumed study draws what the
uninterrupted one would have for its random start-up trials.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import RunDirError
from core.events import EpochEnded, Event, RunOpened
from core.format import duration, metric_text
from core.status import FINISHED, PRUNER, RunStatus
from core.storage.rundir import RunRecord, load_run
from core.sweeps.search import OBJECTIVES, Search, optuna_number
from core.sweeps.source import Listener, RunSource
from core.sweeps.sweepdir import SweepDir, SweepEntry
from core.sweeps.sweepfile import SWEEP_FILE, SweepFileRun, try_read_sweep_file
from core.table import Column, Table, metric_kind
from core.values import show_value

JOURNAL = "study.journal"
#: Completed trials before the importances mean anything: PED-ANOVA compares the best trials'
#: settings with the rest, and with fewer it reports whatever the first draws happened to be.
IMPORTANCE_TRIALS = 5


def optuna_module() -> Any:
    """Optuna, imported on first use and told to keep quiet (the fronts say what happens)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage(folder: Path) -> Any:
    """The study's journal file in the sweep directory."""
    optuna_module()
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))


def make_sampler(search: Search, number: int) -> Any:
    """TPE (random for its first trials: a third of the study, 2 to 10) or random, seeded by
    the study's seed and the trial's number."""
    optuna = optuna_module()
    seed = (search.seed * 1_000_003 + number) % 2**31
    if search.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = max(2, min(10, search.trials // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def make_pruner(search: Search) -> Any:
    optuna = optuna_module()
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=search.startup_trials, n_warmup_steps=search.warmup_epochs
        )
    if search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, search.warmup_epochs), max_resource=max_epochs(search)
        )
    return optuna.pruners.NopPruner()


def max_epochs(search: Search) -> int:
    """The most epochs a trial trains: the base's, or the space's largest."""
    for dim in search.space:
        if dim.key == "train.epochs":
            return int(max(dim.values))
    return search.epochs


def open_study(search: Search, folder: Path, name: str) -> Any:
    """Create the study in ``folder``, or load the one earlier sessions made."""
    optuna = optuna_module()
    try:
        return optuna.create_study(
            study_name=name,
            storage=storage(folder),
            direction=search.direction,
            sampler=make_sampler(search, 0),
            pruner=make_pruner(search),
            load_if_exists=True,
        )
    except (ValueError, KeyError, TypeError, AssertionError, AttributeError) as exc:
        # Optuna replays the journal line by line, unchecked: a line not JSON (ValueError), or
        # of the wrong shape (KeyError, TypeError, its own "Should not reach" assertion).
        lines = str(exc).strip().splitlines()
        what = f"{exc.__class__.__name__}: {lines[0][:80]}" if lines else exc.__class__.__name__
        raise RunDirError(
            f"{folder / JOURNAL} is damaged and cannot be replayed ({what}); move it aside to "
            "start the study afresh"
        ) from None


def objective_value(epochs: list[dict[str, Any]], objective: str) -> float | None:
    """A trial's value: its best epoch's objective (the highest accuracy, the lowest loss)."""
    values = [row.get(objective) for row in epochs]
    values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return None
    return max(values) if OBJECTIVES[objective] == "maximize" else min(values)


# --- the loop's source -------------------------------------------------------------------------


class StudySource(RunSource):
    """Asks the study for trials as the loop needs runs, and tells it how each one ended."""

    def __init__(self, search: Search) -> None:
        self.search = search
        self.study: Any = None
        self.folder = ""  # the sweep directory, where the journal is
        self._ids: dict[int, int] = {}  # trial number -> Optuna's trial id
        self._open: set[int] = set()  # trial numbers the study still counts as running

    def restore(self, sweep_dir: SweepDir) -> None:
        """Open the study and add an entry for each trial it holds, in trial order."""
        optuna = optuna_module()
        self.folder = str(sweep_dir.path)
        self.study = open_study(self.search, sweep_dir.path, sweep_dir.sweep.dir_name)
        running = optuna.trial.TrialState.RUNNING
        for trial in sorted(self.study.get_trials(deepcopy=False), key=lambda t: t.number):
            params = {
                d.key: d.normalize(trial.params[d.key])
                for d in self.search.space
                if d.key in trial.params
            }
            drawn = all(key in params for key in self.search.active_keys(params))
            if trial.user_attrs.get("invalid") or not drawn:
                # settings that could not make a run, or a trial killed while it was asked
                if trial.state == running:
                    self.study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                continue
            entry = SweepEntry(self.search.run(trial.number + 1, params))
            run_dir = trial.user_attrs.get("run_dir")
            if run_dir and Path(run_dir).is_dir():
                entry.run_dir = Path(run_dir)
            sweep_dir.entries.append(entry)
            self._ids[trial.number] = trial._trial_id  # Optuna's own id: no public getter
            if trial.state == running:
                self._open.add(trial.number)

    def next_entry(self, sweep_dir: SweepDir) -> SweepEntry | None:
        """Ask for the next trial while fewer than the planned number were made."""
        if len(sweep_dir.entries) >= self.search.trials:
            return None
        trial = self.study.ask()
        self.study.sampler = make_sampler(self.search, trial.number)  # before it draws
        params = self.search.sample(trial)  # a key only where it applies
        try:
            run = self.search.run(trial.number + 1, params)
        except Exception as exc:  # settings the corners did not catch: never run them
            trial.set_user_attr("invalid", str(exc))
            self.study.tell(trial, state=optuna_module().trial.TrialState.FAIL)
            raise
        self._ids[trial.number] = trial._trial_id
        self._open.add(trial.number)
        entry = SweepEntry(run)
        sweep_dir.entries.append(entry)  # sweep.json names it once the loop starts it
        return entry

    def listener(self, entry: SweepEntry, run: Any) -> Listener | None:
        """The trial's pruner on the run; a run that trains elsewhere (a Slurm job: its
        ``attach_trial``) takes the trial along and prunes itself beside its engine."""
        number = entry.run.index - 1
        if number not in self._open:
            return None
        ref = TrialRef.of(
            self.search, self.folder, self.study.study_name, self._ids[number], entry.epochs
        )
        attach = getattr(run, "attach_trial", None)
        if attach is not None:
            attach(ref)
            return None
        return ref.listener(run, self.study)

    def settle(self, entry: SweepEntry) -> None:
        """Tell the study how a trial ended, once: its value, pruned, or failed. A stopped or
        interrupted trial stays running in the study, to be resumed as the same trial."""
        number = entry.run.index - 1
        if number not in self._open or entry.status not in FINISHED:
            return
        state = optuna_module().trial.TrialState
        value = None
        if entry.record is not None:
            value = objective_value(entry.record.epochs, self.search.objective)
        if entry.status == RunStatus.PRUNED:
            self.study.tell(number, state=state.PRUNED, skip_if_finished=True)
        elif entry.status == RunStatus.COMPLETED and value is not None:
            self.study.tell(number, value, skip_if_finished=True)
        else:  # failed, diverged, or no objective measured
            self.study.tell(number, state=state.FAIL, skip_if_finished=True)
        self._open.discard(number)

    # -- its parts of the sweep directory's files ------------------------------------------------

    def sweep_json(self, sweep_dir: SweepDir) -> dict[str, Any]:
        return {"search": study_json(sweep_dir)}

    def summary_table(self, sweep_dir: SweepDir) -> Table | None:
        return study_report(sweep_dir, with_importances=False).table()

    def summary_lines(self, sweep_dir: SweepDir) -> list[str]:
        return [f"- study: {self.search.describe()}", *study_report(sweep_dir).lines()]


@dataclass(frozen=True)
class TrialRef:
    """A trial of the study as plain values, so that another process (a Slurm job, which
    submitit pickles) can open it from the shared journal and report to its pruner. It has
    what PruningListener reads of a Search (``objective``, ``pruner``), not the Search itself."""

    folder: str  # the sweep directory
    study_name: str
    trial_id: int  # Optuna's own id
    epochs: int  # the trial's planned epochs (never pruned after the last)
    objective: str
    pruner: str  # its name
    optuna_pruner: Any = None  # Optuna's pruner, as make_pruner built it

    @classmethod
    def of(
        cls, search: Search, folder: str, study_name: str, trial_id: int, epochs: int
    ) -> TrialRef:
        pruner = make_pruner(search)
        return cls(folder, study_name, trial_id, epochs, search.objective, search.pruner, pruner)

    def listener(self, run: Any, study: Any = None) -> PruningListener:
        """The pruner's listener for ``run``; ``study`` loaded from the journal when not given."""
        optuna = optuna_module()
        if study is None:
            study = optuna.load_study(
                study_name=self.study_name,
                storage=storage(Path(self.folder)),
                pruner=self.optuna_pruner,
            )
        trial = optuna.trial.Trial(study, self.trial_id)
        return PruningListener(trial, run, self, self.epochs)


class PruningListener:
    """On the run's own thread: records the run directory in the trial as soon as it exists,
    reports the objective after every epoch and asks the run to stop when the pruner says so
    (never after the last epoch: that run completes anyway)."""

    def __init__(self, trial: Any, run: Any, search: Search | TrialRef, epochs: int) -> None:
        self.trial = trial
        self.run = run
        self.search = search
        self.epochs = epochs

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunOpened):
            self.trial.set_user_attr("run_dir", str(Path(event.run_dir).resolve()))
        elif isinstance(event, EpochEnded):
            self.epoch_ended(event)

    def epoch_ended(self, event: EpochEnded) -> None:
        value = getattr(event, self.search.objective, None)
        if value is None or not math.isfinite(value):
            return  # a diverging run: the engine ends it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a resumed epoch reported twice is ignored
            self.trial.report(float(value), event.epoch)
        if event.epoch >= self.epochs or not self.trial.should_prune():
            return
        reason = (
            f"the {self.search.pruner} pruner stopped it after epoch {event.epoch} of "
            f"{self.epochs}: {self.search.objective} {metric_text(self.search.objective, value)} "
            "trails the trials before it"
        )
        self.run.request_stop(PRUNER, reason=reason)


# --- what a study found --------------------------------------------------------------------------


@dataclass
class TrialRow:
    """One trial as the summary shows it."""

    index: int
    status: str
    params: dict[str, Any]
    objective: float | None
    epochs_done: int
    epochs: int
    record: RunRecord | None = None
    run_dir: str | None = None


@dataclass
class StudyReport:
    """A study's trials and findings, for summary.md, the command line and --compare."""

    name: str
    objective: str
    planned: int
    keys: list[str]  # the searched keys
    rows: list[TrialRow]
    folder: Path
    importances: dict[str, float] | None = field(default=None)

    @property
    def maximize(self) -> bool:
        return OBJECTIVES[self.objective] == "maximize"

    def by_objective(self) -> list[TrialRow]:
        """Best first; trials with no objective yet last, in trial order."""
        scored = [r for r in self.rows if r.objective is not None]
        scored.sort(key=lambda r: r.objective if not self.maximize else -r.objective)  # type: ignore[operator]
        return scored + [r for r in self.rows if r.objective is None]

    @property
    def best(self) -> TrialRow | None:
        """The best completed trial (a pruned one stopped early, so it is not a result)."""
        done = [r for r in self.by_objective() if r.status == RunStatus.COMPLETED]
        return done[0] if done and done[0].objective is not None else None

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    def table(self) -> Table:
        """One row per trial, best objective first."""
        columns = [
            Column("trial", "trial", "number"),
            # optuna-dashboard and Optuna's own API number trials from 0: both are shown.
            Column("optuna #", "optuna_number", "number"),
            Column("status", "status"),
            *(Column(k, k, "setting") for k in self.keys),
            Column(self.objective, "objective", metric_kind(self.objective)),
            Column("epochs", "epochs"),
            Column("s/epoch", "seconds_per_epoch", "seconds"),
            Column("test acc", "test_accuracy", "accuracy"),
            Column("run dir", "run_dir", csv_only=True),
        ]
        rows = [
            [
                r.index,
                optuna_number(r.index),
                r.status,
                *(r.params.get(k) for k in self.keys),
                r.objective,
                f"{r.epochs_done}/{r.epochs}",
                r.record.seconds_per_epoch if r.record else None,
                r.record.test_accuracy if r.record else None,
                r.run_dir,
            ]
            for r in self.by_objective()
        ]
        return Table(columns, rows)

    def lines(self) -> list[str]:
        """Markdown bullets: the best trial, how many were pruned, the importances."""
        return [f"- {line}" for line in self.sentences()]

    def sentences(self) -> list[str]:
        best = self.best
        return [
            self.best_sentence(best),
            self.count_sentence(),
            self.pruned_sentence(),
            self.importance_sentence(),
        ]

    def pruned_sentence(self) -> str:
        """How many the pruner stopped, and the training that saved (an estimate: each pruned
        trial's epochs left at its own median epoch time, the first, compiling one, left out)."""
        pruned = [r for r in self.rows if r.status == RunStatus.PRUNED]
        if not pruned:
            return f"pruned: none of {len(self.rows)} trials"
        trained = sum(r.epochs_done for r in pruned)
        planned = sum(r.epochs for r in pruned)
        text = (
            f"pruned: {len(pruned)} of {len(self.rows)} trials, stopped after {trained} of the "
            f"{planned} epochs they would have trained"
        )
        saved = [_seconds_left(r) for r in pruned]
        known = [s for s in saved if s is not None]
        if len(known) == len(saved):
            text += f" (about {duration(sum(known))} of training saved, estimated)"
        return text

    def best_sentence(self, best: TrialRow | None) -> str:
        if best is None:
            return "best trial: none completed yet"
        settings = ", ".join(f"{k}={show_value(best.params.get(k))}" for k in self.keys)
        test = ""
        if best.record is not None and best.record.test_accuracy is not None:
            test = f", test accuracy {best.record.test_accuracy * 100:.1f}%"
        optuna = f"; Optuna #{optuna_number(best.index)}"  # optuna-dashboard counts from 0
        return (
            f"best trial: {best.index} ({self.objective} "
            f"{metric_text(self.objective, best.objective)}{test}{optuna}): "
            f"{settings}"
        )

    def count_sentence(self) -> str:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        parts = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"trials: {len(self.rows)} of {self.planned}" + (f" ({parts})" if parts else "")

    def importance_sentence(self) -> str:
        if not self.importances:
            return (
                "parameter importances: not yet (they need at least "
                f"{IMPORTANCE_TRIALS} completed trials)"
            )
        ranked = sorted(self.importances.items(), key=lambda item: -item[1])
        text = ", ".join(f"{key} {value:.2f}" for key, value in ranked)
        return f"parameter importances (Optuna's PED-ANOVA): {text}"


def _seconds_left(row: TrialRow) -> float | None:
    """The seconds a pruned trial's remaining epochs would have taken at its own pace."""
    seconds = [e.get("seconds") for e in (row.record.epochs if row.record else [])]
    seconds = [s for s in seconds if isinstance(s, (int, float))]
    if not seconds:
        return None
    pace = statistics.median(seconds[1:] or seconds)
    return pace * max(0, row.epochs - row.epochs_done)


def importances(folder: Path) -> dict[str, float] | None:
    """Optuna's parameter importances from the study's journal; None when it cannot say yet."""
    if not (folder / JOURNAL).is_file():
        return None
    optuna = optuna_module()
    try:
        names = optuna.get_all_study_names(storage(folder))
        study = optuna.load_study(study_name=names[0], storage=storage(folder))
        state = optuna.trial.TrialState.COMPLETE
        if len(study.get_trials(deepcopy=False, states=(state,))) < IMPORTANCE_TRIALS:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except Exception:  # too few distinct trials, a torn journal: no importances, no crash
        return None


def study_report(sweep_dir: SweepDir, with_importances: bool = True) -> StudyReport:
    """The report of an open sweep directory's study (its entries as they stand)."""
    search: Search = sweep_dir.sweep.search
    keys = [dim.key for dim in search.space]
    rows = [
        TrialRow(
            e.run.index,
            e.status,
            {k: e.run.overrides.get(k) for k in keys},
            objective_value(e.record.epochs, search.objective) if e.record else None,
            e.epochs_done,
            e.epochs,
            e.record,
            str(e.run_dir) if e.run_dir else None,
        )
        for e in sweep_dir.entries
    ]
    found = importances(sweep_dir.path) if with_importances else None
    return StudyReport(
        sweep_dir.sweep.name, search.objective, search.trials, keys, rows, sweep_dir.path, found
    )


def study_json(sweep_dir: SweepDir) -> dict[str, Any]:
    """What sweep.json says of a study: its settings and the best trial so far."""
    search: Search = sweep_dir.sweep.search
    best = study_report(sweep_dir, with_importances=False).best
    return {
        "trials": search.trials,
        "method": search.method,
        "objective": search.objective,
        "direction": search.direction,
        "pruner": search.pruner,
        "seed": search.seed,
        "space": [dim.to_dict() for dim in search.space],
        "journal": JOURNAL,
        "best": None
        if best is None
        else {
            "trial": best.index,
            "optuna_number": optuna_number(best.index),
            "objective": best.objective,
            "params": best.params,
        },
    }


def report_at(folder: Path) -> StudyReport | None:
    """The report of a study's sweep directory from its files alone (``--compare``); None for
    a sweep that is not a study. A hand-edited sweep.json whose fields have the wrong types
    is RunDirError naming it (one line), never a traceback."""
    try:
        return _report_at(folder)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        raise RunDirError(
            f"{folder / SWEEP_FILE} is damaged: a field of the wrong type "
            f"({exc.__class__.__name__}: {str(exc)[:80]})"
        ) from None


def _report_at(folder: Path) -> StudyReport | None:
    data = try_read_sweep_file(folder)
    search = data.search if data is not None else None
    if data is None or search is None or search.get("objective") not in OBJECTIVES:
        return None
    keys = [str(d.get("key")) for d in search.get("space") or [] if isinstance(d, dict)]
    rows = [_row_of(run, keys, search["objective"]) for run in data.runs]
    planned = int(search.get("trials") or len(rows))
    report = StudyReport(data.name, search["objective"], planned, keys, rows, folder)
    report.importances = importances(folder)
    return report


def _row_of(run: SweepFileRun, keys: list[str], objective: str) -> TrialRow:
    """A trial as sweep.json names it, its figures read from its run directory."""
    record = None
    if run.run_dir is not None and run.run_dir.is_dir():
        try:
            record = load_run(run.run_dir)
        except Exception:
            record = None
    return TrialRow(
        run.index,
        record.status if record else run.status,
        {k: run.overrides.get(k) for k in keys},
        objective_value(record.epochs, objective) if record else None,
        len(record.epochs) if record else 0,
        (record.planned_epochs or 0) if record else 0,
        record,
        str(run.run_dir) if run.run_dir is not None else None,
    )
