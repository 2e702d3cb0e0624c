"""Charts drawn on the server as accessible SVG: a title and a description screen readers announce,
text labels on every bar and point, and colours from classes in app.css (the CSP forbids inline
styles and scripts). The page puts the same numbers in a table beside each chart."""

import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
BAR_HEIGHT = 22
BAR_GAP = 10
LABEL_WIDTH = 200
VALUE_WIDTH = 70
LINE_HEIGHT = 240
MARGIN = 12
FONT_SIZE = 13  # as .chart text in app.css


def fit(label: str, width: float = LABEL_WIDTH - 12) -> str:
    """The label, shortened with an ellipsis to fit the width (wide CJK characters count double);
    the table beside the chart has it in full."""
    used = 0.0
    for index, character in enumerate(label):
        used += FONT_SIZE if unicodedata.east_asian_width(character) in "WF" else FONT_SIZE * 0.6
        if used > width:
            return label[: max(index - 1, 1)] + "…"
    return label


def _open(chart_id: str, title: str, description: str, height: float) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'role="img" aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc" id="{chart_id}">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )


def bar_chart(chart_id: str, title: str, description: str, rows: Sequence[tuple[str, float, str]]) -> Markup:
    """Horizontal bars, one per (label, value, value as shown) row, longest for the largest value."""
    height = MARGIN * 2 + max(len(rows), 1) * (BAR_HEIGHT + BAR_GAP)
    largest = max((value for _label, value, _shown in rows), default=0) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH - MARGIN
    parts = [_open(chart_id, title, description, height)]
    for index, (label, value, shown) in enumerate(rows):
        top = MARGIN + index * (BAR_HEIGHT + BAR_GAP)
        middle = top + BAR_HEIGHT / 2
        length = max(value, 0) / largest * room
        parts.append(
            f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{middle:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(fit(label))}</text>'
            f'<rect class="chart-bar" x="{LABEL_WIDTH}" y="{top}" width="{length:.1f}" height="{BAR_HEIGHT}"></rect>'
            f'<text class="chart-value" x="{LABEL_WIDTH + length + 6:.1f}" y="{middle:.1f}" '
            f'dominant-baseline="middle">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    shown: Sequence[str],
) -> Markup:
    """A line through one point per label (months, say); a missing value breaks the line."""
    left, right, top, bottom = 48, WIDTH - MARGIN, 24, LINE_HEIGHT - 40
    largest = max((v for v in values if v is not None), default=0) or 1
    step = (right - left) / max(len(labels) - 1, 1)

    def x(index: int) -> float:
        return left + index * step

    def y(value: float) -> float:
        return bottom - max(value, 0) / largest * (bottom - top)

    parts = [_open(chart_id, title, description, LINE_HEIGHT)]
    parts.append(f'<line class="chart-axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"></line>')
    parts.append(f'<line class="chart-grid" x1="{left}" y1="{top}" x2="{right}" y2="{top}"></line>')
    segments: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(index):.1f},{y(value):.1f}")
    for points in segments:
        if len(points) > 1:
            parts.append(f'<polyline class="chart-line" points="{" ".join(points)}"></polyline>')
    for index, (label, value, text) in enumerate(zip(labels, values, shown, strict=True)):
        parts.append(
            f'<text class="chart-label" x="{x(index):.1f}" y="{LINE_HEIGHT - 14}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
        if value is not None:
            parts.append(
                f'<circle class="chart-point" cx="{x(index):.1f}" cy="{y(value):.1f}" r="4"></circle>'
                f'<text class="chart-value" x="{x(index):.1f}" y="{y(value) - 9:.1f}" text-anchor="middle">'
                f"{escape(text)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
