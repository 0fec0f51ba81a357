"""JSON-safe figures: what ``--json`` prints and what the API's ``to_dict()`` returns."""
from __future__ import annotations

import math
from typing import Any


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON null): JSON has no NaN or
    infinity, and a consumer must never meet one (the engine fails a run whose state became
    non-finite, so this only touches figures that are undefined, such as an empty interval).
    Numpy scalars and arrays become plain Python numbers and lists; tuples become lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):        # a numpy scalar or array
        return finite_json(obj.tolist())
    return obj
