"""``digitlib drawings verify [--repair]`` on a store folder holding a hand-written bad drawing.

The other ``digitlib drawings`` verbs are exercised in ``test_cli_models.py``.
"""

from __future__ import annotations

import json

import cv2
import numpy as np

from digitlib.cli import main
from digitlib.store import DrawingStore, LocalStore

PNG = cv2.imencode(".png", np.full((12, 10), 255, np.uint8))[1].tobytes()
BAD_ID = "20250101T120000000000Z-0000000a"
# As Python's json wrote a tampered page's drawing before the store checked finiteness.
BAD_JSON = (
    '{"id": "BAD_ID", "labels": [1], "created_at": "2025-01-01T12:00:00+00:00", "png_size": 10, '
    '"strokes": {"canvas_size": [480, 680], "strokes": [{"points": [[10, 10], [1e308, 20], '
    '[Infinity, -Infinity], [10, 60]], "width": 24.0}]}}'
).replace("BAD_ID", BAD_ID)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_verify_reports_and_repair_drops_only_the_non_finite_points(tmp_path, capsys):
    root = tmp_path / "store"
    (root / "drawings").mkdir(parents=True)
    (root / "drawings" / f"{BAD_ID}.png").write_bytes(PNG)
    (root / "drawings" / f"{BAD_ID}.json").write_text(BAD_JSON)
    store = LocalStore(root)
    good = DrawingStore(store).save(
        PNG,
        "7",
        strokes={"canvas_size": [480, 680], "strokes": [{"points": [[1, 2]], "width": 24}]},
    )

    code, out, _ = run(capsys, "drawings", "list", "--store", store.url)
    assert code == 0 and "2 drawing(s)" in out  # an old store keeps listing

    code, out, err = run(capsys, "drawings", "verify", "--store", store.url)
    assert code == 1
    assert out.splitlines() == [
        f"drawings/{BAD_ID}.json: stroke 0: points must be finite [x, y] canvas pixels; point 2 "
        "is [inf, -inf] (1 of 4 not finite)",
        "  --repair would change: dropped 1 of the 4 points of stroke 0: point 2 [inf, -inf]",
        "checked 2 drawing(s): 1 with problems",
    ]
    assert "run 'digitlib drawings verify --repair'" in err
    assert (root / "drawings" / f"{BAD_ID}.json").read_text() == BAD_JSON

    code, out, err = run(capsys, "drawings", "verify", "--repair", "--store", store.url)
    assert code == 0 and err == ""
    assert "  repaired: dropped 1 of the 4 points of stroke 0: point 2 [inf, -inf]" in out
    assert "1 repaired (originals kept under repaired/)" in out
    text = (root / "drawings" / f"{BAD_ID}.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    (stroke,) = json.loads(text)["strokes"]["strokes"]
    assert stroke["points"] == [[10, 10], [1e308, 20], [10, 60]]  # finite: kept as it was
    assert (root / "repaired" / "drawings" / f"{BAD_ID}.json").read_text() == BAD_JSON

    code, out, _ = run(capsys, "drawings", "verify", "--store", store.url)
    assert code == 0 and out == "checked 2 drawing(s): 0 with problems\n"
    assert [record.id for record in DrawingStore(store).list()] == [BAD_ID, good.id]
