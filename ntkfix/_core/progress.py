"""One progress display for every long computation of ntkfix and its application.

On a terminal: a tqdm bar. Otherwise (CI logs, notebooks' captured stderr, files): a
plain line on stderr, ``[desc] done/total unit (pct%), elapsed, ~left  note``, at most
every ``every`` seconds (and always for the last item); ``every=0`` logs every item.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """Progress of ``total`` items of which ``initial`` were already done (resumed work).

    Args:
      total: number of items.
      desc: what is being done; the prefix of every line ("[desc] ...").
      unit: what an item is ("tile", "cell").
      initial: items already finished before this run.
      enabled: False shows nothing.
      every: seconds between plain lines (0: one line per item).

    Examples:
      >>> bar = Progress(2, "demo", unit="step", enabled=False)
      >>> bar.update("first"); bar.update("second"); bar.close()
      >>> bar.done
      2
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        unit: str = "item",
        initial: int = 0,
        enabled: bool = True,
        every: float = 0.0,
    ):
        self.total, self.desc, self.unit = int(total), desc, unit
        self.done = self.start = int(initial)
        self.enabled, self.every = bool(enabled), float(every)
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, initial=self.done, desc=desc, unit=unit)

    def log(self, msg: str) -> None:
        """A message above the bar (or a plain stderr line), prefixed with ``[desc]``."""
        if not self.enabled:
            return
        line = f"[{self.desc}] {msg}"
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def update(self, note: str = "") -> None:
        """One more item finished; ``note`` says which (shown beside the bar / in the line)."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if note:
                self.bar.set_postfix_str(note)
            return
        now = time.perf_counter()
        if self.enabled and (now - self.last >= self.every or self.done == self.total):
            self.last = now
            rate = (self.done - self.start) / max(now - self.t0, 1e-9)
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            pct = 100 * self.done / max(self.total, 1)
            self.log(
                f"{self.done}/{self.total} {self.unit}s ({pct:.0f}%), {now - self.t0:.0f} s "
                f"elapsed, ~{left:.0f} s left" + (f"  {note}" if note else "")
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
