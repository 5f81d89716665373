"""``save(obj, f)`` / ``load(f)`` with torch's call shapes, for state dicts and nested containers of tensors.

Safe by construction: an ``.npz`` (zip) of arrays plus a JSON tree (see ``checkpoint``); no pickle, so loading a
file runs no code. A path is written atomically; ``f`` may also be an open binary file.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from . import checkpoint


def save(obj: Any, f: str | os.PathLike[str] | BinaryIO) -> None:
    """Write ``obj`` (dicts, lists, tuples of Tensors, arrays, numbers, strings, None) to ``f``."""
    try:
        checkpoint.save(f, obj)
    except TypeError as e:
        raise TypeError(f"save: {e}; only tensors, arrays, numbers, strings, None and dicts / lists / tuples of "
                        f"them can be saved (no pickle)") from None


def load(f: str | os.PathLike[str] | BinaryIO, map_location: Any = None, weights_only: bool = True,
         **_: Any) -> Any:
    """Read what ``save`` wrote; tensors go to ``map_location`` (a device) or the default device."""
    return checkpoint.load(f, None if map_location is None else str(map_location), require_dict=False)
