"""Synthetic drawings as strokes, so that they can be drawn like the digits: the non-digits
("other") that training and evaluation add to the Quick, Draw! doodles.

Every generator returns a drawing as a list of (P, 2) float32 (x, y) strokes, y down, about a
unit box, and takes its randomness as ``rng``.

- ``synthetic_strokes`` (``SYNTHETIC_KINDS``): scribbles, filled blobs, hatching, stars, hearts,
  arrows, spirals, waves, smileys and block letters;
- ``shape_strokes`` (``SHAPE_KINDS``): round and framed shapes with inner strokes (clocks,
  wheels, signs with letters, faces, framed boxes, crossings, patterned balls): the doodles
  most often read as digits;
- ``glyph_strokes``: letters (upper and lower case) and signs from the Hershey stroke fonts, in
  plain, roman and script hands (``GLYPH_FONTS``), minus the ones that are drawn like digits
  (``DIGIT_LIKE_GLYPHS``); ``HELD_OUT`` characters never train, they measure generalization;
- ``sign_strokes`` (``SIGN_KINDS``): hand-made signs people draw: ticks, crosses in a box,
  question marks, lightning, infinity, at-signs, percent, check boxes and currency signs;
- ``run_together``: two digits drawn overlapping, so that they make one segment.

Digit-like shapes (a lone circle, a straight line, a "(" or an "S") are never "other".
"""

from __future__ import annotations

import numpy as np


def _line(a, b, points: int = 8) -> np.ndarray:
    t = np.linspace(0, 1, points)[:, None]
    return (np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t).astype(np.float32)


def _polyline(points) -> np.ndarray:
    return np.asarray(points, np.float32)


