"""Augmentation of model inputs: random affine changes and stroke-width changes of 28x28
batches for training, and the classic 24-variant scheme for one drawing (online learning).

Pure functions: the input array is never changed; randomness comes from ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The 4 size changes of ``variants24``: (width factor, height factor).
VARIANT_RESIZES = ((1.2, 1.0), (0.8, 1.0), (1.0, 1.2), (1.0, 0.8))
#: Rotation angles (degrees) ``variants24`` picks from: -30..30 in steps of 5, without 0.
VARIANT_ANGLES = tuple(angle for angle in range(-30, 35, 5) if angle != 0)


@dataclass(frozen=True)
class AffineConfig:
    """Ranges of the random affine change (each drawn uniformly per image).

    ``rotation``: max degrees either way; ``scale``: (low, high) factor; ``aspect``: max relative
    change of width against height; ``shift``: max pixels either way; ``shear``: max shear factor;
    ``stroke_probability``: chance of thickening or thinning the strokes (by a 2x2 dilation or
    erosion).
    """

    rotation: float = 12.0
    scale: tuple[float, float] = (0.85, 1.1)
    aspect: float = 0.12
    shift: float = 2.0
    shear: float = 0.15
    stroke_probability: float = 0.3


def _check_batch(images: np.ndarray) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"images must have shape (N, 28, 28), got {array.shape}")
    return array.astype(np.float32, copy=False)


def random_affine(
    images: np.ndarray,
    rng: np.random.Generator | int | None = None,
    config: AffineConfig = AffineConfig(),
) -> np.ndarray:
    """Rotate, scale, stretch, shear and shift every image by its own random amount.

    ``images``: float32 (N, 28, 28) in [0, 1]. Returns a new float32 (N, 28, 28) array; the
    transform is centered on each image's center (14, 14).
    """
    import cv2

    images = _check_batch(images)
    rng = np.random.default_rng(rng)
    count = len(images)
    angles = np.deg2rad(rng.uniform(-config.rotation, config.rotation, count))
    scales = rng.uniform(*config.scale, count)
    aspects = 1 + rng.uniform(-config.aspect, config.aspect, count)
    shears = rng.uniform(-config.shear, config.shear, count)
    shifts = rng.uniform(-config.shift, config.shift, (count, 2))
    output = np.empty_like(images)
    center = np.array([13.5, 13.5])
    for index in range(count):
        cos, sin = np.cos(angles[index]), np.sin(angles[index])
        rotation = np.array([[cos, -sin], [sin, cos]])
        shear = np.array([[1.0, shears[index]], [0.0, 1.0]])
        stretch = np.diag([scales[index] * aspects[index], scales[index] / aspects[index]])
        linear = rotation @ shear @ stretch
        offset = center + shifts[index] - linear @ center
        matrix = np.hstack([linear, offset[:, None]]).astype(np.float32)
        output[index] = cv2.warpAffine(
            images[index], matrix, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0.0
        )
    return np.clip(output, 0.0, 1.0)


def random_stroke_width(
    images: np.ndarray, rng: np.random.Generator | int | None = None, probability: float = 0.3
) -> np.ndarray:
    """Thicken (2x2 dilation) or thin (2x2 erosion) the strokes of a random ``probability`` share
    of the images, half each way. Returns a new float32 (N, 28, 28) array."""
    import cv2

    images = _check_batch(images)
    rng = np.random.default_rng(rng)
    output = images.copy()
    draws = rng.uniform(size=len(images))
    kernel = np.ones((2, 2), np.uint8)
    for index in np.flatnonzero(draws < probability):
        if draws[index] < probability / 2:
            output[index] = cv2.dilate(images[index], kernel)
        else:
            thinner = cv2.erode(images[index], kernel)
            if thinner.sum() > 0.4 * images[index].sum():  # keep thin digits from vanishing
                output[index] = thinner
    return output


def augment_batch(
    images: np.ndarray,
    rng: np.random.Generator | int | None = None,
    config: AffineConfig = AffineConfig(),
) -> np.ndarray:
    """Stroke-width change then random affine change: a new float32 (N, 28, 28) batch."""
    rng = np.random.default_rng(rng)
    thicker_or_thinner = random_stroke_width(images, rng, config.stroke_probability)
    return random_affine(thicker_or_thinner, rng, config)


def variants24(
    ink_or_image: np.ndarray, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """The classic 24 variants of one drawing: 4 size changes (width x1.2, x0.8, height x1.2,
    x0.8) times 6 rotations picked from -30..30 degrees in steps of 5 (0 left out).

    ``ink_or_image``: float32 (h, w) in [0, 1], 1 = ink: the ink of one drawing at any size, or
    a 28x28 model input. Each variant goes through ``preprocess.to_model_input``, as a drawing at
    recognition time does. Returns float32 (24, 28, 28).
    """
    import cv2

    from digitlib.image.preprocess import to_model_input

    ink = np.asarray(ink_or_image, np.float32)
    if ink.ndim != 2 or min(ink.shape) < 2:
        raise ValueError(f"ink_or_image must be a 2-D array (h, w), got shape {ink.shape}")
    rng = np.random.default_rng(rng)
    angles = rng.choice(VARIANT_ANGLES, size=6, replace=False)
    height, width = ink.shape
    variants = []
    for width_factor, height_factor in VARIANT_RESIZES:
        size = (max(2, round(width * width_factor)), max(2, round(height * height_factor)))
        resized = cv2.resize(ink, size, interpolation=cv2.INTER_LINEAR)
        side = int(np.ceil(np.hypot(*size))) + 4  # room for any rotation
        canvas = np.zeros((side, side), np.float32)
        top, left = (side - size[1]) // 2, (side - size[0]) // 2
        canvas[top : top + size[1], left : left + size[0]] = resized
        for angle in angles:
            matrix = cv2.getRotationMatrix2D((side / 2, side / 2), float(angle), 1.0)
            rotated = cv2.warpAffine(canvas, matrix, (side, side), flags=cv2.INTER_LINEAR)
            variants.append(to_model_input(np.clip(rotated, 0.0, 1.0)))
    return np.stack(variants).astype(np.float32)


@dataclass(frozen=True)
class StrokeConfig:
    """Ranges of the random change ``augment_strokes`` makes to a drawing's strokes before it is
    rendered (each drawn uniformly per drawing).

    ``rotation``: max degrees either way; ``shear``: max shear factor; ``aspect``: (low, high)
    factor of the width against the height; ``jitter``: standard deviation of the per-point
    wobble as a fraction of the drawing's longer side.
    """

    rotation: float = 15.0
    shear: float = 0.2
    aspect: tuple[float, float] = (0.8, 1.25)
    jitter: float = 0.008


def augment_strokes(
    strokes: list[np.ndarray],
    rng: np.random.Generator | int | None = None,
    config: StrokeConfig = StrokeConfig(),
) -> list[np.ndarray]:
    """A randomly rotated, sheared, stretched and wobbled copy of ``strokes`` (a list of (P, 2)
    float32 (x, y) arrays, y down), as another hand might draw the same shape. The input is
    never changed; rendering fits the drawing to the canvas afterwards, so the result is not
    re-centered."""
    rng = np.random.default_rng(rng)
    angle = np.deg2rad(rng.uniform(-config.rotation, config.rotation))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1.0, rng.uniform(-config.shear, config.shear)], [0.0, 1.0]])
    stretch = np.diag([rng.uniform(*config.aspect), 1.0])
    linear = rotation @ shear @ stretch
    points = np.concatenate([np.asarray(s, np.float64).reshape(-1, 2) for s in strokes])
    size = float(np.ptp(points, axis=0).max()) if len(points) else 1.0
    wobble = config.jitter * (size or 1.0)
    return [
        (np.asarray(s, np.float64) @ linear.T + rng.normal(0, wobble, np.shape(s))).astype(
            np.float32
        )
        for s in strokes
    ]


#: The fixed changes of ``second_look_variants``: (rotation degrees, scale).
SECOND_LOOK_WARPS = ((-10, 1.0), (10, 1.0), (0, 0.88), (0, 1.12), (-6, 0.94), (6, 1.06))


def second_look_variants(images: np.ndarray) -> np.ndarray:
    """Fixed slight variants of each model input, for a second look at an unsure reading: the
    input itself, rotated ±10°, scaled by 0.88 and 1.12, rotated ±6° while scaled, and with
    strokes thickened and thinned (2x2 dilation and erosion).

    ``images``: float32 (N, 28, 28) in [0, 1]. Returns float32 (N, 9, 28, 28), the input first.
    Deterministic: the same input always gives the same variants.
    """
    import cv2

    images = _check_batch(images).astype(np.float32, copy=False)
    kernel = np.ones((2, 2), np.uint8)
    out = np.empty((len(images), 3 + len(SECOND_LOOK_WARPS), 28, 28), np.float32)
    for index, image in enumerate(images):
        out[index, 0] = image
        for position, (angle, scale) in enumerate(SECOND_LOOK_WARPS, start=1):
            matrix = cv2.getRotationMatrix2D((14.0, 14.0), angle, scale)
            out[index, position] = cv2.warpAffine(image, matrix, (28, 28), flags=cv2.INTER_LINEAR)
        out[index, -2] = cv2.dilate(image, kernel)
        out[index, -1] = cv2.erode(image, kernel)
    return out
