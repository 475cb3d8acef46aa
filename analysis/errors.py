"""The analysis' user errors: ``ntkfix`` reports each as one line on stderr, exit code 2.

``AnalysisError`` is their common base; ``analysis.cli.main`` treats it, and the library's
``ntkfix._core.errors.USER_ERRORS``, as user errors. Every other exception is a bug (or an
unforeseen case) and keeps its traceback.
"""

from __future__ import annotations


class AnalysisError(Exception):
    """A mistake in what the user asked for (not a bug): the message is one line for the user."""


class ConfigError(AnalysisError, ValueError):
    """A config that cannot be run."""


class UsageError(AnalysisError):
    """A command-line argument or input file that cannot be used."""


class ExecutorError(AnalysisError, ValueError):
    """The executor cannot be created (bad address, missing package, unreachable scheduler)."""
