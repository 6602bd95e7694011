"""Errors a user can cause and fix: the CLI prints them as one line, without a traceback."""


class PyroVAEError(Exception):
    """Base class of every user-facing error of pyro_vae."""


class DataError(PyroVAEError, ValueError):
    """Data that a model cannot observe: non-finite values, wrong shape, outside the support."""


class PairingError(PyroVAEError, ValueError):
    """A guide that does not match its model (site names, support, shapes)."""


class ConfigError(PyroVAEError, ValueError):
    """An invalid setting: unknown objective, experiment or profile, a bad number."""


class DivergenceError(PyroVAEError, RuntimeError):
    """Training produced a non-finite loss; the last good parameters are kept."""

    def __init__(self, message: str, history=None):
        super().__init__(message)
        self.history = history
