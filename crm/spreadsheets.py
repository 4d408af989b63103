"""Spreadsheet safety, one rule for every export and the importer (OWASP "CSV injection")."""

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

#: A text cell starting with one of these is read as a formula by spreadsheets, or becomes one
#: when the cell is edited or the sheet saved as CSV.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value) -> str:
    """Text that no spreadsheet will take for a formula, without characters XML forbids.

    A text starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe, as
    OWASP advises: it survives a later "save as CSV", which a style flag would not.
    """
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value or ""))
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return text


def unguarded(text: str) -> str:
    """Undo ``safe_text``'s apostrophe when reading our own exports back in."""
    if text.startswith("'") and text[1:2] in FORMULA_TRIGGERS:
        return text[1:]
    return text
