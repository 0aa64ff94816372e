"""Differentiable planogram penalties: L_constraint and L_revenue of the paper's Eq. (6)-(7).

The paper trains with ``L = L_diffusion + lambda1 * L_constraint + lambda2 * L_revenue`` where
L_constraint "penalizes violations of shelf weight limits, incorrect category groupings,
regulatory violations" and brand agreements, but gives no formulas. Ours act on the model's
estimate of the clean planogram, ``x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)``,
read in physical units through the attribute channels (see :mod:`shelfwise.generative.data`):
``v = (x + 1) / 2`` clipped to [0, 1], slot occupancy ``o = v[occupied]``, height in cm
``= v[height] * catalog's tallest``, and so on. One term per hard rule family of the
validator (all are 0 on a planogram that meets the rule, exactly or in the hard limit):

``shelf_exists``       occupancy on padded (non-existent) shelves
``height_clearance``   ``o * relu(height - clearance)``
``depth``              ``o * relu(depth - shelf depth)``
``shelf_load``         ``relu(sum_k o_k * weight_k * deep_k * slot_k / width_k - max load)`` with
                       ``deep = shelf depth / product depth`` (the chain's full depth)
``display_capacity``   ``relu(sum o * slot / width - max_slots)`` (facings wide = span / width)
``regulatory_zone``    ``o * age_restricted`` on shelves where the zone forbids them
``category_blocking``  per shelf and subcategory ``g`` with soft membership ``m_g(k)``: the
                       dip ``relu(min(max_{i<k} m_g(i), max_{j>k} m_g(j)) - m_g(k))`` counted
                       on occupied slots (``o_k`` times it), zero iff every group is one
                       contiguous run; empty slots between a group's blocks do not split it,
                       as in the validator
``brand_share``        ``relu(min - share) + relu(share - max)`` of the soft brand share of the
                       occupied linear space, for each brand_share rule
``mandatory_products`` ``1 - max_k a_p(k)``, ``a_p(k)`` the soft assignment of slot ``k`` to
                       product ``p`` (softmax of -distance^2 / temperature over the catalog)
``facings_range``      ``relu(sum_k a_p(k) * slot / width_p - max_facings)`` per product

``shelf_width`` and ``no_overlap`` hold by construction on the slot grid (a slot holds one
product and a shelf has exactly its width in slots); whole facings are the decoder's job.

L_revenue is ``-sum_k o_k sum_p a_p(k) r_p slot_k / width_p`` divided by the mean revenue of
the training planograms, with ``r_p`` the expected revenue per facing per day of product ``p``
in the planogram's store (from the chain's truth or a fitted demand model).

Simplifications (known, kept for speed): revenue is linear in facings at the one-facing rate,
while true demand saturates with facings; blocking is penalised at the subcategory level
whatever level a rule names; ``display_kinds`` of mandatory-product and facings rules and
``per_product`` facing caps are not looked at (the validator and repair still are, so what the
pipeline hands out is judged by the real rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from shelfwise.generative.data import MODEL_CHANNELS, Geometry, PlanogramCodec
from shelfwise.planogram.rules import BrandShare, FacingsRange, MandatoryProducts, Rulebook

_CH = {name: i for i, name in enumerate(MODEL_CHANNELS)}
PENALTY_NAMES = (
    "shelf_exists",
    "height_clearance",
    "depth",
    "shelf_load",
    "display_capacity",
    "regulatory_zone",
    "category_blocking",
    "brand_share",
    "mandatory_products",
    "facings_range",
)


@dataclass(frozen=True)
class LossContext:
    """Constant tensors the penalties need: catalog attributes, scales and rule parameters."""

    attributes: Tensor
    """(P, C) products in model space."""
    width_cm: Tensor
    """(P,) product widths."""
    height_scale: float
    depth_scale: float
    weight_scale: float
    width_scale: float
    subcategory_levels: Tensor
    """(G,) model-space value of each subcategory."""
    brand_rules: tuple[tuple[float, float, float], ...]
    """(model-space brand value, min share, max share) per brand_share rule."""
    mandatory: Tensor
    """(M,) product indices that must be on every display."""
    max_facings: float | None
    temperature: float = 0.02

    @classmethod
    def of(cls, codec: PlanogramCodec, rulebook: Rulebook) -> LossContext:
        """Build from a codec and the rulebook the model is trained for."""
        enc = codec.encoder
        n_sub = max(1, len(codec.subcategories))
        n_brand = max(1, len(codec.brands))
        brands: list[tuple[float, float, float]] = []
        for rule in rulebook.of_type("brand_share"):
            if isinstance(rule, BrandShare) and rule.brand in codec.brands:
                level = 2.0 * (codec.brands.index(rule.brand) + 1) / n_brand - 1.0
                brands.append((level, rule.min_share, rule.max_share))
        mandatory = sorted(
            {
                codec.index[pid]
                for rule in rulebook.of_type("mandatory_products")
                if isinstance(rule, MandatoryProducts)
                for pid in rule.product_ids
                if pid in codec.index
            }
        )
        caps = [
            r.max_facings
            for r in rulebook.of_type("facings_range")
            if isinstance(r, FacingsRange) and r.max_facings is not None
        ]
        return cls(
            attributes=torch.from_numpy(codec.attributes.copy()),
            width_cm=torch.tensor([p.width_cm or 1.0 for p in codec.catalog]),
            height_scale=enc.height_scale_cm,
            depth_scale=codec.depth_scale_cm,
            weight_scale=enc.weight_scale_kg,
            width_scale=enc.width_scale_cm,
            subcategory_levels=torch.tensor(
                [2.0 * (g + 1) / n_sub - 1.0 for g in range(len(codec.subcategories))]
            ),
            brand_rules=tuple(brands),
            mandatory=torch.tensor(mandatory, dtype=torch.long),
            max_facings=float(min(caps)) if caps else None,
        )


def geometry_tensors(geometry: Geometry, index: np.ndarray | slice) -> dict[str, Tensor]:
    """A batch of :class:`Geometry` as float tensors (``index`` picks the samples)."""
    return {
        "exists": torch.from_numpy(geometry.exists[index].astype(np.float32)),
        "width_cm": torch.from_numpy(geometry.width_cm[index]),
        "clearance_cm": torch.from_numpy(geometry.clearance_cm[index]),
        "depth_cm": torch.from_numpy(geometry.depth_cm[index]),
        "max_load_kg": torch.from_numpy(geometry.max_load_kg[index]),
        "age_allowed": torch.from_numpy(geometry.age_allowed[index].astype(np.float32)),
        "max_slots": torch.from_numpy(geometry.max_slots[index]),
    }


def _dip(m: Tensor) -> Tensor:
    """Non-contiguity of soft memberships along the last axis (0 iff one contiguous run)."""
    left = torch.cummax(m, dim=-1).values
    right = torch.flip(torch.cummax(torch.flip(m, dims=(-1,)), dim=-1).values, dims=(-1,))
    left = torch.nn.functional.pad(left[..., :-1], (1, 0))
    right = torch.nn.functional.pad(right[..., 1:], (0, 1))
    return torch.relu(torch.minimum(left, right) - m)


def soft_assignment(x0: Tensor, ctx: LossContext) -> Tensor:
    """Soft assignment of each slot to a product, shape (B, P, S, K)."""
    a = ctx.attributes.to(x0)  # (P, C)
    cross = torch.einsum("bcsk,pc->bpsk", x0, a)
    d2 = (x0**2).sum(dim=1, keepdim=True) - 2.0 * cross + (a**2).sum(dim=1)[None, :, None, None]
    d2 = d2 / x0.shape[1]
    return torch.softmax(-d2 / ctx.temperature, dim=1)


def penalties(
    x0: Tensor,
    geometry: Mapping[str, Tensor],
    ctx: LossContext,
    *,
    assignment: Tensor | None = None,
) -> dict[str, Tensor]:
    """Every constraint penalty per sample.

    Parameters
    ----------
    x0 : Tensor, shape (B, C, S, K)
        Estimated clean planograms in model space.
    geometry : Mapping[str, Tensor]
        From :func:`geometry_tensors`.
    ctx : LossContext
        Catalog and rule constants.
    assignment : Tensor, optional
        :func:`soft_assignment` of ``x0`` when already computed.

    Returns
    -------
    dict of str to Tensor of shape (B,)
        Keys ``PENALTY_NAMES``.
    """
    v = ((x0 + 1.0) / 2.0).clamp(0.0, 1.0)
    n_slots = x0.shape[-1]
    occ = v[:, _CH["occupied"]]  # (B, S, K)
    exists = geometry["exists"][..., None]
    slot_cm = (geometry["width_cm"] / n_slots)[..., None]  # (B, S, 1)
    width = (v[:, _CH["width"]] * ctx.width_scale).clamp(min=1.0)
    height = v[:, _CH["height"]] * ctx.height_scale
    depth = (v[:, _CH["depth"]] * ctx.depth_scale).clamp(min=1.0)
    weight = v[:, _CH["weight"]] * ctx.weight_scale
    live = occ * exists
    facings = live * slot_cm / width  # facings wide per slot
    out: dict[str, Tensor] = {}
    out["shelf_exists"] = (occ * (1.0 - exists)).mean(dim=(1, 2))
    out["height_clearance"] = (
        live * torch.relu(height - geometry["clearance_cm"][..., None]) / ctx.height_scale
    ).sum(dim=(1, 2)) / n_slots
    out["depth"] = (
        live * torch.relu(depth - geometry["depth_cm"][..., None]) / ctx.depth_scale
    ).sum(dim=(1, 2)) / n_slots
    load = (facings * weight * geometry["depth_cm"][..., None] / depth).sum(dim=-1)
    max_load = geometry["max_load_kg"].clamp(min=1e-6)
    out["shelf_load"] = (torch.relu(load - max_load) / max_load * geometry["exists"]).sum(dim=1)
    out["display_capacity"] = torch.relu(facings.sum(dim=(1, 2)) - geometry["max_slots"]) / (
        geometry["max_slots"].clamp(min=1.0)
    )
    forbidden = (1.0 - geometry["age_allowed"])[..., None] * exists
    out["regulatory_zone"] = (occ * v[:, _CH["age_restricted"]] * forbidden).sum(
        dim=(1, 2)
    ) / n_slots
    levels = ctx.subcategory_levels.to(x0)
    sub = x0[:, _CH["subcategory"]]
    member = torch.exp(-((sub.unsqueeze(1) - levels[None, :, None, None]) ** 2) / 0.02)
    member = member * live.unsqueeze(1)  # (B, G, S, K)
    # Only occupied slots can split a group (the validator ignores empty space between blocks).
    dip = _dip(member) * live.unsqueeze(1)
    out["category_blocking"] = dip.sum(dim=(1, 2, 3)) / n_slots
    span = (live * slot_cm).sum(dim=(1, 2)).clamp(min=1e-6)
    brand_pen = torch.zeros_like(span)
    for level, lo, hi in ctx.brand_rules:
        m = torch.exp(-((x0[:, _CH["brand"]] - level) ** 2) / 0.005) * live
        share = (m * slot_cm).sum(dim=(1, 2)) / span
        brand_pen = brand_pen + torch.relu(lo - share) + torch.relu(share - hi)
    out["brand_share"] = brand_pen
    need_assign = ctx.mandatory.numel() > 0 or ctx.max_facings is not None
    if need_assign and assignment is None:
        assignment = soft_assignment(x0, ctx)
    zero = torch.zeros_like(span)
    if ctx.mandatory.numel() > 0 and assignment is not None:
        a = assignment[:, ctx.mandatory] * live.unsqueeze(1)
        out["mandatory_products"] = (1.0 - a.amax(dim=(2, 3))).sum(dim=1)
    else:
        out["mandatory_products"] = zero
    if ctx.max_facings is not None and assignment is not None:
        per_product = (
            assignment
            * live.unsqueeze(1)
            * slot_cm.unsqueeze(1)
            / ctx.width_cm.to(x0)[None, :, None, None]
        ).sum(dim=(2, 3))
        out["facings_range"] = torch.relu(per_product - ctx.max_facings).sum(dim=1)
    else:
        out["facings_range"] = zero
    return out


def expected_revenue(
    x0: Tensor,
    geometry: Mapping[str, Tensor],
    revenue: Tensor,
    ctx: LossContext,
    *,
    assignment: Tensor | None = None,
) -> Tensor:
    """Soft expected revenue per day of each planogram, shape (B,).

    ``revenue`` is (B, P): revenue per facing per day of each product in the sample's store.
    """
    v = ((x0 + 1.0) / 2.0).clamp(0.0, 1.0)
    live = v[:, _CH["occupied"]] * geometry["exists"][..., None]
    slot_cm = (geometry["width_cm"] / x0.shape[-1])[..., None]
    a = assignment if assignment is not None else soft_assignment(x0, ctx)
    per_slot = (a * (revenue / ctx.width_cm.to(x0))[:, :, None, None]).sum(dim=1)
    return (live * slot_cm * per_slot).sum(dim=(1, 2))
