"""Exceptions and warnings raised by xling.

Every error caused by user input is a subclass of :class:`XlingError`, so the
CLI can turn it into one clean message, and library users can catch them all.
"""

from __future__ import annotations


class XlingError(Exception):
    """Base class of every xling error that comes from bad input or a failed fit."""


class FormatError(XlingError, ValueError):
    """A file does not have the expected format.

    Parameters
    ----------
    message : str
        What was expected and what was found.
    path : str or None
        The file, when there is one.
    line : int or None
        1-based line number in that file (record number for binary files).
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


class InputError(XlingError, ValueError):
    """A value given to xling (a setting, an array, an argument) is not one it accepts.

    A ``ValueError`` too, so ``except ValueError`` keeps working; the CLI
    prints it as one line, where a bare ``ValueError`` (a bug) keeps its
    traceback.
    """


class InputTypeError(XlingError, TypeError):
    """A value given to xling has the wrong type (a ``TypeError`` too; see :class:`InputError`)."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before meeting its criterion."""


class NotEnoughDataError(XlingError, ValueError):
    """Too few usable pairs, words or sentences for the requested fit."""
