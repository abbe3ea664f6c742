"""The analyzers a running app serves: the active model's, and pinned versions on demand."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .analysis.analyzer import Analyzer
from .analysis.classifier import Model, ModelRegistry
from .analysis.errors import InputError, ModelError
from .analysis.policy import Policy


class UnknownModelVersion(InputError):
    """A request pinned a model version that is not available."""


class AnalyzerProvider:
    def __init__(self, default: Analyzer, policy: Policy, registry: ModelRegistry | None,
                 config: dict[str, Any]) -> None:
        self.default = default
        self.policy = policy
        self.registry = registry
        self.config = config
        self._pinned: OrderedDict[str, Analyzer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str | None = None) -> Analyzer:
        """The analyzer for ``version`` (default: the active model)."""
        if version is None or version == self.default.model.version:
            return self.default
        with self._lock:
            if version in self._pinned:
                self._pinned.move_to_end(version)
                return self._pinned[version]
        if self.registry is None:
            raise UnknownModelVersion(f"model version {version!r} is not available")
        try:
            model = self.registry.load(version)
        except ModelError as exc:
            raise UnknownModelVersion(f"model version {version!r} is not available: {exc}") from exc
        analyzer = self.make(model)
        with self._lock:
            self._pinned[version] = analyzer
            while len(self._pinned) > self.config["MODEL_CACHE_SIZE"]:
                self._pinned.popitem(last=False)
        return analyzer

    def make(self, model: Model) -> Analyzer:
        return build_analyzer(model, self.policy, self.config)


def build_analyzer(model: Model, policy: Policy, config: dict[str, Any]) -> Analyzer:
    """An analyzer with the app's flag level and sentence limit."""
    return Analyzer(model, policy, flag_level=config["FLAG_LEVEL"], max_sentences=config["MAX_SENTENCES"])
