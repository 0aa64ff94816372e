"""Recommendation compliance: how much of a recommended display state was implemented.

EdgeRec3D (§4.2) measures compliance as the Jaccard index between the recommended state R and
the observed state S, rho(R, S) = J(R, S). A state can be read as a set of products or as a
multiset of facings (each product counted as often as its facings); both are offered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from shelfwise.exceptions import InvalidParameterError

Mode = Literal["products", "facings"]


def jaccard(
    recommended: Mapping[str, int] | Iterable[str],
    observed: Mapping[str, int] | Iterable[str],
    *,
    mode: Mode = "products",
) -> float:
    """Jaccard index between a recommended and an observed display state.

    Parameters
    ----------
    recommended, observed : mapping of product_id to facings, or iterable of product_id
        The two states. Products with 0 facings count as absent.
    mode : {"products", "facings"}
        ``"products"``: |R ∩ S| / |R ∪ S| over product sets. ``"facings"``: the multiset form
        sum_i min(r_i, s_i) / sum_i max(r_i, s_i), so changing facings also counts.

    Returns
    -------
    float
        In [0, 1]; 1.0 when both states are empty.
    """
    r, s = _as_counts(recommended, "recommended"), _as_counts(observed, "observed")
    if mode == "products":
        rs, ss = {k for k, v in r.items() if v > 0}, {k for k, v in s.items() if v > 0}
        union = rs | ss
        return 1.0 if not union else len(rs & ss) / len(union)
    if mode == "facings":
        keys = set(r) | set(s)
        top = sum(max(r.get(k, 0), s.get(k, 0)) for k in keys)
        low = sum(min(r.get(k, 0), s.get(k, 0)) for k in keys)
        return 1.0 if top == 0 else low / top
    raise InvalidParameterError(f"mode must be 'products' or 'facings'; got {mode!r}")


def _as_counts(state: Mapping[str, int] | Iterable[str], name: str) -> dict[str, int]:
    if isinstance(state, Mapping):
        out = {}
        for k, v in state.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InvalidParameterError(
                    f"{name} facings must be whole numbers >= 0; got {v!r} for product {k!r}"
                )
            out[str(k)] = v
        return out
    if isinstance(state, str):
        raise InvalidParameterError(f"{name} must be a mapping or an iterable of ids; got a str")
    return dict.fromkeys(map(str, state), 1)
