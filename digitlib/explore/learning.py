"""The learning room (``notebooks/04_learning.ipynb``): what corrections teach the models, and
what the validation gate keeps out.

It finds the held-out writer and digit the recognizer misreads most, teaches a few of their
drawings through the gate and shows the others read before and after with the gate's numbers,
then draws what a burst of wrong labels does to the accuracy with and without the gate. Learning
happens in copies of the recognizer and in a scratch store, so the project's models and store
are never touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from digitlib.config import CLASS_NAMES
from digitlib.explore.data import render_canvases
from digitlib.explore.figures import hide_ticks, new_figure, on_white, palette_colors
from digitlib.explore.models import LabeledSet, decide_labels, heldout_canvas_set, predict_all
from digitlib.explore.samples import Sizes, random_sample
from digitlib.explore.tables import Table


def scratch_store():
    """A ``LocalStore`` in a new temporary folder, so the notebook's learning never touches the
    project's store (``data/store``)."""
    import tempfile

    from digitlib.store import LocalStore

    return LocalStore(tempfile.mkdtemp(prefix="digitlib-notebook-store-"))


def learn_config(size: Sizes, *, gate: bool = True, seed: int = 0):
    """The ``LearnConfig`` of the learning notebook: the defaults (``gate=True``), or the gate
    switched off (``gate=False``): no accuracy tolerance, no drift limit, no suspicion check.
    Small runs use smaller validation and replay sets."""
    from digitlib.learn import LearnConfig, ReplaySpec, ValidationSpec

    settings: dict = {"seed": seed}
    if size.small:
        settings["validation"] = ValidationSpec(mnist=200, canvas=40, other=30)
        settings["replay"] = ReplaySpec(mnist=200, canvas=40, other=30)
    if not gate:
        settings.update(tolerance=0.999, max_drift=0.999, suspicion_confidence=1.0)
    return LearnConfig(**settings)


def copy_recognizer(recognizer):
    """A new ``Recognizer`` with independent copies of ``recognizer``'s models and its weights
    and thresholds: learning in the copy leaves the original alone."""
    from digitlib.recognize import Recognizer

    return Recognizer(
        {name: model.copy() for name, model in recognizer.models.items()},
        recognizer.weights,
        versions=recognizer.versions,
        decision=recognizer.decision,
        segmentation=recognizer.segmentation,
    )


@dataclass(frozen=True)
class WriterDrawings:
    """One writer's digits on random canvases: ``canvases`` (list of uint8 images), ``labels``
    int64 (N,), ``writer`` id."""

    writer: int
    canvases: list
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def writer_drawings(
    writers: Sequence[int], per_writer: int, rng: np.random.Generator | int | None = None
) -> list[WriterDrawings]:
    """``per_writer`` random pendigits digits of each writer, each on a random canvas."""
    from digitlib.drawings import data

    rng = np.random.default_rng(rng)
    pendigits = data.load_pendigits()
    drawings = []
    for writer in writers:
        digits = random_sample([d for d in pendigits if d.writer == writer], per_writer, rng)
        drawings.append(
            WriterDrawings(
                int(writer),
                render_canvases(digits, rng),
                np.array([d.label for d in digits], np.int64),
            )
        )
    return drawings


def read_texts(recognizer, canvases: Sequence[np.ndarray]) -> list[str]:
    """What the recognizer reads on each canvas (``Result.text``)."""
    return [result.text for result in recognizer.recognize_many(list(canvases))]


def text_accuracy(texts: Sequence[str], labels: np.ndarray) -> float:
    """Share of single-digit drawings read exactly as their label."""
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} readings for {len(labels)} labels")
    return float(np.mean([text == str(label) for text, label in zip(texts, labels, strict=True)]))


def writers_table(recognizer, writers: Sequence[WriterDrawings]) -> Table:
    """How well the recognizer reads each writer: one row per writer, worst first."""
    rows = []
    for drawings in writers:
        texts = read_texts(recognizer, drawings.canvases)
        rows.append((drawings.writer, len(drawings), text_accuracy(texts, drawings.labels)))
    rows.sort(key=lambda row: row[2])
    return Table(("writer", "digits", "read exactly"), tuple(rows), "Held-out writers")


def split_corrections(
    recognizer, drawings: WriterDrawings, count: int
) -> tuple[WriterDrawings, WriterDrawings]:
    """The first ``count`` of the writer's drawings the recognizer misreads (to correct), and
    all the others (to measure on: never taught)."""
    texts = read_texts(recognizer, drawings.canvases)
    wrong = [
        i
        for i, (t, label) in enumerate(zip(texts, drawings.labels, strict=True))
        if t != str(label)
    ]
    taught = wrong[:count]
    rest = [i for i in range(len(drawings)) if i not in taught]

    def part(rows: list[int]) -> WriterDrawings:
        return WriterDrawings(
            drawings.writer,
            [drawings.canvases[i] for i in rows],
            drawings.labels[rows] if rows else np.zeros(0, np.int64),
        )

    return part(taught), part(rest)


