"""Progress on stderr for long loops (an epoch, a download): a tqdm bar on a terminal, plain lines elsewhere.

Under nohup, CI or a batch scheduler stderr is a file or a pipe, where a bar would be noise or nothing; there
a plain line every few seconds (``$TINYGRAD_ADAM_PROGRESS_EVERY``, default 5) says how far the loop is::

    epoch 1/10: 120/469 it (26%), loss 0.3412, 23.5 it/s, ETA 0:15

A leaf module: the standard library only (tqdm when installed), so every layer may use it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

INTERVAL_ENV = "TINYGRAD_ADAM_PROGRESS_EVERY"
DEFAULT_INTERVAL_S = 5.0


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _amount(n: float, unit: str) -> str:
    if unit == "B":
        return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"
    return f"{int(n)}"


class Progress:
    """Counts ``update(n)`` calls towards ``total``; ``update(loss=...)`` adds figures to the line or bar.

    ``unit`` is "it" (iterations) or "B" (bytes, shown in MB). ``enabled=False`` prints nothing.
    """

    def __init__(self, total: int | None, desc: str, unit: str = "it", enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.n, self.figures = 0, {}
        self.start = self.last = time.monotonic()
        self.interval = float(os.environ.get(INTERVAL_ENV) or DEFAULT_INTERVAL_S)
        self.bar = self._tqdm() if enabled and self.stream.isatty() else None

    def _tqdm(self) -> Any:
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(total=self.total, desc=self.desc, unit=self.unit, unit_scale=self.unit == "B", leave=False,
                    dynamic_ncols=True, file=self.stream)

    def update(self, n: int = 1, **figures: float) -> None:
        """Advance by ``n`` and remember ``figures`` (e.g. the running loss) for the next line."""
        self.n += n
        self.figures.update(figures)
        if not self.enabled:
            return
        now = time.monotonic()
        if self.bar is not None:
            self.bar.update(n)
            if figures and now - self.last >= 0.5:
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in self.figures.items()})
                self.last = now
        elif now - self.last >= self.interval:
            self.last = now
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        """The plain progress line: done/total, the figures, the rate and the time left."""
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        rate = self.n / elapsed
        done = f"{_amount(self.n, self.unit)}"
        if self.total:
            done += f"/{_amount(self.total, self.unit)} {self.unit if self.unit != 'B' else ''}".rstrip()
            done += f" ({100 * self.n / self.total:.0f}%)"
        parts = [done] + [f"{k} {v:.4f}" for k, v in self.figures.items()]
        parts.append(f"{rate / 1e6:.1f} MB/s" if self.unit == "B" else f"{rate:.1f} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"ETA {_clock(max(self.total - self.n, 0) / rate)}")
        return f"{self.desc}: " + ", ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
