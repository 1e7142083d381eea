"""Refuse checkpoint files that would run code when loaded, by reading them as zip archives.

Both checkpoint kinds are zip files: a ``.keras`` file holds ``config.json`` (the layers) and
the weights; a ``.npz`` file holds one ``.npy`` array per member. ``check_safe`` opens the bytes
without Keras or unpickling and refuses

- ``.keras``: ``Lambda`` layers and serialized Python functions (``__lambda__``,
  ``TFOpLambda``, ``SlicingOpLambda``) anywhere in ``config.json``;
- ``.npz``: arrays whose dtype holds Python objects (they need pickle to load), found from each
  ``.npy`` header without reading the array.

The store's registry runs it on every checkpoint it saves or loads, before any loader sees the
file, so a checkpoint written into the store by someone else never reaches Keras unchecked.
Safe loaders (``digitlib.models.load_model``: Keras safe mode, ``allow_pickle=False``) refuse
the same files again when they load them.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

#: The checkpoint suffixes ``check_safe`` knows.
SUFFIXES = (".keras", ".npz")
_ZIP_MAGIC = b"PK\x03\x04"
#: Keras class names that carry arbitrary Python code.
_CODE_CLASSES = {"Lambda", "__lambda__", "TFOpLambda", "SlicingOpLambda"}


class UnsafeModelError(ValueError):
    """A checkpoint carries code (a Keras ``Lambda`` layer, pickled arrays); it is never run."""


def check_safe(data: bytes, suffix: str) -> None:
    """Refuse checkpoint bytes that would run code when loaded, without loading them.

    ``.keras``: a zip whose ``config.json`` must not contain ``Lambda`` layers or serialized
    Python functions (``__lambda__``). ``.npz``: every array must have a plain dtype (no
    ``object`` arrays, which need pickle). Raises ``UnsafeModelError`` or ``ValueError``.
    """
    if not data.startswith(_ZIP_MAGIC):
        raise ValueError(f"not a {suffix} file: it is not a zip archive")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ValueError(f"not a {suffix} file: {error}") from None
    with archive:
        if suffix == ".keras":
            try:
                config = json.loads(archive.read("config.json"))
            except KeyError:
                raise ValueError("not a .keras file: it has no config.json") from None
            found = sorted(_code_classes(config))
            if found:
                raise UnsafeModelError(
                    f"refusing a .keras file with Lambda layers ({', '.join(found)}): they "
                    "hold Python code that would run on load; rebuild the model without them"
                )
        elif suffix == ".npz":
            for member in archive.namelist():
                with archive.open(member) as file:
                    dtype = _npy_dtype(file)
                if dtype.hasobject:
                    raise UnsafeModelError(
                        f"refusing a .npz whose array {member!r} holds Python objects (needs "
                        "pickle); save plain numeric arrays"
                    )
        else:
            raise ValueError(f"unknown checkpoint suffix {suffix!r}; expected one of {SUFFIXES}")


def _npy_dtype(file) -> Any:
    """The dtype in a ``.npy`` header, read without reading the array."""
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(file)
        if version == (1, 0):
            return npy_format.read_array_header_1_0(file)[2]
        if version == (2, 0):
            return npy_format.read_array_header_2_0(file)[2]
        return npy_format._read_array_header(file, version)[2]  # no public reader for 3.0
    except ValueError as error:
        raise ValueError(f"not a .npz file: a member is not a .npy array ({error})") from None


def _code_classes(node: Any) -> set[str]:
    """The class names in ``_CODE_CLASSES`` found anywhere in a Keras config (nested dicts and
    lists)."""
    found = set()
    if isinstance(node, dict):
        if node.get("class_name") in _CODE_CLASSES:
            found.add(node["class_name"])
        for value in node.values():
            found |= _code_classes(value)
    elif isinstance(node, list):
        for value in node:
            found |= _code_classes(value)
    return found
