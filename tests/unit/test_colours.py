"""Colours that hold for every reader (issue 18): head colours apart under colour blindness, and WCAG AA contrast for
the text on every chip and highlight the renderers and assets/style.css draw."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from colorspacious import cspace_convert, deltaE

from bertviz_ui.render import ner, sentiment
from bertviz_ui.render.attention import HEAD_COLOURS, head_colour

# The style sheet without its comments (a comment before a rule would read as part of its selector).
STYLE = re.sub(r"/\*.*?\*/", "", (Path(__file__).resolve().parents[2] / "assets" / "style.css").read_text(),
               flags=re.DOTALL)
AA_TEXT = 4.5
# CAM02-UCS distance: about 1 is a just-noticeable difference; 10 keeps two lines in a busy figure apart at a glance.
MIN_HEAD_DELTA_E = 10.0


def _rgb(colour: str) -> np.ndarray:
    """sRGB in [0, 1] from #rrggbb, #rgb or rgb(r,g,b)."""
    if colour.startswith("rgb("):
        return np.array([int(c) for c in colour[4:-1].split(",")]) / 255
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(c * 2 for c in hex_digits)
    return np.array([int(hex_digits[i:i + 2], 16) for i in (0, 2, 4)]) / 255


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance."""
    c = _rgb(colour)
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def contrast(text: str, background: str) -> float:
    """WCAG 2 contrast ratio of two opaque colours."""
    high, low = sorted((luminance(text), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def css(selector: str, prop: str) -> str:
    """The value of ``prop`` (a colour) in the first rule of style.css whose selector list is exactly ``selector``."""
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", STYLE):
        if selector in (s.strip() for s in selectors.split(",")):
            found = re.search(rf"(?:^|[;\s]){prop}\s*:\s*(#[0-9a-fA-F]{{3,6}})", body)
            if found:
                return found.group(1)
    raise AssertionError(f"style.css sets no {prop} for {selector}")


def test_contrast_matches_the_wcag_examples() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#777", "#fff") == pytest.approx(4.48, abs=0.01)  # the classic "grey that just fails AA"


def test_every_head_up_to_twelve_has_its_own_colour() -> None:
    colours = [head_colour(h) for h in range(12)]
    assert len(set(colours)) == 12
    assert head_colour(12) == head_colour(0)  # past 12 the palette repeats; the legend names every head


@pytest.mark.parametrize("vision", ["normal", "deuteranomaly", "protanomaly"])
def test_head_colours_stay_apart_under_colour_blindness(vision: str) -> None:
    # Machado, Oliveira & Fernandes (2009) at severity 100 (deuteranopia, protanopia), as colorspacious implements it.
    colours = [_rgb(c) for c in HEAD_COLOURS]
    if vision != "normal":
        space = {"name": "sRGB1+CVD", "cvd_type": vision, "severity": 100}
        colours = [np.clip(cspace_convert(c, space, "sRGB1"), 0, 1) for c in colours]
    closest = min(deltaE(a, b, input_space="sRGB1") for a, b in itertools.combinations(colours, 2))
    assert closest >= MIN_HEAD_DELTA_E


def test_dark_theme_head_colours_show_on_the_plot_area_and_stay_apart() -> None:
    """The dark theme draws head 0 (Tol's indigo, faint on the dark plot area) in a lighter indigo (style.css): it keeps
    3:1 (WCAG's non-text contrast) there, lines and chips get the same colour, and the palette stays apart."""
    plot_area = css(".dark .js-plotly-plot .bglayer rect.bg", "fill")
    lighter = css('.dark .bv-swatch[style*="#332288"]', "background")
    assert HEAD_COLOURS[0] == "#332288" and contrast(HEAD_COLOURS[0], plot_area) < 2
    # The lines' rule matches plotly's inline style, whose commas css() would split on.
    line = re.search(r'\.dark \.js-plotly-plot \.js-line\[style\*="stroke: rgb\(51, 34, 136\)"\] \{ stroke:(#\w+)', STYLE)
    assert line and line.group(1) == lighter
    assert contrast(lighter, plot_area) >= 3
    for vision in ("normal", "deuteranomaly", "protanomaly"):
        colours = [_rgb(c) for c in (lighter, *HEAD_COLOURS[1:])]
        if vision != "normal":
            space = {"name": "sRGB1+CVD", "cvd_type": vision, "severity": 100}
            colours = [np.clip(cspace_convert(c, space, "sRGB1"), 0, 1) for c in colours]
        assert min(deltaE(a, b, input_space="sRGB1") for a, b in itertools.combinations(colours, 2)) >= MIN_HEAD_DELTA_E


ENTITY_BACKGROUNDS = sorted({*ner.COLOURS.values(), *ner._FALLBACK})


@pytest.mark.parametrize("background", ENTITY_BACKGROUNDS)
def test_entity_labels_and_keys_are_readable_on_their_colour(background: str) -> None:
    assert contrast(css("mark.bv-ent", "color"), background) >= AA_TEXT
    assert contrast(css(".bv-ent-key", "color"), background) >= AA_TEXT


@pytest.mark.parametrize("score", [1.0, -1.0, 0.5, -0.5, 0.0])
def test_attribution_shades_keep_their_text_readable(score: float) -> None:
    shade = sentiment._colour(score, 1.0)
    assert shade.startswith("rgb(")  # opaque: the contrast does not depend on the theme behind it
    assert contrast(css(".bv-attr", "color"), shade) >= AA_TEXT


@pytest.mark.parametrize("chip", [".bv-a", ".bv-b", ".bv-special", ".bv-tiny-banner", ".bv-untrained", ".bv-notes",
                                  "mark.bv-fill", "mark.bv-qa-mark", ".bv-error"])
def test_chips_and_panels_have_readable_text(chip: str) -> None:
    assert contrast(css(chip, "color"), css(chip, "background")) >= AA_TEXT


@pytest.mark.parametrize("role", [".bv-role-masked", ".bv-role-random", ".bv-role-unchanged", ".bv-role-special",
                                  ".bv-lab-head"])
@pytest.mark.parametrize("text", [".bv-lab-orig", ".bv-lab-guess", ".bv-lab-loss"])
def test_masking_lab_text_is_readable_on_every_role(role: str, text: str) -> None:
    assert contrast(css(text, "color"), css(role, "background")) >= AA_TEXT
