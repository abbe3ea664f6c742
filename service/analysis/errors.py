"""The domain's exceptions; the HTTP layer maps each to one status in one table."""


class AnalysisError(Exception):
    """Base of every error the analysis core raises on purpose."""


class InputError(AnalysisError):
    """The submitted document cannot be analysed as sent."""


class LimitExceeded(InputError):
    """The document is larger than a configured limit allows."""

    def __init__(self, message: str, *, limit: str, value: int, maximum: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.maximum = maximum


class ModelError(AnalysisError):
    """A model artifact is missing, tampered with, or does not match its card."""


class PolicyError(AnalysisError):
    """A policy file is missing or invalid."""
