"""The domain's exceptions; the HTTP layer maps each to one status in one table."""


class AnalysisError(Exception):
    """Base of every error the analysis core raises on purpose."""


class InputError(AnalysisError):
    """The submitted document cannot be analysed as sent."""

    document: int | None = None  # which of the documents analysed together, if one is to blame
    pointer: str | None = None  # where in the request, set by the layer that knows its shape


class LimitExceeded(InputError):
    """The document is larger than a configured limit allows."""

    def __init__(self, message: str, *, limit: str, value: int, maximum: int,
                 document: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.document = document


class ModelError(AnalysisError):
    """A model artifact is missing, tampered with, or does not match its card."""


class PolicyError(AnalysisError):
    """A policy file is missing or invalid."""
