"""What the model registry writes and returns: manifests, promotions, loads and verifications.

Stored records (JSON in the store):

- ``Manifest``: one saved version, ``models/<name>/<NNNNNN>.json``;
- ``Promotion``: one move of the ``current`` pointer, ``models/<name>/promotions/<NNNNNN>.json``
  and, for the newest, ``models/<name>/current.json``.

Returned only (never stored): ``LoadedModel`` (what a load found), ``VersionCheck`` and
``VerifyReport`` (what ``verify`` found). ``manifest_key``, ``pointer_key`` and
``promotion_key`` say where the stored records live.

Reading keeps only the fields a record type knows, so a record written by a newer digitlib with
extra fields still reads, and a field added later has a default, so older records still read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Manifest:
    """What is known about one saved version (stored as JSON beside the checkpoint).

    ``key``: the checkpoint's store key; ``sha256``/``size``: of its bytes; ``parent``: the
    version it was derived from (None for a first or shipped version); ``metrics``: numbers such
    as ``{"accuracy": 0.98}``; ``created_at``: ISO 8601 UTC; ``produced_by``: e.g.
    ``"train --seed 0"``, ``"online update"``, ``"shipped"``; ``token``: unique per save;
    ``inference``: for Keras models, the inference file (``{"key", "sha256", "size",
    "source_sha256"}``), None in versions saved before inference files existed.
    """

    name: str
    version: int
    key: str
    sha256: str
    size: int
    parent: int | None
    metrics: dict[str, Any]
    created_at: str
    produced_by: str
    note: str = ""
    token: str = ""
    inference: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def to_json(self) -> bytes:
        """The stored form: UTF-8 JSON, indented by one space."""
        return json.dumps(self.to_dict(), indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Read the stored form; raises ``ValueError`` or ``TypeError`` when it is unreadable."""
        return cls.from_dict(json.loads(data))


@dataclass(frozen=True)
class Promotion:
    """One move of a model's ``current`` pointer (``generation`` counts them from 1)."""

    name: str
    version: int
    generation: int
    previous: int | None
    promoted_at: str
    promoted_by: str = ""
    note: str = ""
    token: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Promotion:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def to_json(self) -> bytes:
        """The stored form: compact UTF-8 JSON."""
        return json.dumps(self.to_dict()).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Promotion:
        """Read the stored form; raises ``ValueError`` or ``TypeError`` when it is unreadable."""
        return cls.from_dict(json.loads(data))


@dataclass
class LoadedModel:
    """What ``ModelRegistry.load`` returns.

    ``model``: the loader's result; ``version``: the store version loaded, None for the shipped
    file; ``source``: ``"store"`` or ``"shipped"``; ``manifest``: None for shipped; ``path``: the
    local file the loader read; ``warnings``: skipped versions and why (show these).
    """

    model: Any
    name: str
    version: int | None
    source: str
    manifest: Manifest | None
    path: Path
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VersionCheck:
    """The verification of one version: ``problem`` is '' when it is good."""

    name: str
    version: int
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass
class VerifyReport:
    """``ModelRegistry.verify`` result: one check per version and each model's current version."""

    checks: list[VersionCheck]
    current: dict[str, int | None]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def problems(self) -> list[VersionCheck]:
        return [check for check in self.checks if not check.ok]

    def __str__(self) -> str:
        lines = []
        for check in self.checks:
            live = " (current)" if self.current.get(check.name) == check.version else ""
            status = "ok" if check.ok else f"BAD: {check.problem}"
            lines.append(f"{check.name} {check.version:06d}{live}: {status}")
        return "\n".join(lines) or "no model versions in the store"


def manifest_key(name: str, version: int) -> str:
    """Where a version's manifest lives: ``("cnn", 42)`` -> ``"models/cnn/000042.json"``."""
    return f"models/{name}/{version:06d}.json"


def pointer_key(name: str) -> str:
    """Where the newest promotion of ``name`` lives: ``"models/<name>/current.json"``."""
    return f"models/{name}/current.json"


def promotion_key(name: str, generation: int) -> str:
    """Where a promotion lives: ``("cnn", 7)`` -> ``"models/cnn/promotions/000007.json"``."""
    return f"models/{name}/promotions/{generation:06d}.json"
