"""Where digits drawn on a canvas are lost: segmentation, the canvas recipe, the decision, or the
models themselves.

MNIST digits fed to the models directly are read far better than the same digits placed on a
canvas and read by ``recognize()``. For every digit a canvas reading misses,
``miss_cause`` names the first step that lost it:

- ``"segmentation"``: the drawing was cut into several segments (a 5's detached bar, a broken
  stroke), or none;
- ``"decision: below the bar"``: one segment, whose best class after any second look is the
  right digit, but below ``min_confidence`` (or ``second_look_confidence``);
- ``"decision: shape rule"``: ... the right digit with enough probability, refused for its
  shape (holes, stroke length, nested ink, width);
- ``"decision: second look"``: the first look's best class was the right digit, the second
  look's mean over nine views is not;
- ``"canvas recipe"``: the model input made from the canvas is read as something else, while
  the same digit fed directly is read right;
- ``"models"``: fed directly, the digit is misread too.

Only MNIST *training* digits are diagnosed (``digitlib.config.HELD_OUT`` and the MNIST test set
measure; they never choose). ``digitlib diagnose --models models --count 10000``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlib.config import SHIPPED_MODELS_DIR

#: Every cause ``miss_cause`` names, in the order of the reading's steps.
CAUSES = (
    "segmentation",
    "decision: second look",
    "decision: below the bar",
    "decision: shape rule",
    "canvas recipe",
    "models",
)


def miss_cause(
    label: int,
    segments: int,
    first: np.ndarray | None,
    final: np.ndarray | None,
    shaped: bool,
    direct: np.ndarray,
) -> str:
    """The step (one of ``CAUSES``) that lost a digit a canvas reading missed.

    ``label``: the digit drawn; ``segments``: how many segments the drawing was cut into;
    ``first``: the ensemble's 11 probabilities of the one segment's input (None for several
    segments); ``final``: the same after the second look (``first`` when there was none);
    ``shaped``: whether the segment has a digit's shape (``recognize.DecisionParams``' shape
    rules); ``direct``: the ensemble's 11 probabilities of the digit's own 28x28 image.
    """
    if segments != 1 or first is None or final is None:
        return "segmentation"
    first_best, final_best = int(np.argmax(first)), int(np.argmax(final))
    if final_best == label:
        return "decision: below the bar" if shaped else "decision: shape rule"
    if first_best == label:
        return "decision: second look"
    if int(np.argmax(direct)) == label:
        return "canvas recipe"
    return "models"


def mnist_canvas_misses(
    models_dir: Path = SHIPPED_MODELS_DIR, count: int = 10000, rng: int = 0
) -> dict:
    """Read ``count`` MNIST training digits placed on canvases (``data.mnist_canvas``) with the
    models of ``models_dir`` and ``DecisionParams()``; returns the counts read right, read as
    nothing, read right fed directly, and of the misses by cause (``miss_cause``), with the
    misses read as nothing by cause."""
    from digitlib.drawings import data
    from digitlib.recognize import (
        DecisionParams,
        has_digit_shape,
        load_recognizer,
        prepare,
        second_look,
    )

    recognizer = load_recognizer(models_dir)
    params = DecisionParams()
    ensemble = recognizer.ensemble
    images, labels = data.load_mnist("train")
    rng = np.random.default_rng(rng)
    pick = np.sort(rng.permutation(len(images))[:count])
    images, labels = images[pick], labels[pick]
    canvases = [data.mnist_canvas(image, rng) for image in images]
    results = recognizer.recognize_many(canvases)
    direct = ensemble.predict_all(images.astype(np.float32) / 255.0)["ensemble"]
    causes = dict.fromkeys(CAUSES, 0)
    nothing_causes = dict.fromkeys(CAUSES, 0)
    for index, (result, label) in enumerate(zip(results, labels, strict=True)):
        if result.text == str(label):
            continue
        prepared = prepare(canvases[index], recognizer.segmentation)
        first = final = None
        shaped = True
        if len(prepared.boxes) == 1:
            outputs = ensemble.predict_all(np.stack(prepared.inputs))
            first = outputs["ensemble"][0]
            final = second_look(
                ensemble, np.stack(prepared.inputs), outputs, [prepared], "ensemble", params
            )[0]["ensemble"][0]
            shaped = has_digit_shape(prepared.shapes[0], prepared.boxes[0], params)
        cause = miss_cause(int(label), len(prepared.boxes), first, final, shaped, direct[index])
        causes[cause] += 1
        nothing_causes[cause] += result.text == ""
    return {
        "count": int(count),
        "read_right": int(
            sum(result.text == str(label) for result, label in zip(results, labels, strict=True))
        ),
        "read_as_nothing": int(sum(r.text == "" for r in results)),
        "direct_right": int((direct.argmax(axis=1) == labels).sum()),
        "misses_by_cause": causes,
        "read_as_nothing_by_cause": nothing_causes,
    }
