"""Unicode sparklines: one character per value, ``▁▂▃▄▅▆▇█`` from low to high.

A missing value (a day with no finished task for a score, no model call for a cost) is ``·``, never a
bar: there is no figure to draw, and a bar would look like one.
"""

from __future__ import annotations

from collections.abc import Sequence

BARS = "▁▂▃▄▅▆▇█"
NO_VALUE = "·"


def sparkline(values: Sequence[float | None], *, low: float = 0.0, high: float | None = None) -> str:
    """``values`` drawn between ``low`` (``▁``) and ``high`` (``█``; default: the largest value).

    Values outside the range are clipped to it. When every present value equals ``low`` (and no ``high``
    above it is given) all bars are ``▁``. ``None`` is drawn as ``·``.
    """
    present = [v for v in values if v is not None]
    top = high if high is not None else max(present, default=low)
    span = top - low
    chars = []
    for value in values:
        if value is None:
            chars.append(NO_VALUE)
            continue
        share = 0.0 if span <= 0 else (min(max(value, low), top) - low) / span
        chars.append(BARS[round(share * (len(BARS) - 1))])
    return "".join(chars)