def worst_digit(recognizer, drawings: WriterDrawings) -> int:
    """The digit of ``drawings`` the recognizer reads right least often (the smaller digit on a
    tie)."""
    if not len(drawings):
        raise ValueError("no drawings given")
    texts = read_texts(recognizer, drawings.canvases)
    right: dict[int, list[bool]] = {}
    for text, label in zip(texts, drawings.labels, strict=True):
        right.setdefault(int(label), []).append(text == str(label))
    return min(right, key=lambda digit: (float(np.mean(right[digit])), digit))


def digit_drawings(
    writer: int,
    digit: int,
    taught: int,
    renderings: int = 2,
    rng: np.random.Generator | int | None = None,
) -> tuple[WriterDrawings, WriterDrawings]:
    """All of ``writer``'s pendigits drawings of ``digit``, split in two: the first ``taught``
    drawn once each on a random canvas (to correct), and the others drawn ``renderings`` times
    each (to measure on: never taught, not even in another rendering)."""
    from digitlib.drawings import data

    rng = np.random.default_rng(rng)
    mine = [d for d in data.load_pendigits() if d.writer == writer and d.label == digit]
    if len(mine) <= taught:
        raise ValueError(
            f"writer {writer} has {len(mine)} drawings of {digit}; need more than {taught}"
        )
    corrected, others = mine[:taught], [d for d in mine[taught:] for _ in range(renderings)]
    return (
        WriterDrawings(writer, render_canvases(corrected, rng), np.full(taught, digit)),
        WriterDrawings(writer, render_canvases(others, rng), np.full(len(others), digit)),
    )


def teach(learner, canvases: Sequence[np.ndarray], labels: Sequence) -> list:
    """Give the learner each canvas with its label (a digit, or a reading such as "42"), one
    update per drawing, in order. Returns the ``learn.Update`` of each."""
    if len(canvases) != len(labels):
        raise ValueError(f"{len(canvases)} drawings for {len(labels)} labels")
    return [
        learner.learn(canvas, str(label)) for canvas, label in zip(canvases, labels, strict=True)
    ]


def updates_table(updates: Sequence) -> Table:
    """The validation gate's numbers for each update: labels, promoted or not and why, the
    ensemble's validation accuracy before and after, the probability of the label on the
    drawing itself before and after, how much of the validation set was scored, seconds."""
    rows = []
    for number, update in enumerate(updates, start=1):
        metrics = update.metrics
        validation = metrics.validation.get("ensemble")
        segment = metrics.segments.get("ensemble")
        gate = metrics.gate
        nan = float("nan")
        rows.append(
            (
                number,
                metrics.labels or "".join(CLASS_NAMES[label][0] for label in update.labels),
                "yes" if update.promoted else ("held" if update.held else "no"),
                update.reason,
                validation.before if validation else nan,
                validation.after if validation else nan,
                segment.before if segment else nan,
                segment.after if segment else nan,
                f"{gate.scored}/{gate.of}" if gate else "-",
                float(update.seconds),
            )
        )
    return Table(
        (
            "update",
            "label",
            "promoted",
            "reason",
            "validation before",
            "validation after",
            "p(label) before",
            "p(label) after",
            "gate scored",
            "seconds",
        ),
        tuple(rows),
        "Each correction through the validation gate (ensemble)",
    )


def plot_before_after(
    drawings: WriterDrawings,
    before: Sequence[str],
    after: Sequence[str],
    *,
    title: str,
    columns: int = 10,
    limit: int = 30,
):
    """The writer's drawings with what was read before and after learning, those misread before
    or after first, at most ``limit``; captions of readings that changed are colored (green:
    now right, red: now wrong). Returns a Figure."""
    if not (len(drawings) == len(before) == len(after)):
        raise ValueError("drawings, before and after must have the same length")
    if len(drawings) == 0:
        figure = new_figure(6, 1.4)
        axes = figure.subplots()
        axes.text(0.5, 0.5, "no drawings: every one was read right", ha="center", va="center")
        hide_ticks(axes)
        axes.set_xlabel("drawing")
        axes.set_ylabel(f"writer {drawings.writer}")
        figure.suptitle(title)
        return figure
    # Drawings misread before or after come first; at most ``limit`` are shown.
    labels = [str(label) for label in drawings.labels]
    order = sorted(
        range(len(drawings)),
        key=lambda i: (before[i] == labels[i] and after[i] == labels[i], i),
    )[:limit]
    drawings = WriterDrawings(
        drawings.writer, [drawings.canvases[i] for i in order], drawings.labels[order]
    )
    before, after = [before[i] for i in order], [after[i] for i in order]
    columns = min(columns, len(drawings))
    rows = int(np.ceil(len(drawings) / columns))
    figure = new_figure(columns * 1.3 + 0.6, rows * 1.65 + 1.0)
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(grid.flat):
        hide_ticks(axes)
        if index >= len(drawings):
            axes.set_visible(False)
            continue
        axes.imshow(on_white(drawings.canvases[index]))
        label = str(drawings.labels[index])
        old, new = before[index] or "-", after[index] or "-"
        color = "black"
        if old != new:
            color = "green" if new == label else "red"
        axes.set_title(f"drawn {label}\n{old} -> {new}", fontsize=8, color=color)
    figure.suptitle(title)
    figure.supxlabel("drawing (caption: reading before -> after learning)", fontsize=10)
    figure.supylabel(f"writer {drawings.writer}", fontsize=10)
    return figure


