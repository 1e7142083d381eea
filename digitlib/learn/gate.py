"""The validation gate: pure functions from probability tables to a verdict.

A candidate (a fine-tuned copy of a live model) is compared with the live model on a fixed
validation set, on the whole set and on each of its parts ("mnist", "canvas", "other"): gains on
one part must not hide losses on another. It fails when it loses more than a tolerance against
the live model, or ends more than a drift below the accuracy its lineage had before online
learning (``reference``) while losing anything. Each model passes or fails on its own; the
ensemble is then judged with the models that passed (the live ones in place of the others) and
on the drawing itself. Nothing here trains, loads or stores anything: the learner computes the
tables, ``judge`` decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from digitlib.learn.labels import label_text
from digitlib.learn.report import Change, SegmentFigures, ValidationFigures

#: How the parts of the validation set are named in reasons.
GROUP_NAMES = {"mnist": "MNIST", "canvas": "canvas digits", "other": '"other" drawings'}


@dataclass(frozen=True)
class GateBounds:
    """How much a candidate may lose (fractions: 0.001 = 0.1 points); see ``LearnConfig``."""

    tolerance: float = 0.001
    noise_sigmas: float = 2.0
    max_drift: float = 0.001
    model_drift: float = 0.003


@dataclass(frozen=True)
class Verdict:
    """What ``judge`` decided: the candidates that may be promoted, why the others may not, and
    the candidates that passed on their own (before the ensemble's check), and the figures
    (validation: each candidate and "ensemble"; segments: the same)."""

    accepted: tuple[str, ...]
    reasons: dict[str, str]
    passed: tuple[str, ...] = ()
    validation: dict[str, ValidationFigures] = field(default_factory=dict)
    segments: dict[str, SegmentFigures] = field(default_factory=dict)


def group_masks(sources: np.ndarray) -> dict[str, np.ndarray]:
    """ "all" and one boolean mask per part of the validation set (``sources`` (N,) str)."""
    groups = {"all": np.ones(len(sources), bool)}
    groups.update({str(group): sources == group for group in np.unique(sources)})
    return groups


def accuracies(
    probabilities: np.ndarray, truth: np.ndarray, groups: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Accuracy (group -> fraction) of ``probabilities`` (N, 11) against ``truth`` (N,) int."""
    right = np.argmax(probabilities, 1) == truth
    return {group: float(right[mask].mean()) for group, mask in groups.items()}


def flips(
    before: np.ndarray, after: np.ndarray, truth: np.ndarray, groups: Mapping[str, np.ndarray]
) -> dict[str, int]:
    """Images read right by one side only (group -> count): the paired measurement's noise."""
    moved = (np.argmax(before, 1) == truth) != (np.argmax(after, 1) == truth)
    return {group: int(moved[mask].sum()) for group, mask in groups.items()}


def loss_problem(
    key: str,
    before: Mapping[str, float],
    after: Mapping[str, float],
    reference: Mapping[str, float],
    sizes: Mapping[str, int],
    bounds: GateBounds,
    flipped: Mapping[str, int] | None = None,
) -> str:
    """Why the ``after`` accuracies (group -> fraction) of model ``key`` (or "ensemble") are not
    acceptable against ``before`` and the lineage's ``reference``; '' when they are.

    On a part of the set, one image (two against the reference) may always flip: a tolerance
    finer than one image would reject updates for noise. With ``flipped``, a single model may
    also lose up to ``noise_sigmas`` standard errors of the paired measurement; never more than
    ``model_drift`` (the ensemble ``max_drift``) below the reference, whatever the live figure.
    """
    for group in after:
        old, new = before[group], after[group]
        what = "validation accuracy" if key == "ensemble" else f"{key} validation accuracy"
        tolerance = bounds.tolerance
        drift = bounds.max_drift if key == "ensemble" else bounds.model_drift
        if group != "all":
            what += f" on {GROUP_NAMES.get(group, group)}"
            tolerance = max(tolerance, 1.0 / sizes[group])
            drift = max(drift, 2.0 / sizes[group])
        if flipped is not None:
            noise = bounds.noise_sigmas * np.sqrt(flipped[group]) / sizes[group]
            tolerance = max(tolerance, float(noise))
        if new < old - tolerance - 1e-9:
            return (
                f"{what} fell from {old:.2%} to {new:.2%} (tolerance {tolerance * 100:.2f} points)"
            )
        # The reference bounds the line of versions: below ``start - drift`` only an update
        # that loses nothing more may pass, so many small losses cannot add up.
        start = reference.get(group, old)
        if new < start - drift - 1e-9 and new < old - 1e-9:
            return (
                f"{what} would fall to {new:.2%}, more than {drift * 100:.2f} points "
                f"below the {start:.2%} it had before online learning"
            )
    return ""


def _segment_figures(before: np.ndarray, after: np.ndarray, labels: np.ndarray) -> SegmentFigures:
    picked = np.arange(len(labels)), labels
    return SegmentFigures(
        before=float(np.mean(before[picked])),
        after=float(np.mean(after[picked])),
        reading_before=label_text(np.argmax(before, 1)),
        reading_after=label_text(np.argmax(after, 1)),
    )


def judge(
    candidates: Sequence[str],
    before: Mapping[str, np.ndarray],
    after: Mapping[str, np.ndarray],
    truth: np.ndarray,
    sources: np.ndarray,
    weights: Mapping[str, float],
    reference: Mapping[str, Mapping[str, float]],
    segments_before: Mapping[str, np.ndarray],
    segments_after: Mapping[str, np.ndarray],
    labels: np.ndarray,
    bounds: GateBounds = GateBounds(),
) -> Verdict:
    """Decide which ``candidates`` may be promoted.

    before, after : model name -> probabilities (N, 11) float32 on the validation set, for
        every model of the ensemble (``after`` of a model that is no candidate is its
        ``before``).
    truth, sources : (N,) int labels and (N,) str parts of the validation set.
    weights : the ensemble's normalized weights, model name -> float.
    reference : model name and "ensemble" -> group -> accuracy before online learning.
    segments_before, segments_after : model name -> probabilities (K, 11) on the drawing's K
        segments; ``labels`` (K,) int their given labels.
    """
    names = list(before)
    groups = group_masks(sources)
    sizes = {group: int(mask.sum()) for group, mask in groups.items()}

    def ensemble(tables: Mapping[str, np.ndarray]) -> np.ndarray:
        return sum(weights[name] * tables[name] for name in names)

    old = {name: accuracies(before[name], truth, groups) for name in candidates}
    old["ensemble"] = accuracies(ensemble(before), truth, groups)
    new = {name: accuracies(after[name], truth, groups) for name in candidates}
    reasons = {}
    for name in candidates:
        problem = loss_problem(
            name,
            old[name],
            new[name],
            reference[name],
            sizes,
            bounds,
            flips(before[name], after[name], truth, groups),
        )
        if problem:
            reasons[name] = problem
    accepted = [name for name in candidates if name not in reasons]
    mixed = {name: after[name] if name in accepted else before[name] for name in names}
    new["ensemble"] = accuracies(ensemble(mixed), truth, groups)
    segment_mixed = {
        name: segments_after[name] if name in accepted else segments_before[name] for name in names
    }
    segments = {
        name: _segment_figures(segments_before[name], segments_after[name], labels)
        for name in candidates
    }
    segments["ensemble"] = _segment_figures(
        ensemble(segments_before), ensemble(segment_mixed), labels
    )
    validation = {
        key: ValidationFigures(
            before=old[key]["all"],
            after=new[key]["all"],
            groups={
                group: Change(old[key][group], new[key][group])
                for group in groups
                if group != "all"
            },
        )
        for key in [*candidates, "ensemble"]
    }
    passed = tuple(accepted)
    if accepted:
        problem = loss_problem(
            "ensemble", old["ensemble"], new["ensemble"], reference["ensemble"], sizes, bounds
        )
        drawing = segments["ensemble"]
        if not problem and drawing.after < drawing.before - 1e-3:
            problem = (
                f"the update did not help on the drawing itself (probability of "
                f"{label_text(labels)!r} fell from {drawing.before:.1%} to "
                f"{drawing.after:.1%})"
            )
        if problem:
            reasons.update({name: problem for name in accepted})
            accepted = []
    return Verdict(tuple(accepted), reasons, passed, validation, segments)
