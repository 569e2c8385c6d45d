"""User-facing errors and the documented exit codes.

Every mistake a user can make (a bad profile, a missing dataset, an unwritable runs directory)
becomes one of these, so the fronts can print one clear line instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1  # the run failed or diverged
EXIT_USAGE = 2  # bad profile, bad arguments, missing data, unwritable runs directory
EXIT_STOPPED = 130  # stopped by the user (Ctrl+C, or the console's stop key)


class CifarTuiError(Exception):
    """Base of the errors that are the user's to fix; the CLI exits with ``exit_code``."""

    exit_code = EXIT_USAGE


@dataclass
class ProfileError(CifarTuiError):
    """A profile (or hyperparameter profile, or ``--set``) that cannot be used as written."""

    file: str
    message: str
    key: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.message}"


class DataError(CifarTuiError):
    """The dataset named by a profile cannot be found or read."""


class RunDirError(CifarTuiError):
    """The runs directory cannot be written, or a run directory cannot be resumed."""
