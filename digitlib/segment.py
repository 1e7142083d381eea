"""``digitlib.segment`` is ``digitlib.image.segment``: the old name keeps working for code that imports
it (the same module object, so its functions and settings are shared)."""

import sys

from digitlib.image import segment as _module

sys.modules[__name__] = _module