@dataclass(frozen=True)
class BurstTrace:
    """What a burst of updates did: accuracy before the first update and after each
    (``mnist_accuracy``, ``canvas_accuracy``: (U+1,) float64), and each update's ``Update``."""

    mnist_accuracy: np.ndarray
    canvas_accuracy: np.ndarray
    updates: list


def measure_set(size: Sizes, rng: np.random.Generator | int | None = None) -> LabeledSet:
    """What learning is measured on: MNIST test digits the gate never sees (the odd rows,
    ``learn.mnist_evaluation_set``) and held-out canvas digits and doodles."""
    from digitlib.learn import mnist_evaluation_set

    rng = np.random.default_rng(rng)
    images, labels = mnist_evaluation_set()
    rows = np.sort(rng.choice(len(images), min(size.mnist_test // 4, len(images)), replace=False))
    canvas = heldout_canvas_set(size.heldout_digits // 4, size.heldout_doodles // 4, rng)
    return LabeledSet(
        np.concatenate([images[rows], canvas.images]),
        np.concatenate([labels[rows], canvas.labels]),
        np.concatenate([np.full(len(rows), "mnist"), canvas.kinds]),
    )


def _accuracies(recognizer, measured: LabeledSet) -> tuple[float, float]:
    reported = decide_labels(predict_all(recognizer, measured.images)["ensemble"])
    right = reported == measured.labels
    mnist = measured.kinds == "mnist"
    return float(right[mnist].mean()), float(right[~mnist].mean())


def burst(
    learner, canvases: Sequence[np.ndarray], labels: Sequence, measured: LabeledSet
) -> BurstTrace:
    """Teach ``labels`` one drawing at a time and measure the learner's recognizer (ensemble)
    on ``measured`` before and after each update: MNIST accuracy and canvas accuracy."""
    mnist, canvas = _accuracies(learner.recognizer, measured)
    mnist_trace, canvas_trace, updates = [mnist], [canvas], []
    for image, label in zip(canvases, labels, strict=True):
        updates.append(learner.learn(image, str(label)))
        mnist, canvas = _accuracies(learner.recognizer, measured)
        mnist_trace.append(mnist)
        canvas_trace.append(canvas)
    return BurstTrace(np.array(mnist_trace), np.array(canvas_trace), updates)


def plot_bursts(traces: Mapping[str, BurstTrace], *, title: str):
    """Accuracy after each wrongly labeled update, one line per learner (with and without the
    gate): MNIST digits the gate never sees, and held-out canvas drawings. Promoted updates are
    filled dots, rejected or held ones open. Returns a Figure."""
    if not traces:
        raise ValueError("plot_bursts needs at least one trace")
    figure = new_figure(11, 4.2)
    mnist_axes, canvas_axes = figure.subplots(1, 2)
    for (name, trace), color in zip(traces.items(), palette_colors(len(traces)), strict=True):
        steps = np.arange(len(trace.mnist_accuracy))
        promoted = np.array([True] + [u.promoted for u in trace.updates])
        for axes, values in (
            (mnist_axes, trace.mnist_accuracy),
            (canvas_axes, trace.canvas_accuracy),
        ):
            axes.plot(steps, values * 100, color=color, label=name)
            axes.scatter(steps[promoted], values[promoted] * 100, color=color, zorder=3)
            axes.scatter(
                steps[~promoted],
                values[~promoted] * 100,
                facecolors="white",
                edgecolors=color,
                zorder=3,
            )
    for axes, what in (
        (mnist_axes, "MNIST test digits (never seen by the gate)"),
        (canvas_axes, "held-out canvas digits and doodles"),
    ):
        axes.set_title(what, fontsize=10)
        axes.set_xlabel("wrongly labeled drawings taught")
        axes.set_ylabel("ensemble accuracy (%)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, title="filled: promoted, open: not", title_fontsize=7)
    figure.suptitle(title)
    return figure


def wrong_labels(labels: np.ndarray) -> np.ndarray:
    """A plausible vandal's labels: every digit called the next one ((d + 1) mod 10)."""
    return (np.asarray(labels, np.int64) + 1) % 10


def worst_writer(recognizer, writers: Sequence[WriterDrawings]) -> WriterDrawings:
    """The writer whose drawings the recognizer reads right least often."""
    if not writers:
        raise ValueError("no writers given")
    accuracies = [
        text_accuracy(read_texts(recognizer, drawings.canvases), drawings.labels)
        for drawings in writers
    ]
    return writers[int(np.argmin(accuracies))]


def vandalism(drawings: WriterDrawings, count: int) -> tuple[list, np.ndarray]:
    """The first ``count`` drawings with wrong labels (``wrong_labels``): (canvases, labels)."""
    return list(drawings.canvases[:count]), wrong_labels(drawings.labels[:count])
