"""``from fanin.tqdm_auto import tqdm, trange``: the ``tqdm.auto`` import path, for
swapping one import line in code that uses tqdm."""

from __future__ import annotations

from ._integrations.tqdm import tqdm, trange

__all__ = ["tqdm", "trange"]
