"""Paths and settings, read from the environment in one place.

Everything else in digitlib takes these values as arguments; only the doors (CLI, dashboard) call
the ``from_environment`` helpers here.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

#: The project checkout (the folder that holds ``digitlib/``, ``models/`` and ``data/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Shipped checkpoints: ``cnn.keras``, ``fnn.keras``, ``numpy_fnn.npz`` and ``metrics.json``.
SHIPPED_MODELS_DIR = PROJECT_ROOT / "models"

#: The embedded default store, a local folder.
DEFAULT_STORE_DIR = PROJECT_ROOT / "data" / "store"

#: Class index of "not a digit".
OTHER = 10
NUM_CLASSES = 11
CLASS_NAMES = tuple(str(digit) for digit in range(10)) + ("other",)

#: Names of the image models, in the order they are shown side by side.
MODEL_NAMES = ("numpy_fnn", "fnn", "cnn")

#: The stroke model's name: it reads the pen's path (``digitlib.drawings.strokes``), not the picture, so
#: it stands beside the image models' ensemble rather than in it.
STROKE_MODEL = "strokes"

#: Checkpoint file of each model in a models folder (training writes them, reading loads them).
CHECKPOINT_FILES = {
    "numpy_fnn": "numpy_fnn.npz",
    "fnn": "fnn.keras",
    "cnn": "cnn.keras",
    STROKE_MODEL: "strokes.keras",
}


def data_search_path(environ: dict[str, str] | None = None) -> list[Path]:
    """Folders searched for the data sets, most specific first.

    ``DIGITLIB_DATA_DIR`` (one folder, or several separated by ``os.pathsep``) comes first, then the
    project's ``data/`` folder, then ``../shared/data`` beside the checkout (one copy shared by
    several checkouts).
    """
    environ = os.environ if environ is None else environ
    folders = [
        Path(part) for part in environ.get("DIGITLIB_DATA_DIR", "").split(os.pathsep) if part
    ]
    folders += [PROJECT_ROOT / "data", PROJECT_ROOT.parent / "shared" / "data"]
    return folders


def default_store_url(environ: dict[str, str] | None = None) -> str:
    """The store URL from ``DIGITLIB_STORE``, or the embedded local folder ``data/store``."""
    environ = os.environ if environ is None else environ
    return environ.get("DIGITLIB_STORE") or str(DEFAULT_STORE_DIR)


#: How the Keras models are run for reading: see ``digitlib.recognize.load_recognizer``.
RUNTIMES = ("lean", "keras")


def default_runtime(environ: dict[str, str] | None = None) -> str:
    """``DIGITLIB_RUNTIME`` (``lean`` or ``keras``; default ``lean``: no TensorFlow to read)."""
    environ = os.environ if environ is None else environ
    runtime = environ.get("DIGITLIB_RUNTIME") or "lean"
    if runtime not in RUNTIMES:
        raise ValueError(f"DIGITLIB_RUNTIME must be one of {RUNTIMES}, got {runtime!r}")
    return runtime


def operator_secret(environ: dict[str, str] | None = None) -> str | None:
    """The dashboard's operator secret: ``DIGITLIB_OPERATOR_SECRET``, else the first line of the
    file named by ``DIGITLIB_OPERATOR_SECRET_FILE``; None when neither is set (operator actions
    are then off). Raises ``ValueError`` when the file is named but cannot be read."""
    environ = os.environ if environ is None else environ
    if environ.get("DIGITLIB_OPERATOR_SECRET"):
        return environ["DIGITLIB_OPERATOR_SECRET"]
    path = environ.get("DIGITLIB_OPERATOR_SECRET_FILE")
    if not path:
        return None
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ValueError(
            f"DIGITLIB_OPERATOR_SECRET_FILE names {path}, which cannot be read ({error.strerror})"
        ) from None
    return (lines[0].strip() if lines else "") or None


def operator_lockout_dir(store_url: str, environ: dict[str, str] | None = None) -> Path:
    """Where the dashboard counts wrong operator secrets (``digitlib.dashboard.access``):
    ``DIGITLIB_OPERATOR_LOCKOUT_DIR``, else ``data/operator/<first 16 hex digits of the SHA-256
    of store_url>``, shared by every kernel of every server of this checkout serving that store.
    Servers on several machines share one lockout when the variable names a folder they all
    see (where ``flock`` works: a local disk, NFSv4)."""
    environ = os.environ if environ is None else environ
    if environ.get("DIGITLIB_OPERATOR_LOCKOUT_DIR"):
        return Path(environ["DIGITLIB_OPERATOR_LOCKOUT_DIR"])
    digest = hashlib.sha256(store_url.encode()).hexdigest()[:16]
    return DEFAULT_STORE_DIR.parent / "operator" / digest


@dataclass(frozen=True)
class HeldOut:
    """Which parts of the shared data are kept out of training, to measure generalization.

    The last five pendigits writer ids; about a quarter of the Quick, Draw! categories (every
    fourth one in sorted order, never one of the six with bitmaps, which training uses); a
    quarter of the letters and signs drawn from stroke fonts (every fourth character of
    ``synthetic.glyph_characters()``, in every font); and two kinds of hand-made signs of
    ``synthetic.SIGN_KINDS``; and whole UNIPEN institutions. Training uses none of them; ``digitlib evaluate`` measures on them.
    """

    pendigits_writers: tuple[int, ...] = (26, 27, 28, 29, 30)
    quickdraw_every: int = 4
    quickdraw_offset: int = 1
    glyph_every: int = 4
    glyph_offset: int = 2
    sign_kinds: tuple[str, ...] = ("sun", "double_arrow")
    #: UNIPEN institutions held out whole: their digits, letters and signs are only measured.
    unipen_sources: tuple[str, ...] = ("unipen/aga", "unipen/gmd", "unipen/mot")
    #: Kept out of the stroke model's training to choose the fusion on hands it has not seen
    #: (never measured as held out): a UNIPEN institution and five pendigits writers.
    fusion_sources: tuple[str, ...] = ("unipen/uqb",)
    fusion_pendigits_writers: tuple[int, ...] = (21, 22, 23, 24, 25)

    def glyphs(self, characters: list[str]) -> list[str]:
        """The held-out characters among ``characters`` (kept in their order)."""
        return list(characters[self.glyph_offset :: self.glyph_every])

    def quickdraw_categories(self, categories: list[str]) -> list[str]:
        """The held-out categories among ``categories`` (sorted, deterministic)."""
        bitmap_categories = {"apple", "bicycle", "cat", "diamond", "eye", "fish"}
        eligible = [c for c in sorted(categories) if c not in bitmap_categories]
        return eligible[self.quickdraw_offset :: self.quickdraw_every]


HELD_OUT = HeldOut()
