"""Draw the app's PNG icons (crm/static/icons/icon-192.png, icon-512.png) from the same shapes
as crm/static/icons/icon.svg, with Pillow. Run once after changing the design; the PNGs are
committed, so the app needs no Pillow at run time for them."""

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parent.parent / "crm" / "static" / "icons"
BLUE, GOLD, WHITE = "#1d4f91", "#f0b429", "#ffffff"


def draw(size: int) -> Image.Image:
    """The favicon's bars on a full-bleed square (maskable: the bars sit in the safe circle)."""
    unit = size / 32
    image = Image.new("RGB", (size, size), BLUE)
    pen = ImageDraw.Draw(image)

    def box(x0, y0, x1, y1, colour):
        # The 32-unit drawing scaled to 60 % and centred, inside a maskable icon's safe zone.
        scale, offset = 0.6, 32 * 0.2
        pen.rectangle([round((offset + x0 * scale) * unit), round((offset + y0 * scale) * unit),
                       round((offset + x1 * scale) * unit) - 1,
                       round((offset + y1 * scale) * unit) - 1], fill=colour)

    box(8, 14, 12, 23, WHITE)
    box(14, 9, 18, 23, WHITE)
    box(20, 17, 24, 23, WHITE)
    box(7, 24, 25, 26, GOLD)
    return image


def main() -> None:
    for size in (192, 512):
        draw(size).save(ICONS / f"icon-{size}.png", optimize=True)


if __name__ == "__main__":
    main()
