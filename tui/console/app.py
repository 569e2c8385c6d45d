"""The Textual console: pick a profile, launch, watch, stop, browse runs, look at the data.

``create_app`` is the one factory, used by ``run_console`` (the ``cifar-tui`` command with no
arguments) and by the tests. TensorFlow is never imported here: the engine
(``core.training.engine``)
is imported inside the thread worker that runs it, so the console paints at once.

Threads: the engine runs in a Textual thread worker; its only way to the UI is posting
messages (``tui.console.messages``) to the app, whose handlers update :class:`RunState` and the
watch screen on the UI thread. Stopping goes the other way through a thread-safe ``RunControl``.
A sweep is one such worker running its runs in turn (``tui.console.sweep_runner``); each of its runs
becomes the current run, and :class:`SweepState` holds the sweep's own progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from core.dispatch import dispatch
from core.errors import EXIT_OK, EXIT_STOPPED, CifarTuiError
from core.events import Event, RunFinished, RunWarning
from core.status import BAD_ENDINGS, RESUMABLE
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
from tui.console.screens.watch import WatchScreen
from tui.console.state import RunState, SweepState
from tui.console.sweep_runner import execute_sweep

if TYPE_CHECKING:
    from core.storage.rundir import RunRecord
    from core.sweeps.spec import Sweep

#: Seconds a confirmed quit waits for the engine to stop and save before leaving anyway.
QUIT_GRACE_SECONDS = 20.0
#: Signals that end the console as a confirmed quit does (the terminal went away, or the
#: process is told to end); it exits 128 + the signal, as a shell reports it.
QUIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
#: The signal ``cifar-tui --stop`` sends the process holding a run's lock: stop that run.
STOP_SIGNAL = signal.SIGUSR1


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

    def __init__(self, profiles_dir: Path, runs_dir: Path) -> None:
        super().__init__()
        self.profiles_dir = Path(profiles_dir)
        self.runs_dir = Path(runs_dir)
        self.run_state = RunState()
        self.sweep_state: SweepState | None = None  # the running or last sweep, if any
        self.control: RunControl = RunControl()
        self.engine_status: str | None = None  # what the last execute() returned
        self._quitting = False
        self._quit_code = EXIT_STOPPED  # what leaving after a stop returns (128 + a signal)
        self._warned: set[str] = set()  # warning codes already toasted this session
        #: The pick screen's "keep training if this terminal closes": launches and resumes
        #: start a detached process (followed from its files) instead of the thread worker.
        self.keep_training = False
        self._follow_stop = threading.Event()  # ends the follow worker of an attached run
        self._sources = 0  # numbers attached views: a replaced follower's events are dropped
        self._signals: list[int] = []  # signals whose handlers this app installed

    # -- signals ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        """Signal handlers go on the event loop: they only schedule a call on the app, which
        then runs on the UI thread like any message."""
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for signum in (*QUIT_SIGNALS, STOP_SIGNAL):
                try:
                    loop.add_signal_handler(signum, self.call_later, self.handle_signal, signum)
                except (NotImplementedError, RuntimeError, ValueError):
                    continue  # not POSIX, or not the main thread: the default stays
                self._signals.append(signum)

    def on_unmount(self) -> None:
        self._follow_stop.set()
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for signum in self._signals:
                loop.remove_signal_handler(signum)
        self._signals.clear()

    def handle_signal(self, signum: int) -> None:
        """SIGUSR1 (``cifar-tui --stop`` from another terminal): stop the run, stay open.
        SIGHUP or SIGTERM: stop and save the engine's run (waiting at most
        QUIT_GRACE_SECONDS), then leave through Textual's exit, which restores the terminal;
        a second one leaves at once. A run attached from another process goes on."""
        name = signal.Signals(signum).name
        if signum == STOP_SIGNAL:
            if self.run_active and not self.control.stop_requested:
                self.stop_run(by=name)
                self.notify(
                    "Stopping after the current batch, as cifar-tui --stop asked.",
                    timeout=6,
                    markup=False,
                )
            return
        self._quit_code = 128 + signum
        if self._quitting or not self.run_active:
            self.exit(self._quit_code)
            return
        self._quitting = True
        self.control.request_stop(by=name)
        self.set_timer(QUIT_GRACE_SECONDS, lambda: self.exit(self._quit_code))

    # -- running the engine -----------------------------------------------------------------

    @property
    def run_active(self) -> bool:
        """A run trains, or a sweep is between two of its runs: the engine is busy (a run
        attached from another process is not this console's engine)."""
        return (self.run_state.active and not self.run_state.attached) or self.sweep_active

    @property
    def can_stop(self) -> bool:
        """The current run trains: in this console's engine, or attached."""
        return self.run_active or (self.run_state.attached and self.run_state.active)

    @property
    def sweep_active(self) -> bool:
        return self.sweep_state is not None and self.sweep_state.active

    def busy_message(self) -> str:
        """Why nothing else can start now (one engine worker at a time)."""
        if self.sweep_active:
            return "A sweep is running: stop it first (w, then s)."
        return "A run is already training: stop it first (w, then s)."

    def start_run(self, request: LaunchRequest) -> bool:
        """Start the engine in a thread worker; refused while another run trains."""
        if self.run_active:
            self.notify(self.busy_message(), severity="warning", markup=False)
            return False
        if self.keep_training:
            return self.start_detached(request)
        self._stop_following()
        self.sweep_state = None  # a single run: no sweep line on the watch screen
        state = RunState(label=request.label, active=True, status="starting")
        if request.profile is not None and request.profile.profiler.enabled:
            first, last = request.profile.profiler.batches
            state.profiler_window = (first, last)
        self.run_state = state
        self.control = RunControl()
        self.engine_status = None
        self._run_engine(request, self.control)
        self._watch_screen().redraw_if_mounted()
        self.switch_mode("watch")
        self.refresh_bindings()
        return True

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def _run_engine(self, request: LaunchRequest, control: RunControl) -> str:
        """The thread worker: runs the engine; talks to the UI only by posting messages."""
        return execute(request, control, self.post_message)

    def start_sweep(self, sweep: Sweep, parallel: int = 1) -> bool:
        """Run a validated sweep's runs in turn in the engine worker; refused while busy.

        The sweep directory is the one ``cifar-tui --sweep`` uses for the same file and runs
        directory, so either front resumes what the other left. ``parallel`` > 1: up to that
        many runs at once, each a process of its own (as ``--parallel``).
        """
        if self.run_active:
            self.notify(self.busy_message(), severity="warning", markup=False)
            return False
        from core.sweeps.loop import sweep_command

        self._stop_following()
        extra = ["--parallel", str(parallel)] if parallel > 1 else []
        command = sweep_command(sweep.path, sweep.overrides, self.runs_dir, extra=extra)
        self.sweep_state = SweepState(sweep.name, str(sweep.path), sweep.planned, command)
        self.run_state = RunState(label=f"sweep {sweep.name}", status="opening the sweep")
        control = RunControl()  # stops the sweep loop, which stops its current run
        self.control = control
        self.engine_status = None
        self._run_sweep(sweep, control, command, parallel)
        self._watch_screen().redraw_if_mounted()
        self.switch_mode("watch")
        self.refresh_bindings()
        return True

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def _run_sweep(self, sweep: Sweep, control: RunControl, command: str, parallel: int) -> str:
        """The thread worker of a sweep: its runs in turn; talks to the UI only by messages."""
        return execute_sweep(sweep, self.runs_dir, control, self.post_message, command, parallel)

    def stop_run(self, by: str = "user") -> None:
        """Stop the current run after its current batch (``by``: who asked, as the run keeps
        it); an attached run is asked to, after a confirmation."""
        if self.run_state.attached and not self.sweep_active:
            self._confirm_stop_attached()
            return
        if not self.run_active:
            self.notify("No run is training.", timeout=3, markup=False)
            return
        if not self.control.stop_requested:
            self.control.request_stop(by=by)
            self.run_state.stopping = self.run_state.active
            self._watch_screen().status_if_mounted()
            text = "Stopping after the current batch; everything is saved."
            if self.sweep_active:
                text = (
                    "Stopping the run after the current batch, and the sweep; everything is "
                    "saved. Start the sweep again to resume it."
                )
            if not self._watching():  # the watch screen says it on the device line
                self.notify(text, timeout=6, markup=False)

    def _watching(self) -> bool:
        """The watch screen is in front: its banners say what a toast would, so none is shown
        (toasts cover the plots, and stacked up on a stop)."""
        return isinstance(self.screen, WatchScreen)

    def why_not_resume(self, record: RunRecord) -> str | None:
        """Why ``record`` cannot be resumed now, or None if it can."""
        if self.run_active:
            return self.busy_message()
        if record.status not in RESUMABLE:
            return f"Only stopped or interrupted runs can be resumed; this one is {record.status}."
        return None

    def resume_run(self, record: RunRecord) -> bool:
        """Resume a stopped or interrupted run (``Run.resume`` in the worker)."""
        reason = self.why_not_resume(record)
        if reason is not None:
            self.notify(reason, severity="warning", markup=False)
            return False
        request = LaunchRequest(
            label=record.path.name, runs_dir=record.path.parent, resume_dir=record.path
        )
        return self.start_run(request)

    def on_engine_event(self, message: EngineEvent) -> None:
        """An engine event, on the UI thread: update the state, notify (``notify_<event type>``),
        then the watch screen."""
        if message.source != self.run_state.source:
            return  # read by a follower that was replaced since
        event = message.event
        self.run_state.apply(event)
        dispatch(self, event, prefix="notify_")
        self._watch_screen().apply_if_mounted(event)

    def notify_warning(self, event: RunWarning) -> None:
        """A warning is toasted once a session (the banner shows it for each run); "No GPU"
        never is: the banner and the device line say it."""
        if event.code == "no_gpu" or event.code in self._warned:
            return
        self._warned.add(event.code)
        self.notify(event.message, title="Warning", severity="warning", timeout=8, markup=False)

    def notify_run_finished(self, event: RunFinished) -> None:
        if event.status in BAD_ENDINGS:
            self.notify(
                event.message,
                title=f"Run {event.status}",
                severity="error",
                timeout=15,
                markup=False,
            )
        elif not self._watching():
            self.notify(f"Run {event.status}.", timeout=5, markup=False)

    def on_engine_done(self, message: EngineDone) -> None:
        self._run_over(message.status, message.error)
        if self._quitting and not self.sweep_active:  # a sweep first closes its directory
            self.exit(self._quit_code)

    # -- a sweep's own messages (its runs' events come as for any run) ------------------------

    def on_sweep_run_starting(self, message: SweepRunStarting) -> None:
        """The sweep's next run becomes the current run: a fresh RunState, the watch redrawn."""
        sweep = self.sweep_state
        if sweep is None:
            return
        sweep.snapshot = message.snapshot
        view = message.snapshot.run(message.index)
        self.run_state = RunState(
            label=view.label,
            active=True,
            status="resuming" if message.action == "resume" else "starting",
            profiler_window=message.profiler_window,
        )
        self.engine_status = None
        self._watch_screen().redraw_if_mounted()

    def on_sweep_update(self, message: SweepUpdate) -> None:
        if self.sweep_state is not None:
            self.sweep_state.snapshot = message.snapshot
            self._watch_screen().sweep_if_mounted()

    def on_sweep_done(self, message: SweepDone) -> None:
        sweep = self.sweep_state
        if sweep is None:
            return
        sweep.active = False
        self.run_state.active = False  # the worker is done, even if a bug cut its run short
        if message.snapshot is not None:
            sweep.snapshot = message.snapshot
        sweep.error = message.error
        if self.run_state.label == f"sweep {sweep.name}":  # no run started (all finished before)
            self.run_state.status = message.snapshot.status if message.snapshot else "not started"
        if message.error:
            self.notify(
                message.error,
                title=f"Sweep {sweep.name} cannot go on",
                severity="error",
                timeout=15,
                markup=False,
            )
        elif message.snapshot is not None:
            snap = message.snapshot
            where = f"Summary: {snap.path / 'summary.md'}"
            if snap.status in ("completed", "failed"):
                text = f"Sweep {sweep.name} {snap.status}: {snap.finished} of {snap.total} runs."
            else:
                text = (
                    f"Sweep {sweep.name} {snap.status}: {snap.finished} of {snap.total} "
                    "runs finished; start it again to resume."
                )
            severity = "error" if snap.status == "failed" else "information"
            if severity == "error" or not self._watching():  # else the sweep line says it
                self.notify(f"{text} {where}", severity=severity, timeout=10, markup=False)
        self._watch_screen().status_if_mounted()
        self.refresh_bindings()
        if self._quitting:
            self.exit(self._quit_code)

    # -- runs trained by other processes (detached, headless, another console's) ---------------

    def start_detached(self, request: LaunchRequest) -> bool:
        """Start the run as a process of its own ("keep training if this terminal closes"),
        then follow it as any attached run: it trains on after this console is gone."""
        self._stop_following()
        self.sweep_state = None
        self.run_state = RunState(
            label=request.label,
            active=True,
            attached=True,
            status="starting a process of its own",
            source=self._new_source(),
        )
        self.engine_status = None
        self._run_detached(request, self.run_state.source)
        self._show_new_run()
        return True

    @work(thread=True, group="detach", exit_on_error=False)
    def _run_detached(self, request: LaunchRequest, source: int) -> None:
        start_detached(request, source, self.post_message)

    def on_detached_started(self, message: DetachedStarted) -> None:
        state = self.run_state
        if message.source != state.source:
            return  # the console moved on to another run meanwhile
        if message.run_dir is None:
            self.on_follow_done(FollowDone(message.source, None, message.error))
            return
        self.attach_run(message.run_dir, pid=message.pid, label=state.label)

    def attach_run(self, run_dir: Path, pid: int | None = None, label: str | None = None) -> bool:
        """Watch a run that another process trains, from its files; refused while this
        console's engine is busy (the watch screen shows its run)."""
        if self.run_active:
            self.notify(self.busy_message(), severity="warning", markup=False)
            return False
        state = self.run_state
        if state.attached and state.active and state.run_dir == str(run_dir):
            self.switch_mode("watch")  # already followed
            return True
        self._stop_following()
        if pid is None:
            from core.storage.control import lock_holder

            pid = lock_holder(run_dir)
        self.sweep_state = None
        self.run_state = RunState(
            label=label or Path(run_dir).name,
            active=True,
            attached=True,
            status="reading its files",
            source=self._new_source(),
            pid=pid,
            followed_dir=str(run_dir),
        )
        self.engine_status = None
        stop = self._follow_stop = threading.Event()
        self._follow(Path(run_dir), self.run_state.source, stop, pid)
        self._show_new_run()
        return True

    @work(thread=True, group="follow", exit_on_error=False)
    def _follow(self, run_dir: Path, source: int, stop: threading.Event, pid: int | None) -> None:
        """The follow worker: the run's events, read from its files, posted as a thread run's."""
        follow_run(run_dir, source, self.post_message, stop, pid)

    def on_follow_done(self, message: FollowDone) -> None:
        """The followed run's process is gone (or never started): the run is over here."""
        if message.source == self.run_state.source:
            self._run_over(message.status, message.error)

    def _run_over(self, status: str | None, error: str | None) -> None:
        """The current run's thread or followed process is done; ``error``: it never started."""
        state = self.run_state
        state.active = False
        self.engine_status = status or "error"
        if error:
            state.error, state.status = error, "could not start"
            self.notify(
                error, title="The run could not start", severity="error", timeout=15, markup=False
            )
        self._watch_screen().status_if_mounted()
        self.refresh_bindings()

    def open_live(self, run_dir: Path) -> None:
        """``enter`` on a live run: its watch screen (this console's own run, or attached)."""
        own = not self.run_state.attached and self.run_state.run_dir == str(run_dir)
        if own and self.run_active:
            self.switch_mode("watch")
        elif self.run_active:  # the engine's run keeps the watch screen: the report instead
            self.notify(
                f"{self.busy_message()} Its report shows how far this run is.",
                timeout=6,
                markup=False,
            )
            self.open_report(run_dir)
        else:
            self.attach_run(run_dir)

    def _confirm_stop_attached(self) -> None:
        state = self.run_state
        if not state.active:
            self.notify("The run is not training.", timeout=3, markup=False)
            return
        if state.stopping or isinstance(self.screen, ConfirmScreen):
            return
        who = f"process {state.pid}" if state.pid else "another process"
        question = (
            f"Stop {state.label}? It trains in {who}; it stops after the current batch, is "
            "saved and can be resumed."
        )
        self.push_screen(ConfirmScreen(question, yes="Yes, stop it (y)"), self._stop_attached)

    def _stop_attached(self, yes: bool | None) -> None:
        state = self.run_state
        if not yes or not (state.attached and state.active and state.run_dir):
            return
        from core.storage.control import request_stop

        try:
            state.pid = request_stop(Path(state.run_dir))
        except CifarTuiError as exc:
            self.notify(str(exc), title="Cannot stop", severity="warning", markup=False)
            return
        state.stopping = True
        self._watch_screen().status_if_mounted()
        self.refresh_bindings()

    def _stop_following(self) -> None:
        self._follow_stop.set()

    def _new_source(self) -> int:
        self._sources += 1
        return self._sources

    def _show_new_run(self) -> None:
        self._watch_screen().redraw_if_mounted()
        self.switch_mode("watch")
        self.refresh_bindings()

    def _watch_screen(self) -> _WatchHandle:
        return _WatchHandle(self)

    # -- navigation ---------------------------------------------------------------------------

    def open_report(self, run_dir: Path) -> None:
        from tui.console.screens.report import ReportScreen

        self.push_screen(ReportScreen(run_dir))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_console(self) -> None:
        if self._quitting:  # asked again while the run stops: leave now (files stay whole)
            self.exit(self._quit_code)
            return
        if not self.run_active:
            self.leave(EXIT_OK)  # says "Quitting…" when TensorFlow makes it slow
            return
        if isinstance(self.screen, ConfirmScreen):
            return
        question = (
            "A run is training. Stop it (it is saved after the current batch "
            "and can be resumed) and quit?"
        )
        if self.sweep_active:
            question = (
                "A sweep is running. Stop it (its run is saved after the current batch; "
                "starting the sweep again resumes it) and quit?"
            )
        self.push_screen(ConfirmScreen(question), self._quit_confirmed)

    def _quit_confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        self._quitting = True
        self.control.request_stop()
        self.notify("Stopping the run, then quitting…", timeout=QUIT_GRACE_SECONDS, markup=False)
        self.set_timer(QUIT_GRACE_SECONDS, lambda: self.exit(self._quit_code))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # No footer key for the screen already shown (tui/console/navigation.py).
        return not (action == "switch_mode" and parameters and self.mode_shown(parameters[0]))


class _WatchHandle:
    """Reaches the watch screen only when it is mounted (it draws from the state on mount)."""

    def __init__(self, app: CifarTuiApp) -> None:
        self.screen: WatchScreen | None = None
        with contextlib.suppress(KeyError):  # the app is closing: its screens are gone
            self.screen = app.get_screen("watch")  # type: ignore[assignment]

    def _ready(self) -> bool:
        return self.screen is not None and self.screen.is_mounted

    def redraw_if_mounted(self) -> None:
        if self._ready():
            self.screen.redraw()

    def apply_if_mounted(self, event: Event) -> None:
        if self._ready():
            self.screen.apply(event)

    def status_if_mounted(self) -> None:
        if self._ready():
            self.screen.draw_status()

    def sweep_if_mounted(self) -> None:
        if self._ready():
            self.screen.draw_sweep()


def create_app(profiles_dir: Path, runs_dir: Path) -> CifarTuiApp:
    """The console app for a profiles directory and a runs directory."""
    return CifarTuiApp(profiles_dir=Path(profiles_dir), runs_dir=Path(runs_dir))


def run_console(profiles_dir: Path, runs_dir: Path) -> int:
    """Run the console in this terminal; returns the exit code (130 if a run was stopped)."""
    app = create_app(profiles_dir, runs_dir)
    # Our own loop: leaving it does not wait for the engine thread (asyncio.run would, with
    # the screen already gone and nothing said); the interpreter waits for it at exit instead.
    loop = asyncio.new_event_loop()
    with _native_stderr_to_log() as (driver_class, log_path):
        if driver_class is not None:
            app.driver_class = driver_class
        result = app.run(loop=loop)
    if app.sweep_active:
        print(
            "cifar-tui: the sweep stops; its run is saved after the current batch. Resume it "
            f"from the console or with: {app.sweep_state.command if app.sweep_state else ''}",
            file=sys.stderr,
            flush=True,
        )
    elif app.run_active:
        print(
            "cifar-tui: the run stops after its current batch and is saved; it can be "
            "resumed from the runs screen.",
            file=sys.stderr,
            flush=True,
        )
    elif app.run_state.attached and app.run_state.active and app.run_state.run_dir:
        where = shlex.quote(app.run_state.run_dir)
        print(
            f"cifar-tui: the run trains on in its own process: cifar-tui --watch {where} "
            f"follows it, cifar-tui --stop {where} stops it.",
            file=sys.stderr,
            flush=True,
        )
    if app.return_code:
        if log_path is not None:  # the crash report went to the log: show it
            with contextlib.suppress(OSError):
                sys.stderr.write(log_path.read_text(encoding="utf-8", errors="replace")[-20000:])
        return app.return_code
    return result if isinstance(result, int) else EXIT_OK


@contextlib.contextmanager
def _native_stderr_to_log():
    """Keep TensorFlow's C++ messages (written straight to fd 2) off the console's screen.

    Textual draws on stderr; TensorFlow's native code writes there too, which would scribble
    over the screen. While the console runs, fd 2 goes to a log file and Textual draws on a
    duplicate of the terminal's descriptor. Yields the driver class to use and the log's path
    (both None when nothing was redirected).
    """
    if os.name != "posix" or not os.isatty(2) or os.environ.get("TEXTUAL_DRIVER"):
        yield None, None
        return
    from textual.drivers.linux_driver import LinuxDriver

    log_path = Path(tempfile.gettempdir()) / f"cifar-tui-console-{os.getuid()}.log"
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="replace")
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError:
        terminal.close()
        yield None, None
        return

    class TerminalDriver(LinuxDriver):
        """The Linux driver, drawing on the saved terminal descriptor."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._file = terminal

    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield TerminalDriver, log_path
    finally:
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)
        terminal.close()
