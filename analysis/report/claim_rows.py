"""The shape of a claim row (``claims``, ``depth_claims``): claim, measured, from, verdict."""

from __future__ import annotations

import pandas as pd

COLUMNS = ("claim", "measured", "from", "verdict")


def claim_row(claim: str, measured: str, source: str, verdict: str) -> dict:
    """One row of the claims table."""
    return dict(zip(COLUMNS, (claim, measured, source, verdict), strict=True))


def not_diverged(df: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not diverge (all of them without a "diverged" column)."""
    return df[~df["diverged"].astype(bool)] if "diverged" in df else df