_LETTERS = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.8, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.8, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "R": [[(0, 1), (0, 0), (0.8, 0), (0.9, 0.25), (0.8, 0.5), (0, 0.5), (1, 1)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "P+": [[(0, 1), (0, 0), (1, 0), (1, 0.5), (0, 0.5)], [(0.5, 0.7), (0.5, 1)]],
    "#": [
        [(0.3, 0), (0.2, 1)],
        [(0.75, 0), (0.65, 1)],
        [(0, 0.3), (1, 0.3)],
        [(0, 0.7), (1, 0.7)],
    ],
    "+": [[(0.5, 0), (0.5, 1)], [(0, 0.5), (1, 0.5)]],
    "=": [[(0, 0.3), (1, 0.3)], [(0, 0.7), (1, 0.7)]],
    "≡": [[(0, 0.1), (1, 0.1)], [(0, 0.5), (1, 0.5)], [(0, 0.9), (1, 0.9)]],
    "*": [[(0.5, 0), (0.5, 1)], [(0.07, 0.25), (0.93, 0.75)], [(0.93, 0.25), (0.07, 0.75)]],
    "box-x": [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], [(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "triangle": [[(0.5, 0), (1, 1), (0, 1), (0.5, 0)]],
    "tick-box": [
        [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)],
        [(0.2, 0.5), (0.45, 0.8), (0.85, 0.15)],
    ],
}


def synthetic_strokes(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Strokes (y down, about a unit box) of one synthetic non-digit of ``kind``
    (see ``SYNTHETIC_KINDS``), randomly varied."""
    if kind == "scribble":
        strokes = []
        for _ in range(int(rng.integers(1, 4))):
            steps = rng.normal(0, 1, (int(rng.integers(12, 40)), 2)).cumsum(axis=0)
            strokes.append(steps.astype(np.float32))
    elif kind == "blob":  # a filled area: dense back-and-forth strokes
        rows = int(rng.integers(5, 10))
        y = np.linspace(0, 1, rows)
        half = np.sqrt(np.clip(1 - (2 * y - 1) ** 2, 0.05, 1)) * rng.uniform(0.3, 0.6)
        xs = np.where(np.arange(rows) % 2 == 0, 0.5 - half, 0.5 + half)
        xe = np.where(np.arange(rows) % 2 == 0, 0.5 + half, 0.5 - half)
        points = np.stack([np.stack([xs, y], 1), np.stack([xe, y], 1)], 1).reshape(-1, 2)
        strokes = [points.astype(np.float32)]
    elif kind == "hatch":
        count = int(rng.integers(3, 7))
        slope = rng.uniform(-0.5, 0.5)
        strokes = [_line((0, y), (1, y + slope)) for y in np.linspace(0, 1, count)]
        if rng.uniform() < 0.5:
            strokes += [_line((x, 0), (x - slope, 1)) for x in np.linspace(0, 1, count)]
    elif kind == "star":
        points = int(rng.choice([5, 5, 6, 7]))
        angles = np.linspace(0, 2 * np.pi, 2 * points + 1) + rng.uniform(0, np.pi)
        radii = np.where(np.arange(2 * points + 1) % 2 == 0, 1.0, rng.uniform(0.35, 0.55))
        strokes = [np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)]
    elif kind == "heart":
        t = np.linspace(0, 2 * np.pi, 60)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        strokes = [np.stack([x, y], 1)]
    elif kind == "arrow":
        head = rng.uniform(0.2, 0.4)
        strokes = [
            _line((0, 0.5), (1, 0.5)),
            _polyline([(1 - head, 0.5 - head), (1, 0.5), (1 - head, 0.5 + head)]),
        ]
        angle = rng.choice([0, np.pi / 2, np.pi, 3 * np.pi / 2, np.pi / 4, -np.pi / 4])
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        strokes = [s @ rotation.T for s in strokes]
    elif kind == "spiral":
        turns = rng.uniform(2.0, 3.5)
        t = np.linspace(0, 2 * np.pi * turns, int(60 * turns))
        radius = 0.1 + t / t[-1]
        strokes = [np.stack([radius * np.cos(t), radius * np.sin(t)], 1)]
    elif kind == "wave":
        periods = rng.uniform(2, 4)
        x = np.linspace(0, 1, 80)
        strokes = [np.stack([x * periods, 0.5 * np.sin(2 * np.pi * periods * x)], 1)]
    elif kind == "smiley":
        t = np.linspace(0, 2 * np.pi, 50)
        mouth = np.linspace(0.2 * np.pi, 0.8 * np.pi, 15)
        strokes = [
            np.stack([np.cos(t), np.sin(t)], 1),
            _line((-0.35, -0.35), (-0.35, -0.2), 3),
            _line((0.35, -0.35), (0.35, -0.2), 3),
            np.stack([0.5 * np.cos(mouth), 0.5 * np.sin(mouth)], 1),
        ]
    elif kind == "letter":
        shape = _LETTERS[str(rng.choice(sorted(_LETTERS)))]
        strokes = [_polyline(points) for points in shape]
    else:
        raise ValueError(f"unknown synthetic kind {kind!r}; expected one of {SYNTHETIC_KINDS}")
    strokes = [np.asarray(s, np.float64) for s in strokes]
    # Random rotation, stretch, shear and per-point wobble, as different hands draw them.
    angle = np.deg2rad(rng.uniform(-20, 20))
    linear = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = linear @ np.array([[1, rng.uniform(-0.2, 0.2)], [0, 1]])
    linear = linear @ np.diag([rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.3)])
    points = np.concatenate(strokes)
    size = float(np.ptp(points, axis=0).max()) or 1.0
    wobble = rng.uniform(0, 0.02) * size
    return [(s @ linear.T + rng.normal(0, wobble, s.shape)).astype(np.float32) for s in strokes]


SYNTHETIC_KINDS = (
    "scribble",
    "blob",
    "hatch",
    "star",
    "heart",
    "arrow",
    "spiral",
    "wave",
    "smiley",
    "letter",
)


def synthetic_drawings(count: int, rng: np.random.Generator | int | None) -> list[list]:
    """``count`` synthetic non-digit drawings (strokes), kinds drawn uniformly (letters twice)."""
    rng = np.random.default_rng(rng)
    kinds = SYNTHETIC_KINDS + ("letter",)
    return [synthetic_strokes(str(rng.choice(kinds)), rng) for _ in range(count)]


def _circle(center=(0.0, 0.0), radius=1.0, points: int = 40, sides: int | None = None, turn=0.0):
    count = (sides + 1) if sides else points
    t = np.linspace(0, 2 * np.pi, count) + turn
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], 1)


def _inner_letters(rng: np.random.Generator, count: int, width: float, height: float) -> list:
    """``count`` small letters (``_LETTERS``) side by side in a box of ``width`` x ``height``
    centered on the origin."""
    strokes = []
    step = width / count
    for index in range(count):
        shape = _LETTERS[str(rng.choice(sorted(_LETTERS)))]
        left = -width / 2 + index * step + 0.1 * step
        for points in shape:
            xy = np.asarray(points, np.float64)
            strokes.append(
                np.stack([left + xy[:, 0] * 0.8 * step, -height / 2 + xy[:, 1] * height], 1)
            )
    return strokes


def shape_strokes(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Strokes of one synthetic round or framed shape with inner strokes of ``kind`` (see
    ``SHAPE_KINDS``): the doodles most often read as digits (clocks, stop signs, faces, wheels,
    framed things) without being digit-like (never a bare circle or a circle with one line)."""
    if kind == "clock":
        strokes = [_circle(points=48)]
        hands = rng.uniform(0, 2 * np.pi) + np.array([0, rng.uniform(0.6, 2 * np.pi - 0.6)])
        lengths = (rng.uniform(0.35, 0.55), rng.uniform(0.6, 0.85))
        strokes.append(
            np.array(
                [
                    [lengths[0] * np.cos(hands[0]), lengths[0] * np.sin(hands[0])],
                    [0, 0],
                    [lengths[1] * np.cos(hands[1]), lengths[1] * np.sin(hands[1])],
                ]
            )
        )
        ticks = int(rng.choice([4, 4, 8, 12]))  # without ticks a clock is too close to a 0
        for angle in np.linspace(0, 2 * np.pi, ticks, endpoint=False):
            direction = np.array([np.cos(angle), np.sin(angle)])
            strokes.append(np.stack([0.8 * direction, 0.92 * direction]))
    elif kind == "wheel":
        spokes = int(rng.integers(3, 9))
        strokes = [_circle(points=48)]
        if rng.uniform() < 0.5:
            strokes.append(_circle(radius=rng.uniform(0.15, 0.3), points=16))
        for angle in np.linspace(0, np.pi, spokes, endpoint=False) + rng.uniform(0, np.pi):
            direction = np.array([np.cos(angle), np.sin(angle)])
            strokes.append(np.stack([direction, -direction]))
    elif kind == "sign":  # a stop-sign-like polygon with letters inside
        sides = int(rng.choice([6, 8, 8]))
        strokes = [_circle(sides=sides, turn=np.pi / sides)]
        if rng.uniform() < 0.3:
            strokes.append(_circle(radius=0.85, sides=sides, turn=np.pi / sides))
        strokes += _inner_letters(rng, int(rng.integers(2, 5)), 1.3, rng.uniform(0.3, 0.5))
    elif kind == "face":
        strokes = [_circle(points=48) * np.array([rng.uniform(0.8, 1.1), 1.0])]
        eye = rng.uniform(0.08, 0.18)
        for x in (-0.35, 0.35):
            strokes.append(_circle((x, -0.3), eye, points=12))
        mouth = np.linspace(0.15 * np.pi, 0.85 * np.pi, 15)
        curve = rng.choice([-1.0, 1.0])
        strokes.append(np.stack([0.5 * np.cos(mouth), 0.2 + curve * 0.25 * np.sin(mouth)], 1))
        if rng.uniform() < 0.5:
            strokes.append(np.array([[0.0, -0.1], [-0.08, 0.1], [0.05, 0.1]]))
    elif kind == "framed":  # a box or card with inner strokes (eraser, mailbox, phone, book)
        width = rng.uniform(1.2, 2.5)
        skew = rng.uniform(-0.3, 0.3)
        corners = [(skew, 0), (width + skew, 0), (width, 1), (0, 1), (skew, 0)]
        strokes = [np.asarray(corners, np.float64)]
        inner = int(rng.integers(1, 4))
        for _ in range(inner):
            if rng.uniform() < 0.5:
                x = rng.uniform(0.2, width - 0.2)
                strokes.append(np.array([[x + skew * 0.9, 0.05], [x, 0.95]]))
            else:
                y = rng.uniform(0.2, 0.8)
                strokes.append(np.array([[0.1, y], [width - 0.1, y]]))
        if rng.uniform() < 0.4:
            strokes += [
                s + np.array([width / 2, 0.5])
                for s in _inner_letters(rng, int(rng.integers(2, 4)), width * 0.6, 0.35)
            ]
    elif kind == "crossing":  # several long strokes crossing each other
        strokes = []
        for _ in range(int(rng.integers(4, 7))):  # three crossing lines can be a 4
            angle = rng.uniform(0, np.pi)
            offset = rng.uniform(-0.4, 0.4, 2)
            direction = np.array([np.cos(angle), np.sin(angle)])
            strokes.append(np.stack([offset - direction, offset + direction]))
    elif kind == "ball":  # a circle with a pattern of small circles inside (no seams: a 0)
        strokes = [_circle(points=48)]
        for _ in range(int(rng.integers(4, 7))):
            center = rng.uniform(-0.5, 0.5, 2)
            strokes.append(_circle(tuple(center), rng.uniform(0.08, 0.2), points=10))
    else:
        raise ValueError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")
    return [np.asarray(s, np.float32) for s in strokes]


SHAPE_KINDS = ("clock", "wheel", "sign", "face", "framed", "crossing", "ball")


def shape_drawings(count: int, rng: np.random.Generator | int | None) -> list[list]:
    """``count`` synthetic shapes with inner strokes (``SHAPE_KINDS``, drawn uniformly)."""
    rng = np.random.default_rng(rng)
    return [shape_strokes(str(rng.choice(SHAPE_KINDS)), rng) for _ in range(count)]


# --- letters and signs from the Hershey stroke fonts ------------------------------------------

#: Hershey fonts (``hershey-fonts`` package) whose glyphs are drawn like a hand draws: a plain
#: single-stroke sans, a single-stroke roman and two script hands.
GLYPH_FONTS = ("futural", "rowmans", "scripts", "scriptc")

#: Letters and signs (ASCII) a person might draw on the canvas instead of a digit.
GLYPH_CHARACTERS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + "+-=*#%&@$?!<>~^{}[]()/\\|_.,:;'\"`"
)

#: Characters left out of "other": they are drawn like a digit or a digit's part (O, o and Q
#: like 0; I, l, i, j, |, /, \, !, (, ) and brackets like 1; S and s like 5; Z and z like 2;
#: g and q like 9; b and G like 6; B like 8), or are lines and specks that segmentation drops or
#: reads as a 1 (-, _, . , : ; quotes).
DIGIT_LIKE_GLYPHS = frozenset("OoQIlij|/\\!()[]{}SsZzgqbGB-_.,:;'\"`")


def glyph_characters() -> list[str]:
    """The characters of ``GLYPH_CHARACTERS`` that can be "other" (not ``DIGIT_LIKE_GLYPHS``),
    in a fixed order; ``digitlib.config.HELD_OUT.glyphs`` splits them."""
    return [c for c in GLYPH_CHARACTERS if c not in DIGIT_LIKE_GLYPHS]


def _font_glyphs(font: str) -> dict[str, list[np.ndarray]]:
    cached = _FONT_CACHE.get(font)
    if cached is None:
        try:
            from HersheyFonts import HersheyFonts
        except ImportError as error:  # pragma: no cover - a dependency of the package
            raise ImportError(
                "the Hershey stroke fonts come from the 'hershey-fonts' package: "
                "pip install hershey-fonts (make install does)"
            ) from error
        fonts = HersheyFonts()
        fonts.load_default_font(font)
        cached = {}
        for character in GLYPH_CHARACTERS:
            strokes = [
                np.asarray(stroke, np.float32)
                for stroke in fonts.strokes_for_text(character)
                if len(stroke)
            ]
            if strokes:
                cached[character] = strokes
        _FONT_CACHE[font] = cached
    return cached


_FONT_CACHE: dict[str, dict[str, list[np.ndarray]]] = {}


def glyph_strokes(character: str, font: str = "futural") -> list[np.ndarray]:
    """The strokes of ``character`` in the Hershey font ``font`` (``GLYPH_FONTS``), y down, in
    font units (about 21 units tall for a capital). Raises ``ValueError`` for a character or
    font that has none."""
    if font not in GLYPH_FONTS:
        raise ValueError(f"unknown glyph font {font!r}; choose one of {', '.join(GLYPH_FONTS)}")
    glyphs = _font_glyphs(font)
    if character not in glyphs:
        raise ValueError(
            f"no glyph for {character!r}; choose a character of synthetic.GLYPH_CHARACTERS"
        )
    return [stroke.copy() for stroke in glyphs[character]]


def glyph_drawings(
    characters: list[str], copies: int, rng: np.random.Generator | int | None
) -> list[list[np.ndarray]]:
    """``copies`` drawings of each of ``characters`` in each font of ``GLYPH_FONTS``, each
    randomly rotated, sheared, stretched and wobbled (``augment.augment_strokes``), as
    different hands draw the same letter. Character-major, then font, then copy."""
    from digitlib.image.augment import augment_strokes

    rng = np.random.default_rng(rng)
    drawings = []
    for character in characters:
        for font in GLYPH_FONTS:
            strokes = glyph_strokes(character, font)
            drawings += [augment_strokes(strokes, rng) for _ in range(copies)]
    return drawings


# --- hand-made signs --------------------------------------------------------------------------


def sign_strokes(kind: str, rng: np.random.Generator | int | None = None) -> list[np.ndarray]:
    """Strokes (y down, about a unit box) of one hand-made sign of ``kind`` (``SIGN_KINDS``),
    randomly varied: a tick, an infinity sign, a sun with rays, a house, an envelope, a curved
    arrow, a two-headed arrow, a crossed circle."""
    rng = np.random.default_rng(rng)
    if kind == "tick":
        low = (rng.uniform(0.3, 0.45), rng.uniform(0.85, 1.0))
        strokes = [_polyline([(0, rng.uniform(0.45, 0.65)), low, (1, rng.uniform(0, 0.15))])]
    elif kind == "infinity":
        t = np.linspace(0, 2 * np.pi, 60)
        strokes = [np.stack([np.sin(t), np.sin(t) * np.cos(t) * rng.uniform(0.6, 1.0)], 1)]
    elif kind == "sun":
        strokes = [_circle(radius=0.5, points=32)]
        rays = int(rng.integers(6, 11))
        for angle in np.linspace(0, 2 * np.pi, rays, endpoint=False) + rng.uniform(0, 1):
            direction = np.array([np.cos(angle), np.sin(angle)])
            strokes.append(np.stack([0.65 * direction, rng.uniform(0.9, 1.1) * direction]))
    elif kind == "house":
        roof = rng.uniform(0.3, 0.6)
        strokes = [
            _polyline([(0, roof), (0, 1.4), (1, 1.4), (1, roof), (0, roof), (0.5, 0), (1, roof)])
        ]
        if rng.uniform() < 0.6:
            strokes.append(_polyline([(0.4, 1.4), (0.4, 1.0), (0.6, 1.0), (0.6, 1.4)]))
    elif kind == "envelope":
        width = rng.uniform(1.3, 1.8)
        strokes = [
            _polyline([(0, 0), (width, 0), (width, 1), (0, 1), (0, 0)]),
            _polyline([(0, 0), (width / 2, rng.uniform(0.4, 0.6)), (width, 0)]),
        ]
    elif kind == "curved_arrow":
        t = np.linspace(np.pi, np.pi * rng.uniform(1.6, 1.95), 30)
        arc = np.stack([np.cos(t), np.sin(t)], 1)
        tip, before = arc[-1], arc[-4]
        direction = (tip - before) / (np.linalg.norm(tip - before) + 1e-9)
        normal = np.array([-direction[1], direction[0]])
        head = 0.3
        strokes = [
            arc,
            _polyline([tip - head * (direction + normal), tip, tip - head * (direction - normal)]),
        ]
    elif kind == "double_arrow":
        head = rng.uniform(0.15, 0.3)
        strokes = [
            _line((0, 0.5), (2, 0.5)),
            _polyline([(head, 0.5 - head), (0, 0.5), (head, 0.5 + head)]),
            _polyline([(2 - head, 0.5 - head), (2, 0.5), (2 - head, 0.5 + head)]),
        ]
    elif kind == "crossed_circle":
        strokes = [
            _circle(points=40),
            _line((-0.7, -0.7), (0.7, 0.7)),
            _line((0.7, -0.7), (-0.7, 0.7)),
        ]
    else:
        raise ValueError(f"unknown sign kind {kind!r}; expected one of {SIGN_KINDS}")
    angle = np.deg2rad(rng.uniform(-12, 12))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return [(np.asarray(s, np.float64) @ rotation.T).astype(np.float32) for s in strokes]


SIGN_KINDS = (
    "tick",
    "infinity",
    "sun",
    "house",
    "envelope",
    "curved_arrow",
    "double_arrow",
    "crossed_circle",
)


def sign_drawings(
    kinds: list[str], count: int, rng: np.random.Generator | int | None
) -> list[list[np.ndarray]]:
    """``count`` hand-made signs, kinds drawn uniformly from ``kinds`` (``SIGN_KINDS``)."""
    rng = np.random.default_rng(rng)
    if not kinds:
        raise ValueError("sign_drawings needs at least one kind of SIGN_KINDS")
    return [sign_strokes(str(rng.choice(kinds)), rng) for _ in range(count)]


# --- digits that are not one digit ------------------------------------------------------------


def run_together(
    first: list[np.ndarray], second: list[np.ndarray], rng: np.random.Generator | int | None
) -> list[np.ndarray]:
    """Two digits' strokes drawn overlapping (the second starts 10-35% of a digit height before
    the first ends), so that their ink touches and makes one segment, which is no one digit.
    Both are scaled to height 1 first."""
    rng = np.random.default_rng(rng)
    placed, left = [], 0.0
    for index, strokes in enumerate((first, second)):
        points = np.concatenate(strokes)
        low, high = points.min(axis=0), points.max(axis=0)
        scale = 1.0 / max(float(high[1] - low[1]), 1e-6)
        width = float(high[0] - low[0]) * scale
        if index == 1:
            left -= rng.uniform(0.1, 0.35)
        placed += [((s - low) * scale + np.array([left, 0.0])).astype(np.float32) for s in strokes]
        left += width
    return placed
