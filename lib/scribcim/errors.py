"""Exceptions whose message is one line naming the file and the fix."""
from __future__ import annotations


class ScribcimError(Exception):
    """Base class: the CLI prints the message alone and exits non-zero."""


class DataError(ScribcimError):
    """Missing, misplaced, corrupt or mismatching data files."""


class ConfigError(ScribcimError):
    """A bad parameter or an inconsistent run folder."""
