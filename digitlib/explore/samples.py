"""How many samples the notebooks draw, and drawing them at random.

Every notebook asks ``sizes()`` how many images, drawings and points to use: the full counts
give the pictures committed with the notebooks, ``DIGITLIB_NOTEBOOK_SMALL=1`` in the environment
gives small ones, so the tests run all the notebooks headless in well under a few minutes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Environment variable that switches the notebooks to small samples (any value but "", "0").
SMALL_ENVIRONMENT_VARIABLE = "DIGITLIB_NOTEBOOK_SMALL"


@dataclass(frozen=True)
class Sizes:
    """How many samples the notebooks draw. ``sizes()`` picks the full or the small set."""

    small: bool = False
    #: Examples per class in the galleries.
    gallery_per_class: int = 8
    #: Drawings (rows) in the canvas-style galleries: digits and doodles.
    gallery_digits: int = 10
    gallery_doodles: int = 6
    #: Images per group in the pixel statistics.
    statistics_samples: int = 2000
    #: MNIST test images scored in the model notebook.
    mnist_test: int = 10_000
    #: Held-out canvas renderings of digits (pendigits' held-out writers) and of doodles.
    heldout_digits: int = 2000
    heldout_doodles: int = 1000
    #: Points on the "other" threshold curve.
    threshold_points: int = 101
    #: Digits of each held-out writer read to find the one the models misread most.
    writer_digits: int = 120
    #: Corrections taught to the learner, and wrong labels in the burst.
    corrections: int = 10
    wrong_labels: int = 5


SMALL_SIZES = Sizes(
    small=True,
    gallery_per_class=3,
    gallery_digits=3,
    gallery_doodles=2,
    statistics_samples=120,
    mnist_test=300,
    heldout_digits=120,
    heldout_doodles=80,
    threshold_points=21,
    writer_digits=8,
    corrections=2,
    wrong_labels=2,
)


def sizes(environ: Mapping[str, str] | None = None) -> Sizes:
    """``SMALL_SIZES`` when ``DIGITLIB_NOTEBOOK_SMALL`` is set (and not "0"), else ``Sizes()``."""
    environ = os.environ if environ is None else environ
    flag = environ.get(SMALL_ENVIRONMENT_VARIABLE, "").strip().lower()
    return SMALL_SIZES if flag not in ("", "0", "false", "no") else Sizes()


def random_sample(
    items: Sequence, count: int, rng: np.random.Generator | int | None = None
) -> list:
    """``count`` items drawn at random without replacement (all of them when fewer)."""
    rng = np.random.default_rng(rng)
    picked = rng.choice(len(items), size=min(count, len(items)), replace=False)
    return [items[int(i)] for i in picked]
