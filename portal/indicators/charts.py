"""The geometry of the charts, computed on the server; templates/indicators/_charts.html draws it as
accessible SVG (a title and a description, text labels on every bar and point, colours from classes
in app.css: the CSP forbids inline styles and scripts). The page puts the same numbers in a table
beside each chart. Autoescaped templates draw the text, so no label can become markup."""

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
FONT_SIZE = 13  # as .chart text in app.css
BAR_HEIGHT = 22
BAR_GAP = 10
LABEL_WIDTH = 200
VALUE_WIDTH = 70
LINE_HEIGHT = 240
MARGIN = 12


def character_width(character: str) -> float:
    """About how wide a character is drawn (wide CJK characters count double)."""
    return FONT_SIZE if unicodedata.east_asian_width(character) in "WF" else FONT_SIZE * 0.6


def text_width(text: str) -> float:
    return sum(character_width(character) for character in text)


def fit(label: str, width: float = LABEL_WIDTH - 12) -> str:
    """The label, shortened with an ellipsis to fit the width; the table beside the chart has it in full."""
    used = 0.0
    for index, character in enumerate(label):
        used += character_width(character)
        if used > width:
            return label[: max(index - 1, 1)] + "…"
    return label


@dataclass(frozen=True)
class Bar:
    label: str
    shown: str  # the value as the reader's language writes it
    top: float
    length: float

    @property
    def middle(self) -> float:
        return self.top + BAR_HEIGHT / 2


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per row, the longest for the largest value."""

    chart_id: str
    title: str
    description: str
    bars: list[Bar]
    width: int = WIDTH
    label_x: int = LABEL_WIDTH - 8
    bar_x: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT

    @property
    def height(self) -> int:
        return MARGIN * 2 + max(len(self.bars), 1) * (BAR_HEIGHT + BAR_GAP)


def bar_chart(chart_id: str, title: str, description: str, rows: Sequence[tuple[str, float, str]]) -> BarChart:
    """A bar per (label, value, value as shown) row."""
    largest = max((value for _label, value, _shown in rows), default=0) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH - MARGIN
    bars = [
        Bar(fit(label), shown, MARGIN + index * (BAR_HEIGHT + BAR_GAP), max(value, 0) / largest * room)
        for index, (label, value, shown) in enumerate(rows)
    ]
    return BarChart(chart_id, title, description, bars)


@dataclass(frozen=True)
class Point:
    x: float
    y: float | None  # None: no value here, and the line breaks
    label: str
    shown: str


@dataclass(frozen=True)
class LineChart:
    """A line through one point per label (months, say), with the axis and a grid line at the top."""

    chart_id: str
    title: str
    description: str
    points: list[Point]
    lines: list[str]  # polyline coordinates, one string per unbroken stretch
    left: int
    right: int
    top: int
    bottom: int
    width: int = WIDTH
    height: int = LINE_HEIGHT

    @property
    def label_y(self) -> int:
        return self.height - 14


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    shown: Sequence[str],
) -> LineChart:
    """A point per label at the height of its value; a missing value breaks the line. The first and
    last points stand far enough from the edges for their texts, centred on them, to be drawn whole."""
    half = [max(text_width(label), text_width(text)) / 2 for label, text in zip(labels, shown, strict=True)]
    left = max(48, MARGIN + math.ceil(half[0])) if half else 48
    right = WIDTH - MARGIN - (math.ceil(half[-1]) if half else 0)
    top, bottom = 24, LINE_HEIGHT - 40
    largest = max((v for v in values if v is not None), default=0) or 1
    step = (right - left) / max(len(labels) - 1, 1)
    points = [
        Point(
            left + index * step,
            None if value is None else bottom - max(value, 0) / largest * (bottom - top),
            label,
            text,
        )
        for index, (label, value, text) in enumerate(zip(labels, values, shown, strict=True))
    ]
    stretches: list[list[str]] = [[]]
    for point in points:
        if point.y is None:
            stretches.append([])
        else:
            stretches[-1].append(f"{point.x:.1f},{point.y:.1f}")
    lines = [" ".join(stretch) for stretch in stretches if len(stretch) > 1]
    return LineChart(chart_id, title, description, points, lines, left, right, top, bottom)
