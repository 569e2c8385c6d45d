"""The console's p, w and b: each always shows its own screen.

Each mode (pick, watch, runs) keeps a stack of screens: a report opened from the runs list, the
mistakes view over it, a comparison, help. Coming back to a mode with its key shows the mode's
own screen, not whatever was left on top of it (the footer offers the key whenever that is not
already what is shown).
"""

from __future__ import annotations

from typing import Any


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
