"""The analyzers a running app serves: the active model's, and pinned versions on demand."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .analysis.adjust import Correction, TermList
from .analysis.analyzer import Analyzer
from .analysis.classifier import Model, ModelRegistry
from .analysis.errors import InputError, ModelError
from .analysis.policy import Policy

if TYPE_CHECKING:
    from .store import Marks, Store

log = logging.getLogger("service.runtime")


class UnknownModelVersion(InputError):
    """A request pinned a model version that is not available."""


class AnalyzerProvider:
    """Hands out analyzers and term lists, and keeps them current.

    Every ``REFRESH_SECONDS`` (checked lazily, on a request) a worker re-reads
    the models directory's ``ACTIVE`` pointer; a change swaps in the new model.
    Term lists and the set of corrected sentences are brought up to the store's
    ``Marks``, which every authenticated request reads with its key (``sync``),
    so a new term or correction holds from the next request in every worker.
    Requests already running keep the objects they started with, so nothing is
    dropped mid-way.
    """

    def __init__(self, default: Analyzer, policy: Policy, registry: ModelRegistry | None,
                 config: dict[str, Any], store: Store | None = None) -> None:
        self.default = default
        self.policy = policy
        self.registry = registry
        self.config = config
        self.store = store
        self.terms = TermList()
        self.corrected: set[str] = set()  # keys of every corrected sentence (see ``corrections``)
        self._corrections_mark = -1  # the newest correction in ``corrected``; -1: not read yet
        self._sync_lock = threading.Lock()
        self._pinned: OrderedDict[str, Analyzer] = OrderedDict()
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._checked = float("-inf")
        self.on_switch: list[Callable[[Model, Model], None]] = []  # (old, new) after a model switch

    def refresh(self, force: bool = False) -> None:
        """Pick up a newly activated model, term lists and corrections (at most every REFRESH_SECONDS;
        ``sync`` brings the last two in on every authenticated request)."""
        now = time.monotonic()
        if not force and now - self._checked < self.config["REFRESH_SECONDS"]:
            return
        if not self._refresh_lock.acquire(blocking=force):
            return  # another thread of this worker is refreshing; serve with what we have
        try:
            self._checked = now
            if self.store is not None:
                self.sync(self.store.marks())
            self._refresh_model()
        finally:
            self._refresh_lock.release()

    def sync(self, marks: Marks | None) -> None:
        """Bring the term lists and the corrected-sentence keys up to ``marks``."""
        if self.store is None or marks is None:
            return
        if marks.terms != self.terms.generation:
            self.terms = self.store.term_list()
        if marks.corrections != self._corrections_mark:
            with self._sync_lock:
                if marks.corrections < self._corrections_mark or self._corrections_mark < 0:
                    newest, keys = self.store.corrected_keys()  # first read, or rows were deleted
                    self.corrected = keys
                else:
                    newest, keys = self.store.corrected_keys(after=self._corrections_mark)
                    self.corrected.update(keys)
                self._corrections_mark = newest

    def corrections(self, keys: Sequence[str]) -> dict[str, Correction]:
        """Moderators' corrections of these sentence keys: a set lookup, and a query only for the
        few sentences that have one."""
        hits = [k for k in keys if k in self.corrected]
        return self.store.corrections_for(hits) if hits and self.store is not None else {}

    def _refresh_model(self) -> None:
        if self.registry is None or self.config["MODEL_VERSION"]:
            return  # a pinned MODEL_VERSION ignores the ACTIVE pointer
        active = self.registry.active_version()
        if not active or active == self.default.model.version:
            return
        try:
            analyzer = self.get(active)
        except UnknownModelVersion as exc:
            log.error("cannot switch to the active model %s, still serving %s: %s",
                      active, self.default.model.version, exc)
            return
        log.info("switched model %s -> %s", self.default.model.version, active)
        old, self.default = self.default, analyzer
        for callback in self.on_switch:
            callback(old.model, analyzer.model)

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
        return self.keep(model)

    def keep(self, model: Model) -> Analyzer:
        """Cache an analyzer for an already loaded ``model`` (activation checks it by loading it once)."""
        analyzer = self.make(model)
        with self._lock:
            self._pinned[model.version] = analyzer
            while len(self._pinned) > self.config["MODEL_CACHE_SIZE"]:
                self._pinned.popitem(last=False)
        return analyzer

    def make(self, model: Model) -> Analyzer:
        return build_analyzer(model, self.policy, self.config)


def build_analyzer(model: Model, policy: Policy, config: dict[str, Any]) -> Analyzer:
    """An analyzer with the app's flag level and sentence limit."""
    return Analyzer(model, policy, flag_level=config["FLAG_LEVEL"], max_sentences=config["MAX_SENTENCES"],
                    max_total_sentences=config["MAX_REQUEST_SENTENCES"])
