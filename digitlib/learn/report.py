"""What one ``learn`` call did: ``Update`` and its typed figures, each with a JSON form (the
store's update log and the version manifests keep that form)."""

from __future__ import annotations

from dataclasses import dataclass, field

from digitlib.config import CLASS_NAMES


@dataclass(frozen=True)
class Change:
    """A validation accuracy (a fraction) before and after an update."""

    before: float
    after: float

    def to_json(self) -> dict:
        return {"before": self.before, "after": self.after}


@dataclass(frozen=True)
class ValidationFigures:
    """One model's (or the ensemble's) accuracy on the gate's validation set, on the whole set
    and on each part (``groups``: "mnist", "canvas", "other")."""

    before: float
    after: float
    groups: dict[str, Change] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "before": self.before,
            "after": self.after,
            "groups": {group: change.to_json() for group, change in self.groups.items()},
        }


@dataclass(frozen=True)
class SegmentFigures:
    """On the drawing itself: the mean probability of the given labels before and after, and
    the reading before and after ("4?2")."""

    before: float
    after: float
    reading_before: str
    reading_after: str

    def to_json(self) -> dict:
        return {
            "before": self.before,
            "after": self.after,
            "reading_before": self.reading_before,
            "reading_after": self.reading_after,
        }


@dataclass(frozen=True)
class GateFigures:
    """How the gate scored: ``scored`` of ``of`` validation images (all when ``exact``), and
    the models that passed on their own."""

    scored: int
    of: int
    exact: bool
    passed: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "scored": self.scored,
            "of": self.of,
            "exact": self.exact,
            "passed": sorted(self.passed),
        }


@dataclass(frozen=True)
class TrainFigures:
    """What the copies were trained on: ``samples`` in all, from ``segments`` drawn segments
    (each with its 24 variants) and ``replay`` earlier examples."""

    samples: int
    segments: int
    replay: int

    def to_json(self) -> dict:
        return {"samples": self.samples, "segments": self.segments, "replay": self.replay}


@dataclass
class UpdateMetrics:
    """The figures of one update (empty for a drawing held for review).

    labels : the reading taught ("42").
    train, gate : see ``TrainFigures``, ``GateFigures``.
    validation, segments : model name or "ensemble" -> figures.
    reference : model name or "ensemble" -> group -> accuracy of the lineage before its first
        online update (``reference_spec`` names the validation set it was measured on).
    timing : phase -> seconds ("prepare", "batch", "train", "gate", "promote", "install").
    """

    labels: str = ""
    train: TrainFigures | None = None
    gate: GateFigures | None = None
    validation: dict[str, ValidationFigures] = field(default_factory=dict)
    segments: dict[str, SegmentFigures] = field(default_factory=dict)
    reference: dict[str, dict[str, float]] = field(default_factory=dict)
    reference_spec: str = ""
    timing: dict[str, float] = field(default_factory=dict)

    def add_time(self, phase: str, seconds: float) -> None:
        self.timing[phase] = self.timing.get(phase, 0.0) + seconds

    def to_json(self) -> dict:
        """The JSON form (the layout of the store's update log since the first version)."""
        result: dict = {}
        if self.labels:
            result["labels"] = self.labels
        if self.train is not None:
            result["train"] = self.train.to_json()
        if self.reference:
            result["reference"] = {"spec": self.reference_spec, **self.reference}
        if self.gate is not None:
            result["gate"] = self.gate.to_json()
        if self.segments:
            result["segments"] = {key: value.to_json() for key, value in self.segments.items()}
        if self.validation:
            result["validation"] = {key: value.to_json() for key, value in self.validation.items()}
        if self.timing:
            result["timing"] = dict(self.timing)
        return result

    def for_model(self, name: str) -> dict:
        """The part that belongs in the manifest of model ``name``'s new version (JSON form)."""
        keys = (name, "ensemble")
        full = self.to_json()
        return {
            "validation": {k: v for k, v in full.get("validation", {}).items() if k in keys},
            "segments": {k: v for k, v in full.get("segments", {}).items() if k in keys},
            "reference": {
                k: v for k, v in full.get("reference", {}).items() if k in keys or k == "spec"
            },
            "gate": full.get("gate", {}),
        }


@dataclass
class Update:
    """What one ``learn`` call did.

    promoted : the new models are live in the recognizer and current in the registry.
    reason : why not (or what happened), in words.
    metrics : ``UpdateMetrics``; accuracies are fractions, segment figures the mean probability
        of the given labels.
    seconds : wall time of the call.
    versions : model name -> version live after the call.
    held : ids of review-queue items this call created (empty when it trained).
    labels : the class index of each segment (10 = other), as understood.
    session_id : the anonymous session id given.
    attempts : promotions tried (more than 1 when another learner promoted first).
    promoted_models, kept : which models learned, and why the others did not (name -> reason).
    stroke_metrics : the stroke model's figures (its own validation set and gate), when the
        drawing was learned with its strokes; None otherwise.
    """

    promoted: bool
    reason: str
    metrics: UpdateMetrics = field(default_factory=UpdateMetrics)
    seconds: float = 0.0
    versions: dict = field(default_factory=dict)
    held: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    session_id: str | None = None
    attempts: int = 0
    promoted_models: list = field(default_factory=list)
    kept: dict = field(default_factory=dict)
    stroke_metrics: UpdateMetrics | None = None

    def to_json(self) -> dict:
        """A JSON-ready summary for the store's update log."""
        summary = {
            "promoted": self.promoted,
            "reason": self.reason,
            "metrics": self.metrics.to_json(),
            "seconds": round(self.seconds, 4),
            "versions": self.versions,
            "held": list(self.held),
            "labels": [CLASS_NAMES[label] for label in self.labels],
            "session_id": self.session_id,
            "attempts": self.attempts,
            "promoted_models": list(self.promoted_models),
            "kept": dict(self.kept),
        }
        if self.stroke_metrics is not None:
            summary["stroke_metrics"] = self.stroke_metrics.to_json()
        return summary


def accuracy_series(metrics: dict, name: str) -> dict[str, float]:
    """The accuracies a version's manifest recorded for model ``name`` (the JSON form of
    ``UpdateMetrics.for_model``), by series title, values in [0, 1]: the gate's validation
    accuracy after the update and its MNIST and canvas-digit parts. Empty for versions that
    recorded none (shipped or seeded ones)."""
    figures = ((metrics or {}).get("validation") or {}).get(name) or {}
    series = {}
    if isinstance(figures.get("after"), int | float):
        series["validation (gate)"] = float(figures["after"])
    groups = figures.get("groups") or {}
    for group, title in (("mnist", "MNIST"), ("canvas", "canvas-style")):
        after = (groups.get(group) or {}).get("after")
        if isinstance(after, int | float):
            series[title] = float(after)
    return series
