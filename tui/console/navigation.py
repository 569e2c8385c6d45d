"""The console's p, w and b: each always shows its own screen; and q says it is quitting.

Each mode (pick, watch, runs) keeps a stack of screens: a report opened from the runs list, the
mistakes view over it, a comparison, help. Coming back to a mode with its key shows the mode's
own screen, not whatever was left on top of it (the footer offers the key whenever that is not
already what is shown).
"""

from __future__ import annotations

import sys
from typing import Any

#: Libraries whose teardown makes leaving take seconds once they are loaded.
SLOW_TO_LEAVE = ("tensorflow", "jax")


class ModeKeys:
    """Mixed into the console app, before textual's App."""

    screen_stack: Any
    current_mode: str

    async def action_switch_mode(self, mode: str) -> None:
        await self.switch_mode(mode)  # type: ignore[attr-defined]
        while len(self.screen_stack) > 1:  # what was opened over the mode's screen
            await self.pop_screen()  # type: ignore[attr-defined]

    def mode_shown(self, mode: object) -> bool:
        """Whether ``mode``'s own screen is what is shown now (its key would do nothing)."""
        return mode == self.current_mode and len(self.screen_stack) == 1

    def leave(self, code: int) -> None:
        """Quit with ``code``. Once TensorFlow (or JAX) is loaded, tearing it down takes
        seconds: "Quitting…" is painted first, so the screen never freezes without a word."""
        if not any(name in sys.modules for name in SLOW_TO_LEAVE):
            self.exit(code)  # type: ignore[attr-defined]
            return
        self.notify("Quitting…", timeout=30, markup=False)  # type: ignore[attr-defined]
        self.call_after_refresh(self.exit, code)  # type: ignore[attr-defined]
