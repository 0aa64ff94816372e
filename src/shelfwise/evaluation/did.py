"""Difference-in-differences with a permutation test and a bootstrap interval (EdgeRec3D §4.2).

DID = (post_treat - pre_treat) - (post_control - pre_control). The unit of assignment (a
display in a within-store experiment, a store in an observational split) is the unit of
analysis: each unit's outcome is averaged within the pre and the post period, its change is
d_u = post_u - pre_u, and DID = mean(d | treated) - mean(d | control). The percentage form the
paper reports is the treated group's relative change minus the control group's.

Significance comes from a non-parametric permutation test: treatment labels are reshuffled
among units (within strata, e.g. stores, when the design randomised within them) and the
p-value is the share of reshuffles with |DID| at least the observed one (with the +1
correction). The interval is a percentile bootstrap over units, resampled within group and
stratum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shelfwise.exceptions import DataProblem, DataValidationError, InvalidParameterError


@dataclass(frozen=True)
class DIDResult:
    """A difference-in-differences estimate with its uncertainty.

    Attributes
    ----------
    estimate : float
        DID in outcome units (e.g. units sold per day).
    estimate_pct : float
        Treated relative change minus control relative change (0.35 = +35 points).
    p_value : float
        Two-sided permutation p-value.
    ci_low, ci_high : float
        Bootstrap percentile interval of ``estimate`` at ``ci_level``.
    ci_pct_low, ci_pct_high : float
        The same for ``estimate_pct``.
    means : DataFrame
        Rows ``treatment`` and ``control``; columns pre, post, change, change_pct, units.
    n_treated, n_control : int
        Units in each group (with both periods observed).
    n_dropped : int
        Units left out because one period had no observation.
    n_permutations, n_bootstrap : int
        Resamples used.
    ci_level : float
        Coverage of the intervals.
    """

    estimate: float
    estimate_pct: float
    p_value: float
    ci_low: float
    ci_high: float
    ci_pct_low: float
    ci_pct_high: float
    means: pd.DataFrame
    n_treated: int
    n_control: int
    n_dropped: int
    n_permutations: int
    n_bootstrap: int
    ci_level: float
    group_means: tuple[float, float, float, float] = (np.nan, np.nan, np.nan, np.nan)
    """Treated pre, treated post, control pre, control post means."""

    def summary(self) -> str:
        """One readable paragraph."""
        t_pre, t_post, c_pre, c_post = self.group_means
        return (
            f"DID {self.estimate:+.3f} units ({self.estimate_pct:+.1%}); permutation p = "
            f"{self.p_value:.3f}; {self.ci_level:.0%} bootstrap interval "
            f"[{self.ci_low:+.3f}, {self.ci_high:+.3f}] units, "
            f"[{self.ci_pct_low:+.1%}, {self.ci_pct_high:+.1%}]. Treatment "
            f"{t_pre:.3f} -> {t_post:.3f} ({self.n_treated} units), control "
            f"{c_pre:.3f} -> {c_post:.3f} ({self.n_control} units)."
        )


def unit_changes(
    panel: pd.DataFrame,
    *,
    unit: str = "unit",
    treated: str = "treated",
    post: str = "post",
    outcome: str = "outcome",
    stratum: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Per unit: its group, stratum, pre and post mean outcome; and how many units lacked a period.

    ``panel`` has one row per observation (e.g. unit x day) or per unit x period.
    """
    needed = [unit, treated, post, outcome] + ([stratum] if stratum else [])
    missing = [c for c in needed if c not in panel.columns]
    if missing:
        raise InvalidParameterError(
            f"panel must have columns {needed}; missing {missing} (got {list(panel.columns)})"
        )
    frame = panel[needed].copy()
    values = pd.to_numeric(frame[outcome], errors="coerce")
    if values.isna().any() or not np.isfinite(values.to_numpy()).all():
        bad = frame.loc[values.isna(), outcome].head(3).tolist()
        raise InvalidParameterError(f"{outcome} must be finite numbers; got e.g. {bad}")
    frame[outcome] = values
    for col in (treated, post):
        frame[col] = frame[col].astype(bool)
    mixed = frame.groupby(unit)[treated].nunique() > 1
    if mixed.any():
        raise InvalidParameterError(
            f"{treated} must be constant within a unit; units {mixed[mixed].index[:5].tolist()} "
            "are both treated and control"
        )
    keys = [unit, treated] + ([stratum] if stratum else [])
    wide = frame.pivot_table(index=keys, columns=post, values=outcome, aggfunc="mean")
    wide = wide.rename(columns={False: "pre", True: "post"})
    for col in ("pre", "post"):
        if col not in wide.columns:
            wide[col] = np.nan
    complete = wide.dropna(subset=["pre", "post"]).reset_index()
    complete["change"] = complete["post"] - complete["pre"]
    return complete, int(len(wide) - len(complete))


