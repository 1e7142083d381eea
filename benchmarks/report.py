"""Print a results file as Markdown: ``python -m benchmarks.report [PATH]`` (for the README)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.harness import DEFAULT_OUT, format_markdown


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_OUT
    print(format_markdown(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
