"""Tests for planogram rendering: valid PNG/SVG files, violation marks, heat map, grid, errors."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib as mpl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.colors import same_color, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram._render_labels import _fit_label, _width_pt
from shelfwise.planogram.render import (
    SOFT_ORANGE,
    VIOLATION_RED,
    render_grid,
    render_planogram,
    render_to_file,
    save_figure,
)
from shelfwise.planogram.violations import Severity, Violation

COLORBAR_LABEL = "units sold per day per facing"


def _product(
    pid: str, name: str, sub: str, brand: str, w: float, h: float, *, age: bool = False
) -> Product:
    return Product(
        pid,
        name,
        brand=brand,
        category="Beverages",
        subcategory=sub,
        width_cm=w,
        height_cm=h,
        depth_cm=w,
        weight_kg=0.5,
        price=1.99,
        age_restricted=age,
    )


CATALOG: dict[str, Product] = {
    p.product_id: p
    for p in (
        _product("P1", "Cola", "Sparkling", "Crown", 6.6, 12.2),
        _product("P2", "Crown Lemon Lime 20 oz bottle", "Sparkling", "Crown", 7.4, 23.0),
        _product("P3", "Alpine Spring Water 1 L bottle", "Water", "Alpine", 8.0, 27.0),
        _product("P4", "Voltage Energy Original 16 oz can", "Energy", "Voltage", 6.6, 16.8),
        _product("P5", "Highline Hard Seltzer Lime", "Sparkling", "Highline", 6.6, 12.2, age=True),
        _product("P6", "Tiny Mint", "Candy", "Minty", 1.5, 3.0),
    )
}


def _shelves(n: int, width: float, gap: float, start: float, clearance: float) -> tuple[Shelf, ...]:
    return tuple(Shelf(i, width, clearance, 50.0, 80.0, start + i * gap) for i in range(n))


COOLER = Display("D1", "S1", DisplayKind.COOLER, 60, _shelves(4, 76.0, 33.0, 12.0, 30.0), "Cooler")
CHECKOUT = Display("D2", "S1", DisplayKind.CHECKOUT, 20, _shelves(2, 46.0, 25.0, 20.0, 22.0))
PLANOGRAM = Planogram(
    "D1",
    1,
    (
        Position(0, 0.0, "P3", 3, 1, 6),  # 24 cm
        Position(0, 24.0, "P2", 2, 1, 6),  # 14.8 cm, ends at 38.8
        Position(1, 0.0, "P1", 4, 2, 7),  # 26.4 cm x 24.4 cm
        Position(1, 30.0, "P4", 2, 1, 7),
        Position(2, 0.0, "P2", 1, 1, 6),
        Position(2, 7.4, "P5", 3, 1, 7),
        Position(3, 0.0, "P6", 2, 1, 9),
        Position(3, 10.0, "P4", 1, 1, 7),
    ),
    provenance="test",
)
CHECKOUT_PG = Planogram(
    "D2",
    3,
    (
        Position(0, 0.0, "P1", 3, 1, 4),
        Position(1, 0.0, "P6", 8, 2, 9),  # a 12 x 6 cm block of mints
        Position(1, 20.0, "P6", 1, 1, 9),  # a single 1.5 x 3 cm mint
    ),
)


def _block_bounds(pos: Position, display: Display = COOLER) -> tuple[float, float, float, float]:
    p = CATALOG[pos.product_id]
    assert p.width_cm is not None and p.height_cm is not None
    y = display.shelves[pos.shelf_index].height_from_floor_cm
    return pos.x_cm, y, pos.facings_wide * p.width_cm, pos.facings_high * p.height_cm


def _rects(fig: Figure) -> list[Rectangle]:
    """Rectangles on the main axes."""
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def _marks(fig: Figure, color: str) -> list[Rectangle]:
    """Rectangles outlined in ``color`` (violation marks) on the main axes."""
    return [p for p in _rects(fig) if same_color(p.get_edgecolor(), to_rgba(color))]


def _bounds(r: Rectangle) -> tuple[float, float, float, float]:
    return (
        round(r.get_x(), 6),
        round(r.get_y(), 6),
        round(r.get_width(), 6),
        round(r.get_height(), 6),
    )


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()
    return " ".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text"))


# ------------------------------------------------------------------------------ files
def test_png_file_is_valid_and_readably_large(tmp_path: Path) -> None:
    out = render_to_file(PLANOGRAM, COOLER, CATALOG, tmp_path / "cooler.png")
    with Image.open(out) as img:
        img.verify()
    with Image.open(out) as img:
        assert img.format == "PNG"
        width, height = img.size
    # 150 dpi; the cooler is ~160 cm tall at 0.07 in/cm: about 11 in of drawing.
    assert 900 <= width <= 3000
    assert 1500 <= height <= 3000
    assert height > width


def test_svg_file_is_valid_and_keeps_labels_as_text(tmp_path: Path) -> None:
    out = render_to_file(PLANOGRAM, COOLER, list(CATALOG.values()), tmp_path / "cooler.SVG")
    text = _svg_text(out)
    for label in ("Cola", "x7 deep", "shelf 0", "shelf 3", "Sparkling", "Water", "Energy"):
        assert label in text
    # Long names are wrapped over lines, but every word is there.
    for word in ("Alpine", "Spring", "Voltage", "Lemon"):
        assert word in text


def test_save_figure_refuses_unknown_suffix(tmp_path: Path) -> None:
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG)
    for name in ("plan.jpg", "plan", "plan.pdf"):
        with pytest.raises(InvalidParameterError, match=r"path suffix must be one of .*got"):
            save_figure(fig, tmp_path / name)
    with pytest.raises(InvalidParameterError, match=r"'\.gif'"):
        render_to_file(PLANOGRAM, COOLER, CATALOG, tmp_path / "plan.gif")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------ drawing
def test_one_rectangle_per_facing_and_empty_space_in_grey() -> None:
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG)
    ax = fig.axes[0]
    rects = [_bounds(p) for p in _rects(fig)]
    for pos in PLANOGRAM.positions:
        x, y, w, h = _block_bounds(pos)
        fw, fh = w / pos.facings_wide, h / pos.facings_high
        for i in range(pos.facings_wide):
            for j in range(pos.facings_high):
                assert _bounds(Rectangle((x + i * fw, y + j * fh), fw, fh)) in rects
    grey = [_bounds(p) for p in _rects(fig) if same_color(p.get_facecolor(), "#D9D9D9")]
    # Shelf 0 is used up to 38.8 cm of 76 cm: the other 37.2 cm show as empty space.
    assert any(b[0] == 38.8 and b[2] == 37.2 for b in grey)
    assert "37 cm free" in " ".join(t.get_text().replace("\n", " ") for t in ax.texts)


def test_labels_stay_inside_their_blocks() -> None:
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    blocks = [_block_bounds(p) for p in PLANOGRAM.positions]
    labelled = 0
    for text in ax.texts:
        cx, cy = text.get_position()
        inside = [b for b in blocks if b[0] < cx < b[0] + b[2] and b[1] < cy < b[1] + b[3]]
        if not inside:
            continue
        x, y, w, h = inside[0]
        (x0, y0), (x1, y1) = ax.transData.transform([(x, y), (x + w, y + h)])
        ext = text.get_window_extent(renderer)
        assert x0 - 1 <= ext.x0 and ext.x1 <= x1 + 1 and y0 - 1 <= ext.y0 and ext.y1 <= y1 + 1
        labelled += 1
    # Every block but the 1.5 cm mints gets a label.
    assert labelled == len(PLANOGRAM.positions) - 1


def test_checkout_display_labels_only_blocks_where_text_fits(tmp_path: Path) -> None:
    fig = render_planogram(CHECKOUT_PG, CHECKOUT, CATALOG)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("Cola") for t in texts)
    # The 12 x 6 cm block of mints is labelled; the lone 1.5 x 3 cm mint is not.
    assert [t.split("\n")[0] for t in texts if "Mint" in t] == ["Tiny Mint"]
    assert len([t for t in texts if "x9 deep" in t]) == 1
    out = save_figure(fig, tmp_path / "checkout.png")
    with Image.open(out) as img:
        img.verify()


def test_missing_products_are_noted_not_fatal() -> None:
    pg = Planogram(
        "D1", 2, (Position(0, 0.0, "P1"), Position(0, 10.0, "NOPE"), Position(9, 0, "P1"))
    )
    fig = render_planogram(pg, COOLER, CATALOG)
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "NOPE on shelf 0 not drawn: not in the catalog" in notes
    assert "P1 on shelf 9 not drawn: the display has no such shelf" in notes


# ------------------------------------------------------------------------------ violations
def test_violation_outlines_the_concerned_products_in_red_with_hatch() -> None:
    zone = Violation(
        "age-zone",
        "regulatory_zone",
        Severity.HARD,
        "Highline Hard Seltzer Lime must sit at or above 100 cm",
        shelf_index=2,
        product_ids=("P5",),
    )
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG, violations=[zone])
    red = _marks(fig, VIOLATION_RED)
    assert [_bounds(r) for r in red] == [_bounds(Rectangle(*_pair(PLANOGRAM.positions[5])))]
    assert red[0].get_hatch() == "///"
    listed = " ".join(t.get_text() for t in fig.texts)
    assert "1. [HARD] age-zone: Highline Hard Seltzer Lime must sit" in listed
    assert any(t.get_text() == "1" for t in fig.axes[0].texts)  # numbered badge


def test_violation_on_a_product_without_shelf_marks_all_its_blocks() -> None:
    v = Violation("facings", "facings_range", Severity.HARD, "too many", product_ids=("P2",))
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG, violations=[v])
    expected = {_bounds(Rectangle(*_pair(p))) for p in PLANOGRAM.positions if p.product_id == "P2"}
    assert {_bounds(r) for r in _marks(fig, VIOLATION_RED)} == expected


def test_shelf_violation_outlines_the_shelf_not_every_product() -> None:
    shelf_products = tuple(p.product_id for p in PLANOGRAM.positions if p.shelf_index == 0)
    width = Violation(
        "shelf-width",
        "shelf_width",
        Severity.HARD,
        "shelf 0 is full",
        shelf_index=0,
        product_ids=shelf_products,
    )
    load = Violation("load", "shelf_load", Severity.HARD, "too heavy", shelf_index=3)
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG, violations=[width, load])
    red = _marks(fig, VIOLATION_RED)
    # Per shelf: a dashed outline of its clearance and a hatched board.
    assert len(red) == 4
    for shelf in (COOLER.shelves[0], COOLER.shelves[3]):
        bay = (0.0, shelf.height_from_floor_cm, shelf.width_cm, shelf.clearance_cm)
        assert bay in {_bounds(r) for r in red}
    assert sum(r.get_hatch() == "////" for r in red) == 2


def test_display_violation_outlines_the_frame_and_soft_ones_are_orange() -> None:
    cap = Violation(
        "capacity",
        "display_capacity",
        Severity.HARD,
        "61 facings; max 60",
        product_ids=tuple(CATALOG),
    )
    soft = Violation("eye", "eye_level", Severity.SOFT, "not at eye level", product_ids=("P3",))
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG, violations=[cap, soft])
    red, orange = _marks(fig, VIOLATION_RED), _marks(fig, SOFT_ORANGE)
    assert len(red) == 1 and red[0].get_x() < 0 and red[0].get_y() == 0  # the frame
    assert [_bounds(r) for r in orange] == [_bounds(Rectangle(*_pair(PLANOGRAM.positions[0])))]
    assert not orange[0].get_hatch()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "hard rule violation" in labels and "soft rule violation" in labels


# ------------------------------------------------------------------------------ heat map
def test_unit_sales_give_a_heat_map_with_a_colorbar() -> None:
    sales = {"P1": 8.0, "P2": 3.0, "P3": 1.5, "P4": 0.3}  # P5, P6 have no data
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG, unit_sales=sales)
    bars = [a for a in fig.axes if a.get_ylabel() == COLORBAR_LABEL]
    assert len(bars) == 1
    ax = fig.axes[0]
    # P1 sells 8/day over 4 facings = 2.0 per facing, the top of the scale (viridis yellow);
    # P2 sells 3/day over 3 facings = 1.0 per facing.
    faces = {_bounds(p): p.get_facecolor() for p in _rects(fig)}
    p1 = _block_bounds(PLANOGRAM.positions[2])
    assert same_color(faces[(p1[0], p1[1], 6.6, 12.2)], mpl.colormaps["viridis"](1.0))
    text = " ".join(t.get_text() for t in ax.texts)
    assert "2.0/facing" in text and "1.0/facing" in text
    assert "no sales data" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_category_colours_have_a_legend_and_no_colorbar() -> None:
    sales = {"P1": 1.0}
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG, unit_sales=sales, color_by="brand")
    assert not [a for a in fig.axes if a.get_ylabel() == COLORBAR_LABEL]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Crown (7 facings)" in labels and "Minty (2 facings)" in labels


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"color_by": "flavour"}, r"color_by must be one of .*got 'flavour'"),
        ({"color_by": "sales"}, r"unit_sales must be given when color_by='sales'; got None"),
        ({"unit_sales": {"P1": -1.0}}, r"unit_sales must be >= 0 for product P1; got -1.0"),
        ({"unit_sales": {"P1": float("inf")}}, r"unit_sales must be finite for product P1"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        render_planogram(PLANOGRAM, COOLER, CATALOG, **kwargs)  # type: ignore[arg-type]


def test_planogram_of_another_display_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"planogram.display_id must match .*'D2'"):
        render_planogram(CHECKOUT_PG, COOLER, CATALOG)


# ------------------------------------------------------------------------------ grid
def test_grid_of_four_displays_shares_one_legend(tmp_path: Path) -> None:
    items = [
        (PLANOGRAM, COOLER),
        (CHECKOUT_PG, CHECKOUT),
        (PLANOGRAM, COOLER),
        (CHECKOUT_PG, CHECKOUT),
    ]
    v = Violation(
        "zone", "regulatory_zone", Severity.HARD, "low", shelf_index=2, product_ids=("P5",)
    )
    fig = render_grid(items, CATALOG, ncols=2, violations=[[v], [], [], []])
    assert len(fig.axes) == 4
    assert len(fig.legends) == 1
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"Sparkling", "Water", "Energy", "Candy"} <= set(legend)
    # Thumbnails carry titles but no per-facing labels.
    for ax in fig.axes:
        assert not any("deep" in t.get_text() for t in ax.texts)
    assert "1 hard, 0 soft violations" in [t.get_text() for t in fig.axes[0].texts]
    # Same scale everywhere: identical data limits and axes sizes.
    assert len({(ax.get_xlim(), ax.get_ylim()) for ax in fig.axes}) == 1
    out = save_figure(fig, tmp_path / "grid.png")
    with Image.open(out) as img:
        img.verify()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ncols": 0}, r"ncols must be an int >= 1; got 0"),
        ({"titles": ["a"]}, r"titles must have one entry per display \(2\); got 1"),
        ({"color_by": "sales"}, r"color_by must be one of .*got 'sales'"),
    ],
)
def test_grid_refuses_bad_options(kwargs: dict[str, object], match: str) -> None:
    items = [(PLANOGRAM, COOLER), (CHECKOUT_PG, CHECKOUT)]
    with pytest.raises(InvalidParameterError, match=match):
        render_grid(items, CATALOG, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="must not be empty"):
        render_grid([], CATALOG)


def test_rendering_is_thread_safe(tmp_path: Path) -> None:
    def job(i: int) -> Path:
        return render_to_file(
            PLANOGRAM, COOLER, CATALOG, tmp_path / f"p{i}.{'svg' if i % 2 else 'png'}"
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(job, range(4)))
    for path in paths:
        if path.suffix == ".png":
            with Image.open(path) as img:
                img.verify()
        else:
            assert "Cola" in _svg_text(path)


def test_synthetic_chain_displays_render(tmp_path: Path) -> None:
    from shelfwise.data.synthetic import ChainConfig, generate_chain

    chain = generate_chain(
        ChainConfig(n_stores=2, n_products=20, displays_per_store=3, weeks=2), random_state=0
    )
    latest = {pg.display_id: pg for pg in chain.planograms}
    items = [(latest[d.display_id], d) for d in chain.displays if d.display_id in latest]
    out = save_figure(render_planogram(*items[0], chain.products), tmp_path / "d.svg")
    names = _svg_text(out)
    assert any(p.name.split()[0] in names for p in chain.products)
    assert len(render_grid(items, chain.products).axes) == len(items)


# ------------------------------------------------------------------------------ label fitting
@settings(max_examples=60, deadline=None)
@given(
    name=st.lists(
        st.sampled_from(
            ["Cola", "Zero", "Lemon", "Lime", "20", "oz", "bottle", "Hydrafuel", "Sparkling"]
        ),
        min_size=1,
        max_size=7,
    ),
    w_pt=st.floats(5, 200),
    h_pt=st.floats(5, 200),
)
def test_fitted_labels_fit_their_box(name: Sequence[str], w_pt: float, h_pt: float) -> None:
    fit = _fit_label(" ".join(name), ["x6 deep"], w_pt, h_pt)
    if fit is None:
        return
    text, size, rotation = fit
    length, thick = (w_pt, h_pt) if rotation == 0 else (h_pt, w_pt)
    lines = text.split("\n")
    assert size >= 6.0
    assert len(lines) * size * 1.2 <= thick
    assert all(_width_pt(line, size) <= length for line in lines)


def test_fit_label_prefers_whole_names_and_truncates_with_ellipsis() -> None:
    assert _fit_label("Cola", ["x6 deep"], 100, 60) == ("Cola\nx6 deep", 8.0, 0)
    tall = _fit_label("Crown Lemon Lime", [], 20, 150)
    assert tall is not None and tall[2] == 90  # narrow and tall: rotated
    cut = _fit_label("Supercalifragilistic Sparkling Water", [], 60, 16)
    assert cut is not None and cut[0].endswith("…")
    assert _fit_label("Cola", [], 4, 4) is None


def _pair(pos: Position) -> tuple[tuple[float, float], float, float]:
    x, y, w, h = _block_bounds(pos)
    return (x, y), w, h


def test_files_are_deterministic(tmp_path: Path) -> None:
    for suffix in (".svg", ".png"):
        a = render_to_file(PLANOGRAM, COOLER, CATALOG, tmp_path / f"a{suffix}")
        b = render_to_file(PLANOGRAM, COOLER, CATALOG, tmp_path / f"b{suffix}")
        assert a.read_bytes() == b.read_bytes()


def test_rendering_never_touches_pyplot() -> None:
    code = (
        "import sys\n"
        "from tests.planogram.test_render import PLANOGRAM, COOLER, CATALOG\n"
        "from shelfwise.planogram.render import render_grid, render_planogram\n"
        "render_planogram(PLANOGRAM, COOLER, CATALOG)\n"
        "render_grid([(PLANOGRAM, COOLER)], CATALOG)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_heat_map_with_no_sales_keeps_a_sensible_scale() -> None:
    fig = render_planogram(PLANOGRAM, COOLER, CATALOG, unit_sales=dict.fromkeys(CATALOG, 0.0))
    (bar,) = [a for a in fig.axes if a.get_ylabel() == COLORBAR_LABEL]
    assert bar.get_ylim() == (0.0, 1.0)
