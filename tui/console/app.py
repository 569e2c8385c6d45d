"""The Textual console: pick a profile, launch, watch, stop, browse runs, look at the data.

``create_app`` is the one factory, used by ``run_console`` (tui/console/terminal.py, the
``cifar-tui`` command with no arguments) and by the tests. TensorFlow is never imported here: the
engine (``core.training.engine``) is imported inside the thread worker that runs it, so the
console paints at once.

The current run or sweep and the rules for what may happen next are the app's
:class:`~tui.console.session.Session`, a plain class; the app turns keys and workers' messages
into its transitions, and tells the watch screen through its ``watch_news`` signal.

Threads: the engine runs in a Textual thread worker; its only way to the UI is posting
messages (``tui.console.messages``) to the app, whose handlers update the session and the
watch screen on the UI thread. Stopping goes the other way through a thread-safe ``RunControl``.
A sweep is one such worker running its runs in turn (``tui.console.sweep_runner``); each of its
runs becomes the current run, and :class:`~tui.console.state.SweepState` holds the sweep's own
progress.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.signal import Signal

from core.dispatch import dispatch
from core.errors import EXIT_OK
from core.events import RunFinished, RunWarning
from core.status import BAD_ENDINGS
from tui.console.follow import follow_run, start_detached
from tui.console.messages import (
    DetachedStarted,
    EngineDone,
    EngineEvent,
    FollowDone,
    SweepDone,
    SweepRunStarting,
    SweepUpdate,
)
from tui.console.navigation import ModeKeys
from tui.console.runner import LaunchRequest, RunControl, execute
from tui.console.screens.dialogs import ConfirmScreen, HelpScreen
from tui.console.screens.launch import LaunchScreen
from tui.console.screens.runs import RunsScreen
from tui.console.screens.watch import REDRAW, STATUS, SWEEP, WatchNews, WatchScreen
from tui.console.session import Session
from tui.console.signals import install_signals, remove_signals
from tui.console.sweep_runner import execute_sweep

if TYPE_CHECKING:
    from core.storage.rundir import RunRecord
    from core.sweeps.spec import Sweep
    from tui.console.state import SweepState
    from tui.console.views import SweepSnapshot

#: Seconds a confirmed quit waits for the engine to stop and save before leaving anyway.
QUIT_GRACE_SECONDS = 20.0
#: Signals that end the console as a confirmed quit does (the terminal went away, or the
#: process is told to end); it exits 128 + the signal, as a shell reports it.
QUIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
#: The signal ``cifar-tui --stop`` sends the process holding a run's lock: stop that run.
STOP_SIGNAL = signal.SIGUSR1
STOPPING_RUN = "Stopping after the current batch; everything is saved."
STOPPING_SWEEP = (
    "Stopping the run after the current batch, and the sweep; everything is saved. Start the "
    "sweep again to resume it."
)
QUIT_RUN = "A run is training. Stop it (it is saved after the current batch and can be resumed) "
QUIT_SWEEP = (
    "A sweep is running. Stop it (its run is saved after the current batch; starting the sweep "
    "again resumes it) "
)


class _SessionField:
    """An attribute of the app that is its session's (``app.run_state`` is
    ``app.session.run_state``; ``_SessionField("busy")`` names another): the screens and tests
    read and set it on the app."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    def __get__(self, app: Any, owner: type | None = None) -> Any:
        return self if app is None else getattr(app.session, self.name)

    def __set__(self, app: Any, value: Any) -> None:
        setattr(app.session, self.name, value)


def stop_asked_text(run_dir: str | None) -> str:
    """The toast for SIGUSR1: who asked, as the run's stop note says (another console's s)."""
    from core.status import CONSOLE
    from core.storage.control import noted_stopper

    asker = noted_stopper(Path(run_dir)) if run_dir else ""
    who = "another console's s" if asker == CONSOLE else "cifar-tui --stop"
    return f"Stopping after the current batch, as {who} asked."


def sweep_done_text(sweep: SweepState, snap: SweepSnapshot) -> str:
    """The toast for a sweep that ended: how far it came, and where its summary is."""
    if snap.status in ("completed", "failed"):
        text = f"Sweep {sweep.name} {snap.status}: {snap.finished} of {snap.total} runs."
    else:
        text = (
            f"Sweep {sweep.name} {snap.status}: {snap.finished} of {snap.total} "
            "runs finished; start it again to resume."
        )
    return f"{text} Summary: {snap.path / 'summary.md'}"


