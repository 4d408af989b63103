"""Amounts of money: stored and entered in 万元; shown in 万元 or 亿元 (1 亿元 = 10,000 万元)."""

from decimal import ROUND_HALF_UP, Decimal

WAN_PER_YI = Decimal(10000)


def plain_decimal(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (15000, 12.5)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def yi(value_wan) -> Decimal:
    """万元 → 亿元, exact (None counts as 0)."""
    return plain_decimal(Decimal(value_wan or 0) / WAN_PER_YI)


def yi_text(value_wan) -> str:
    """万元 → 亿元 with two decimals and thousands separators, as reports show it (15.00)."""
    return f"{yi(value_wan).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def wan_text(value) -> str:
    """An amount of 万元 as pages show it: thousands separators, no trailing zeros ("" for None)."""
    if value is None:
        return ""
    return f"{Decimal(value):,.4f}".rstrip("0").rstrip(".")


def yi_phrase(value_wan, english: bool = False) -> str:
    """An amount as a sentence says it: "3.50 亿元" (two decimals of 亿元, as reports show it);
    in English the same figure in words a reader expects, "350 million yuan" or "1.5 billion
    yuan" (1 亿元 = 100 million yuan), exactly the 亿元 figure shown in Chinese; an amount
    below 0.01 亿元 in yuan ("5,000 yuan" for 0.5 万元, "0 yuan" for none)."""
    shown = Decimal(yi_text(value_wan).replace(",", ""))
    if not english:
        return f"{yi_text(value_wan)} 亿元"
    wan = Decimal(value_wan or 0)
    if shown == 0:  # nothing, or less than 0.01 亿元: in yuan ("0 yuan", "5,000 yuan")
        return f"{plain_decimal(wan * 10000):,} yuan"
    if shown >= 10:
        return f"{plain_decimal(shown / 10):,} billion yuan"
    return f"{plain_decimal(shown * 100):,} million yuan"


def wan_phrase(value_wan, english: bool = False) -> str:
    """An exact amount of 万元 in a sentence: "12.5 万元"; in English the same amount in yuan,
    exactly (万元 carry at most 4 decimals, so yuan are whole): "125,000 yuan", "5 million yuan"
    for a round million."""
    if not english:
        return f"{wan_text(value_wan or 0)} 万元"
    yuan = int(Decimal(value_wan or 0) * 10000)
    if yuan and yuan % 1_000_000 == 0:
        return f"{yuan // 1_000_000:,} million yuan"
    return f"{yuan:,} yuan"


def list_separator(english: bool = False) -> str:
    """Between the items of a list of reasons: "；" in Chinese, "; " in English."""
    return "; " if english else "；"