def _did(d: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """DID (units) for each row of ``labels`` (n_draws x n_units, bool: treated)."""
    t = labels.astype(float)
    c = 1.0 - t
    out: np.ndarray = (t @ d) / t.sum(axis=1) - (c @ d) / c.sum(axis=1)
    return out


def _did_pct(pre: np.ndarray, post: np.ndarray, labels: np.ndarray) -> np.ndarray:
    t = labels.astype(float)
    c = 1.0 - t
    rel_t = (t @ post) / (t @ pre) - 1.0
    rel_c = (c @ post) / (c @ pre) - 1.0
    out: np.ndarray = rel_t - rel_c
    return out


def _permute(
    labels: np.ndarray, strata: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` reshuffles of ``labels`` within each stratum."""
    out = np.empty((n, labels.size), dtype=bool)
    out[:] = labels
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        if idx.size < 2:
            continue
        keys = rng.random((n, idx.size))
        order = np.argsort(keys, axis=1)
        out[:, idx] = labels[idx][order]
    return out


def _bootstrap(
    labels: np.ndarray, strata: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` index vectors resampling units with replacement within (stratum, group)."""
    cols = []
    for s in np.unique(strata):
        for g in (True, False):
            idx = np.flatnonzero((strata == s) & (labels == g))
            if idx.size:
                cols.append(idx[rng.integers(0, idx.size, size=(n, idx.size))])
    return np.concatenate(cols, axis=1)


def difference_in_differences(
    panel: pd.DataFrame,
    *,
    unit: str = "unit",
    treated: str = "treated",
    post: str = "post",
    outcome: str = "outcome",
    stratum: str | None = None,
    n_permutations: int = 5000,
    n_bootstrap: int = 2000,
    ci_level: float = 0.95,
    bootstrap_strata: bool = False,
    random_state: int | np.random.Generator | None = None,
) -> DIDResult:
    """Estimate DID with a permutation p-value and bootstrap intervals.

    Parameters
    ----------
    panel : DataFrame
        One row per observation (unit x day, or unit x period) with the columns named below.
    unit, treated, post, outcome : str
        Column names: unit id; whether the unit is in the treatment group (constant per unit);
        whether the row is after the intervention; the outcome (e.g. daily units sold).
    stratum : str, optional
        Column of the randomisation stratum (e.g. store in a within-store design). Labels are
        permuted within strata (see ``bootstrap_strata`` for the interval).
    n_permutations, n_bootstrap : int
        Resamples for the test and the interval.
    ci_level : float
        Interval coverage, in (0, 1).
    bootstrap_strata : bool
        Resample units within (stratum, group) cells for the interval. Off by default: with
        the one or two units per cell of a within-store design (a store's displays), such cells
        have almost no variance and a nominal 95% interval covered a null effect only about 80%
        of the time in simulated experiments on the synthetic chain (98% when resampling within
        group across strata, the default). The permutation test always stays within strata.
    random_state : int, Generator or None
        Seed for the resampling.

    Returns
    -------
    DIDResult

    Raises
    ------
    InvalidParameterError
        Missing columns, non-numeric outcomes, a unit in both groups, or fewer than one unit
        per group with both periods observed.
    """
    if n_permutations < 1 or n_bootstrap < 1:
        raise InvalidParameterError(
            f"n_permutations and n_bootstrap must be >= 1; got {n_permutations}, {n_bootstrap}"
        )
    if not 0.0 < ci_level < 1.0:
        raise InvalidParameterError(f"ci_level must be in (0, 1); got {ci_level}")
    rng = np.random.default_rng(random_state)
    units, dropped = unit_changes(
        panel, unit=unit, treated=treated, post=post, outcome=outcome, stratum=stratum
    )
    labels = units[treated].to_numpy(dtype=bool)
    n_t, n_c = int(labels.sum()), int((~labels).sum())
    if n_t < 1 or n_c < 1:
        raise InvalidParameterError(
            f"each group needs at least one unit observed before and after; got {n_t} treated "
            f"and {n_c} control ({dropped} unit(s) lacked a period)"
        )
    d = units["change"].to_numpy(float)
    pre, pst = units["pre"].to_numpy(float), units["post"].to_numpy(float)
    strata = units[stratum].astype(str).to_numpy() if stratum else np.zeros(len(units), dtype=int)
    observed = labels[None, :]
    est = float(_did(d, observed)[0])
    est_pct = float(_did_pct(pre, pst, observed)[0])
    perm = _permute(labels, strata, n_permutations, rng)
    null = _did(d, perm)
    p = float((1 + np.sum(np.abs(null) >= abs(est) - 1e-12)) / (1 + n_permutations))
    boot_strata = strata if bootstrap_strata else np.zeros(len(units), dtype=int)
    idx = _bootstrap(labels, boot_strata, n_bootstrap, rng)
    boot = _boot_did(d, labels, idx)
    boot_pct = _boot_did_pct(pre, pst, labels, idx)
    lo, hi = (1 - ci_level) / 2, 1 - (1 - ci_level) / 2
    means = pd.DataFrame(
        {
            "pre": [pre[labels].mean(), pre[~labels].mean()],
            "post": [pst[labels].mean(), pst[~labels].mean()],
            "units": [n_t, n_c],
        },
        index=["treatment", "control"],
    )
    means["change"] = means["post"] - means["pre"]
    means["change_pct"] = means["post"] / means["pre"] - 1.0
    return DIDResult(
        estimate=est,
        estimate_pct=est_pct,
        p_value=p,
        ci_low=float(np.quantile(boot, lo)),
        ci_high=float(np.quantile(boot, hi)),
        ci_pct_low=float(np.nanquantile(boot_pct, lo)),
        ci_pct_high=float(np.nanquantile(boot_pct, hi)),
        means=means[["pre", "post", "change", "change_pct", "units"]],
        n_treated=n_t,
        n_control=n_c,
        n_dropped=dropped,
        n_permutations=n_permutations,
        n_bootstrap=n_bootstrap,
        ci_level=ci_level,
        group_means=(
            float(pre[labels].mean()),
            float(pst[labels].mean()),
            float(pre[~labels].mean()),
            float(pst[~labels].mean()),
        ),
    )


def _boot_did(d: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> np.ndarray:
    lab = labels[idx]
    dd = d[idx]
    t_mean = np.where(lab, dd, 0.0).sum(axis=1) / lab.sum(axis=1)
    c_mean = np.where(~lab, dd, 0.0).sum(axis=1) / (~lab).sum(axis=1)
    out: np.ndarray = t_mean - c_mean
    return out


def _boot_did_pct(
    pre: np.ndarray, pst: np.ndarray, labels: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    lab = labels[idx]
    a, b = pre[idx], pst[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_t = np.where(lab, b, 0).sum(1) / np.where(lab, a, 0).sum(1) - 1.0
        rel_c = np.where(~lab, b, 0).sum(1) / np.where(~lab, a, 0).sum(1) - 1.0
    out: np.ndarray = rel_t - rel_c
    return out


def read_panel(
    path: str | Path,
    *,
    unit: str = "unit",
    treated: str = "treated",
    post: str = "post",
    outcome: str = "outcome",
    stratum: str | None = None,
) -> pd.DataFrame:
    """Read a store x period (or display x day) panel from CSV / Parquet for DID.

    ``treated`` and ``post`` may be written as true/false, 1/0 or yes/no.

    Raises
    ------
    DataValidationError
        Naming the file, row, column and value of the first bad cells.
    """
    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataValidationError(
            [DataProblem(str(p), None, None, type(exc).__name__, f"file must be readable: {exc}")]
        ) from exc
    needed = [unit, treated, post, outcome] + ([stratum] if stratum else [])
    problems = [
        DataProblem(str(p), None, c, list(frame.columns), f"column '{c}' is required")
        for c in needed
        if c not in frame.columns
    ]
    if problems:
        raise DataValidationError(problems)
    truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    for col in (treated, post):
        text = frame[col].astype(str).str.strip().str.lower()
        mapped = text.map(truth)
        bad = mapped.isna().to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)[:10]
            raise DataValidationError(
                [
                    DataProblem(
                        str(p), int(r) + 1, col, frame[col].iloc[r], "must be true or false"
                    )
                    for r in rows
                ]
            )
        frame[col] = mapped.astype(bool)
    values = pd.to_numeric(frame[outcome], errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)[:10]
        raise DataValidationError(
            [
                DataProblem(str(p), int(r) + 1, outcome, frame[outcome].iloc[r], "must be a number")
                for r in rows
            ]
        )
    frame[outcome] = values
    return frame