class CifarTuiApp(ModeKeys, App[int]):
    """The console. Modes: "launch" (pick), "watch" and "runs", each keeping its screen."""

    CSS_PATH = "app.tcss"
    TITLE = "cifar-tui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (34, "-tall")]
    SCREENS: ClassVar[dict] = {"watch": WatchScreen}
    MODES: ClassVar[dict] = {"launch": LaunchScreen, "watch": "watch", "runs": RunsScreen}
    DEFAULT_MODE = "launch"
    BINDINGS: ClassVar[list[BindingType]] = [
        # ? and q first: at 80 columns a footer cuts its last keys, and these two must stay.
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
        Binding("q", "quit_console", "Quit"),
        Binding("p", "switch_mode('launch')", "Pick"),
        Binding("w", "switch_mode('watch')", "Watch"),
        Binding("b", "switch_mode('runs')", "Runs"),
        Binding("ctrl+c", "quit_console", "Quit", show=False, priority=True),
        Binding("ctrl+q", "quit_console", "Quit", show=False, priority=True),
    ]
    run_state = _SessionField()
    sweep_state = _SessionField()
    control = _SessionField()
    engine_status = _SessionField()
    keep_training = _SessionField()
    run_active = _SessionField("busy")
    can_stop = _SessionField()
    sweep_active = _SessionField()
    busy_message = _SessionField()
    why_not_resume = _SessionField()

    def __init__(self, profiles_dir: Path, runs_dir: Path) -> None:
        super().__init__()
        self.profiles_dir = Path(profiles_dir)
        self.runs_dir = Path(runs_dir)
        self.session = Session()
        #: What the watch screen draws again: an engine event, or REDRAW, STATUS or SWEEP.
        self.watch_news: Signal[WatchNews] = Signal(self, "watch_news")
        self._follow_stop = threading.Event()  # ends the follow worker of an attached run
        self._signals: list[int] = []  # signals whose handlers this app installed

    # -- signals ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._signals = install_signals(
            (*QUIT_SIGNALS, STOP_SIGNAL), self.call_later, self.handle_signal
        )

    def on_unmount(self) -> None:
        self._follow_stop.set()
        remove_signals(self._signals)

    def handle_signal(self, signum: int) -> None:
        """SIGUSR1 (``cifar-tui --stop`` from another terminal): stop the run, stay open.
        SIGHUP or SIGTERM: stop and save the engine's run (waiting at most
        QUIT_GRACE_SECONDS), then leave through Textual's exit, which restores the terminal;
        a second one leaves at once. A run attached from another process goes on."""
        name, session = signal.Signals(signum).name, self.session
        if signum == STOP_SIGNAL:
            if session.busy and not session.control.stop_requested:
                self.stop_run(by=name)
                self.notify(stop_asked_text(session.run_state.run_dir), timeout=6, markup=False)
            return
        session.quit_code = 128 + signum
        if session.quitting or not session.busy:
            self.exit(session.quit_code)
            return
        session.quitting = True
        session.control.request_stop(by=name)
        self.set_timer(QUIT_GRACE_SECONDS, lambda: self.exit(session.quit_code))

    # -- this console's engine ----------------------------------------------------------------

    def _refused(self) -> bool:  # the engine is busy (one worker at a time): say so
        if self.session.busy:
            self.notify(self.session.busy_message(), severity="warning", markup=False)
        return self.session.busy

    def start_run(self, request: LaunchRequest) -> bool:
        """Start the engine in a thread worker; refused while another run trains."""
        if self._refused():
            return False
        if self.session.keep_training:
            return self.start_detached(request)
        self._follow_stop.set()
        profiler = request.profile.profiler if request.profile is not None else None
        window = tuple(profiler.batches) if profiler is not None and profiler.enabled else None
        self._run_engine(request, self.session.begin_run(request.label, window))
        self._show_new_run()
        return True

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def _run_engine(self, request: LaunchRequest, control: RunControl) -> str:
        """The thread worker: runs the engine; talks to the UI only by posting messages."""
        return execute(request, control, self.post_message)

    def start_sweep(self, sweep: Sweep, parallel: int = 1) -> bool:
        """Run a sweep in the engine worker, in ``cifar-tui --sweep``'s directory (either front
        resumes the other's); refused while busy. ``parallel`` > 1: runs at once, as processes."""
        if self._refused():
            return False
        from core.sweeps.loop import sweep_command

        self._follow_stop.set()
        extra = ["--parallel", str(parallel)] if parallel > 1 else []
        command = sweep_command(sweep.path, sweep.overrides, self.runs_dir, extra=extra)
        control = self.session.begin_sweep(sweep.name, str(sweep.path), sweep.planned, command)
        self._run_sweep(sweep, control, command, parallel)
        self._show_new_run()
        return True

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def _run_sweep(self, sweep: Sweep, control: RunControl, command: str, parallel: int) -> str:
        """The thread worker of a sweep: its runs in turn; talks to the UI only by messages."""
        return execute_sweep(sweep, self.runs_dir, control, self.post_message, command, parallel)

    def stop_run(self, by: str = "user") -> None:
        """Stop this console's run after its current batch (``by``: who asked, the run keeps)."""
        session = self.session
        if not session.busy:  # (an attached run: the watch screen asks its process)
            self.notify("No run is training.", timeout=3, markup=False)
        elif session.request_stop(by):
            self.watch_news.publish(STATUS)
            text = STOPPING_SWEEP if session.sweep_active else STOPPING_RUN
            if not self._watching():  # the watch screen says it on the device line
                self.notify(text, timeout=6, markup=False)

    def _watching(self) -> bool:
        """The watch screen is in front: its banners say what a toast would (over the plots)."""
        return isinstance(self.screen, WatchScreen)

    def resume_run(self, record: RunRecord) -> bool:
        """Resume a run the engine's rule allows (``Run.resume`` in the worker)."""
        reason = self.session.why_not_resume(record)
        if reason is not None:
            self.notify(reason, severity="warning", markup=False)
            return False
        path = record.path
        return self.start_run(LaunchRequest(label=path.name, runs_dir=path.parent, resume_dir=path))

    def on_engine_event(self, message: EngineEvent) -> None:
        """An engine event, on the UI thread: update the state, notify (``notify_<event type>``),
        then the watch screen."""
        if not self.session.accepts(message.source):
            return  # read by a follower that was replaced since
        self.session.apply(message.event)
        dispatch(self, message.event, prefix="notify_")
        self.watch_news.publish(message.event)

    def notify_warning(self, event: RunWarning) -> None:
        """A warning is toasted once a session (the banner shows it for each run); "No GPU"
        never is: the banner and the device line say it."""
        if event.code != "no_gpu" and self.session.first_warning(event.code):
            self.notify(event.message, title="Warning", severity="warning", timeout=8, markup=False)

    def notify_run_finished(self, event: RunFinished) -> None:
        if event.status in BAD_ENDINGS:
            title = f"Run {event.status}"
            self.notify(event.message, title=title, severity="error", timeout=15, markup=False)
        elif not self._watching():
            self.notify(f"Run {event.status}.", timeout=5, markup=False)

    def on_engine_done(self, message: EngineDone) -> None:
        self._run_over(message.status, message.error)
        if self.session.quitting and not self.session.sweep_active:  # a sweep closes first
            self.exit(self.session.quit_code)

    # -- a sweep's own messages (its runs' events come as for any run) ------------------------

    def on_sweep_run_starting(self, message: SweepRunStarting) -> None:
        """The sweep's next run becomes the current run: a fresh RunState, the watch redrawn."""
        snap, window = message.snapshot, message.profiler_window
        if self.session.begin_sweep_run(snap, message.index, message.action, window):
            self.watch_news.publish(REDRAW)

    def on_sweep_update(self, message: SweepUpdate) -> None:
        if self.session.sweep_state is not None:
            self.session.sweep_state.snapshot = message.snapshot
            self.watch_news.publish(SWEEP)

    def on_sweep_done(self, message: SweepDone) -> None:
        sweep = self.session.sweep_done(message.snapshot, message.error)
        if sweep is None:
            return
        snap = message.snapshot
        if message.error:
            title = f"Sweep {sweep.name} cannot go on"
            self.notify(message.error, title=title, severity="error", timeout=15, markup=False)
        elif snap is not None and (snap.status == "failed" or not self._watching()):
            severity = "error" if snap.status == "failed" else "information"  # else the line
            self.notify(sweep_done_text(sweep, snap), severity=severity, timeout=10, markup=False)
        self.watch_news.publish(STATUS)
        self.refresh_bindings()
        if self.session.quitting:
            self.exit(self.session.quit_code)

    # -- runs trained by other processes (detached, headless, another console's) ---------------

    def start_detached(self, request: LaunchRequest) -> bool:
        """Start the run as a process of its own ("keep training if this terminal closes"),
        then follow it as any attached run: it trains on after this console is gone."""
        self._follow_stop.set()
        source = self.session.begin_attached(request.label, "starting a process of its own")
        self._run_detached(request, source)
        self._show_new_run()
        return True

    @work(thread=True, group="detach", exit_on_error=False)
    def _run_detached(self, request: LaunchRequest, source: int) -> None:
        start_detached(request, source, self.post_message)

    def on_detached_started(self, message: DetachedStarted) -> None:
        if not self.session.accepts(message.source):
            return  # the console moved on to another run meanwhile
        if message.run_dir is None:
            self.on_follow_done(FollowDone(message.source, None, message.error))
        else:
            self.attach_run(message.run_dir, message.pid, self.session.run_state.label)

    def attach_run(self, run_dir: Path, pid: int | None = None, label: str | None = None) -> bool:
        """Watch a run that another process trains, from its files; refused while this
        console's engine is busy (the watch screen shows its run)."""
        if self._refused():
            return False
        state = self.session.run_state
        if state.attached and state.active and state.run_dir == str(run_dir):
            self.switch_mode("watch")  # already followed
            return True
        self._follow_stop.set()
        if pid is None:
            from core.storage.control import lock_holder

            pid = lock_holder(run_dir)
        label = label or Path(run_dir).name
        source = self.session.begin_attached(label, "reading its files", pid, run_dir)
        stop = self._follow_stop = threading.Event()
        self._follow(Path(run_dir), source, stop, pid)
        self._show_new_run()
        return True

    @work(thread=True, group="follow", exit_on_error=False)
    def _follow(self, run_dir: Path, source: int, stop: threading.Event, pid: int | None) -> None:
        """The follow worker: the run's events, read from its files, posted as a thread run's."""
        follow_run(run_dir, source, self.post_message, stop, pid)

    def on_follow_done(self, message: FollowDone) -> None:
        """The followed run's process is gone (or never started): the run is over here."""
        if self.session.accepts(message.source):
            self._run_over(message.status, message.error)

    def _run_over(self, status: str | None, error: str | None) -> None:
        self.session.run_over(status, error)
        if error:
            title = "The run could not start"
            self.notify(error, title=title, severity="error", timeout=15, markup=False)
        self.watch_news.publish(STATUS)
        self.refresh_bindings()

    def _show_new_run(self) -> None:
        self.watch_news.publish(REDRAW)
        self.switch_mode("watch")
        self.refresh_bindings()

    # -- navigation ---------------------------------------------------------------------------

    def open_report(self, run_dir: Path) -> None:
        from tui.console.screens.report import ReportScreen

        self.push_screen(ReportScreen(run_dir))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_console(self) -> None:
        session = self.session
        if session.quitting:  # asked again while the run stops: leave now (files stay whole)
            self.exit(session.quit_code)
        elif not session.busy:
            # (the seconds TensorFlow then takes to tear down come after the screen is gone:
            # run_console says so on the terminal)
            self.exit(EXIT_OK)
        elif not isinstance(self.screen, ConfirmScreen):
            question = (QUIT_SWEEP if session.sweep_active else QUIT_RUN) + "and quit?"
            self.push_screen(ConfirmScreen(question), self._quit_confirmed)

    def _quit_confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        self.session.quitting = True
        self.session.control.request_stop()
        self.notify("Stopping the run, then quitting…", timeout=QUIT_GRACE_SECONDS, markup=False)
        self.set_timer(QUIT_GRACE_SECONDS, lambda: self.exit(self.session.quit_code))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # No footer key for the screen already shown (tui/console/navigation.py).
        return not (action == "switch_mode" and parameters and self.mode_shown(parameters[0]))


def create_app(profiles_dir: Path, runs_dir: Path) -> CifarTuiApp:
    """The console app for a profiles directory and a runs directory."""
    return CifarTuiApp(profiles_dir=Path(profiles_dir), runs_dir=Path(runs_dir))
