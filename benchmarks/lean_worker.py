"""The lean runtime's readers, timed in a process of their own.

A process that reads with the lean runtime never holds TensorFlow: a dashboard kernel, a
``digitlib predict``, a script that calls ``load_recognizer()``. Timed in the same process as
the TensorFlow path, the lean readings ran beside TensorFlow's thread pools, which keep spinning
after each of its calls and take the cores the next reading needs: one digit took 1.70 ms there
against 0.85 ms in a process without TensorFlow, on the same canvases. So the benchmarks read
with the lean runtime in a worker process (started with ``multiprocessing``'s spawn, inheriting
this process's environment and thread settings) and with the TensorFlow path and the baseline
in this one. Both read the same canvases, sent to the worker a chunk at a time, and the two
processes take turns (never reading at once), so load from elsewhere falls on both alike.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: (text, any mark read as "other") of one canvas.
Reading = tuple[str, bool]
Reader = Callable[[np.ndarray], Reading]

#: Calls before timing starts: the first calls fill caches (LiteRT's, OpenCV's, the CPU's).
WARM_UP = 3


#: The reader that reads the ensemble with each canvas's strokes too (``recognize(image,
#: strokes=...)``): the stroke model and its fusion.
WITH_STROKES = "ensemble_strokes"


def read_chunk(
    readers: dict[str, Reader],
    images: Sequence[np.ndarray],
    first: int,
    strokes: Sequence | None = None,
) -> dict:
    """Read every image with every reader, each call timed on its own; ``WITH_STROKES`` is
    given the image's ``strokes`` too.

    The order of the readers rotates with the image's index in its set (``first`` is the index
    of ``images[0]``), so that no reader always follows the same one. Returns name ->
    {"seconds": [...], "texts": [...], "others": [...]}, one entry per image.
    """
    found = {name: {"seconds": [], "texts": [], "others": []} for name in readers}
    order = list(readers)
    for index, image in enumerate(images, start=first):
        shift = index % len(order)
        for name in order[shift:] + order[:shift]:
            drawn = (image, strokes[index - first]) if name == WITH_STROKES else (image,)
            started = time.perf_counter()
            text, other = readers[name](*drawn)
            found[name]["seconds"].append(time.perf_counter() - started)
            found[name]["texts"].append(text)
            found[name]["others"].append(other)
    return found


def recognizer_readers(recognizer, names: Sequence[str]) -> dict[str, Reader]:
    """name -> reader of ``recognizer.recognize(image, model=name)``."""
    from digitlib.config import OTHER

    def read_with(name: str) -> Reader:
        def read(image: np.ndarray, strokes: Sequence | None = None) -> Reading:
            if name == WITH_STROKES:
                result = recognizer.recognize(image, strokes=strokes)
            else:
                result = recognizer.recognize(image, model=name)
            return result.text, any(segment.label == OTHER for segment in result.segments)

        return read

    return {name: read_with(name) for name in names}


def read_many_timed(recognizer, images: Sequence[np.ndarray]) -> tuple[float, list[str]]:
    """Seconds ``recognizer.recognize_many(images)`` took, and the texts it read."""
    started = time.perf_counter()
    results = recognizer.recognize_many(list(images))
    return time.perf_counter() - started, [result.text for result in results]


def _serve(connection, models_dir: str) -> None:
    """The worker: load the lean recognizer, then answer requests until "stop"."""
    try:
        import digitlib

        recognizer = digitlib.load_recognizer(Path(models_dir), runtime="lean")
    except Exception as error:  # noqa: BLE001 - reported to the benchmark, which says Missing
        connection.send(("error", f"load_recognizer failed: {type(error).__name__}: {error}"))
        return
    connection.send(("ready", None))
    while True:
        request, arguments = connection.recv()
        if request == "stop":
            return
        if request == "read":
            images, names, first, warm_up, strokes = arguments
            readers = recognizer_readers(recognizer, names)
            for index, image in enumerate(images[:warm_up]):
                for name, read in readers.items():
                    read(image, strokes[index] if name == WITH_STROKES else None)
            connection.send(("ok", read_chunk(readers, images, first, strokes)))
        elif request == "read_many":
            (images,) = arguments
            connection.send(("ok", read_many_timed(recognizer, images)))
        elif request == "modules":
            connection.send(
                (
                    "ok",
                    sorted(
                        name
                        for name in sys.modules
                        if name.split(".")[0] in ("tensorflow", "keras")
                    ),
                )
            )
        else:
            connection.send(("error", f"unknown request {request!r}"))


class LeanWorker:
    """The shipped recognizer on the lean runtime, in a process of its own (see the module
    docstring). ``read`` and ``read_many`` return what ``read_chunk`` and ``read_many_timed``
    return, timed in the worker."""

    def __init__(self, models_dir: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, str(models_dir)), daemon=True, name="lean-reader"
        )
        self._process.start()
        child.close()
        status, detail = self._connection.recv()
        if status != "ready":
            self.close()
            raise RuntimeError(detail)

    def _ask(self, request: str, *arguments):
        self._connection.send((request, arguments))
        status, answer = self._connection.recv()
        if status != "ok":
            raise RuntimeError(f"lean worker: {answer}")
        return answer

    def read(
        self,
        images: Sequence[np.ndarray],
        names: Sequence[str],
        first: int,
        warm_up: int = 0,
        strokes: Sequence | None = None,
    ) -> dict:
        """``read_chunk`` with the worker's readers ``names``, after ``warm_up`` untimed
        readings of the first images; ``strokes``, one entry per image, for ``WITH_STROKES``."""
        return self._ask("read", list(images), list(names), first, warm_up, strokes)

    def read_many(self, images: Sequence[np.ndarray]) -> tuple[float, list[str]]:
        return self._ask("read_many", list(images))

    def heavy_modules(self) -> list[str]:
        """The TensorFlow and Keras modules the worker has imported (none, for a lean reader)."""
        return self._ask("modules")

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._connection.send(("stop", ()))
            except (BrokenPipeError, OSError):
                pass
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
        self._connection.close()
