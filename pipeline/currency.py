"""The currency of a dataset's money figures: guessed once, stored with the dataset, editable, used by every amount.

The guess (:func:`guess_currency`) looks, in order, at currency symbols or ISO codes written in the raw money values
(``£12.50``, ``12,50 €``, ``EUR 12.50``), then at the country column (the currency of at least half of the lines),
then falls back to :data:`pipeline.config.DEFAULT_CURRENCY`. A ``$`` is read as the dollar of the dominant country
when that country uses one (Canada: CAD), else USD. The rules are data: ``assets/currencies.csv`` (code, symbol,
name, whether the symbol goes first) and ``assets/country_currency.csv`` (country name or code -> currency).
A dataset whose spend is counted in items (a basket log without amounts or prices: ``report["monetary_unit"] ==
"items"``) and a customer table have no currency: :func:`dataset_currency` returns None for them and
:func:`format_money` then prints a plain number, never a currency.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from pipeline.config import ASSETS, DEFAULT_CURRENCY
from pipeline.errors import DataError

__all__ = ["Currency", "CurrencyGuess", "currencies", "currency", "guess_currency", "currency_extra",
           "dataset_currency", "with_currency", "format_money", "money_unit"]

_CURRENCIES = ASSETS / "currencies.csv"
_COUNTRIES = ASSETS / "country_currency.csv"


@dataclass(frozen=True)
class Currency:
    """One currency: ISO code, symbol, name, and whether the symbol is written before the amount."""

    code: str
    symbol: str
    name: str
    prefix: bool

    def label(self) -> str:
        """``GBP (£) · Pound sterling`` for pickers."""
        return f"{self.code} ({self.symbol}) · {self.name}"


@dataclass(frozen=True)
class CurrencyGuess:
    """A guessed currency code and why, in words."""

    code: str
    reason: str


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    df = pd.read_csv(_CURRENCIES, dtype=str, keep_default_na=False)
    df["prefix"] = df["prefix"].str.lower().eq("true")
    return df.set_index("code", drop=False)


@lru_cache(maxsize=1)
def _country_map() -> dict[str, str]:
    df = pd.read_csv(_COUNTRIES, dtype=str, keep_default_na=False)
    return dict(zip(df["country"].str.strip().str.lower(), df["currency"].str.strip()))


def currencies() -> list[Currency]:
    """Every known currency, in the order of ``assets/currencies.csv``."""
    return [Currency(r.code, r.symbol, r.name, bool(r.prefix)) for r in _table().itertuples()]


def currency(code: str) -> Currency:
    """The currency with ISO ``code``; ``DataError`` for an unknown code."""
    code = (code or "").strip().upper()
    found = _by_code().get(code)
    if found is None:
        raise DataError(f"Unknown currency {code!r}; use one of {', '.join(_table().index)}.")
    return found


@lru_cache(maxsize=1)
def _by_code() -> dict[str, Currency]:
    """Every currency by ISO code, read once (:func:`currency` is called per formatted amount)."""
    return {c.code: c for c in currencies()}


def _country_currency(counts: pd.Series | None) -> tuple[str | None, float]:
    """The currency of at least half of the lines with a known country (``counts``: lines per country), and
    its share."""
    if counts is None or counts.empty:
        return None, 0.0
    codes = pd.Series(counts.to_numpy(), index=counts.index.astype(str).str.strip().str.lower().map(_country_map()))
    codes = codes[codes.index.notna()].groupby(level=0).sum()
    if codes.empty or codes.sum() <= 0:
        return None, 0.0
    share = (codes / codes.sum()).sort_values(ascending=False)
    return (share.index[0], float(share.iloc[0])) if share.iloc[0] >= 0.5 else (None, float(share.iloc[0]))


def _symbol_currency(raw_money: pd.Series | None, country_code: str | None) -> tuple[str | None, str]:
    """The currency written in the raw money values (an ISO code or a symbol), with the token found."""
    if raw_money is None:
        return None, ""
    text = raw_money.dropna().astype(str).str.strip()
    text = text[text != ""].head(5000)
    if text.empty:
        return None, ""
    t = _table()
    codes = text.str.extract(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])", expand=False).dropna()
    codes = codes[codes.isin(t.index)]
    if len(codes) >= 0.5 * len(text):
        return codes.value_counts().index[0], codes.value_counts().index[0]
    symbols = sorted({s for s in t["symbol"] if not s.isalpha()}, key=len, reverse=True)
    found = text.str.extract("(" + "|".join(re.escape(s) for s in symbols) + ")", expand=False).dropna()
    if len(found) < 0.5 * len(text):
        return None, ""
    sym = found.value_counts().index[0]
    owners = t.index[t["symbol"] == sym].tolist()
    if country_code in owners or (sym == "$" and country_code and t.loc[country_code, "symbol"].endswith("$")):
        return country_code, sym
    return owners[0], sym


def guess_currency(countries: pd.Series | None = None, raw_money: pd.Series | None = None,
                   default: str = DEFAULT_CURRENCY, country_counts: pd.Series | None = None) -> CurrencyGuess:
    """Guess the currency of a transactions file from its raw money values and its country column (one value
    per line, or ``country_counts``: lines per country, e.g. from a SQL ``GROUP BY``)."""
    if country_counts is None and countries is not None:
        country_counts = countries.dropna().value_counts()
    country_code, share = _country_currency(country_counts)
    code, token = _symbol_currency(raw_money, country_code)
    if code:
        return CurrencyGuess(code, f"the amounts are written with {token!r}")
    if country_code:
        return CurrencyGuess(country_code, f"{share:.0%} of the purchases are from countries that pay in "
                                           f"{country_code}")
    return CurrencyGuess(default, f"no currency symbol or country in the data; {default} is the default")


def currency_extra(transactions: pd.DataFrame, report: dict, raw_sample: pd.DataFrame | None = None,
                   mapping: dict | None = None) -> dict:
    """``{"currency": code, "currency_reason": why}`` for a new transactions dataset's ``extra`` (``{}`` when its
    spend is counted in items). ``raw_sample`` holds raw text values; ``mapping`` says which of its columns hold
    the amounts or unit prices."""
    if report.get("monetary_unit") == "items":
        return {}
    cols = [c for c in ((mapping or {}).get("amount"), (mapping or {}).get("unit_price"))
            if c and raw_sample is not None and c in raw_sample.columns]
    raw = pd.concat([raw_sample[c] for c in cols], ignore_index=True) if cols else None
    countries = transactions["country"] if "country" in transactions.columns else None
    guess = guess_currency(countries, raw)
    return {"currency": guess.code, "currency_reason": guess.reason}


def dataset_currency(kind: str, report: dict | None, extra: dict | None,
                     countries: pd.Series | None = None) -> str | None:
    """The currency code of a saved dataset, or None when its spend is not money (items, customer tables).

    Datasets saved before currencies existed get the country guess (no raw values at hand)."""
    if kind != "transactions" or (report or {}).get("monetary_unit") == "items":
        return None
    code = (extra or {}).get("currency")
    return code if code in _table().index else guess_currency(countries).code


def with_currency(extra: dict, code: str) -> dict:
    """A copy of a dataset's ``extra`` with the currency set to ``code`` (checked)."""
    return dict(extra) | {"currency": currency(code).code}


def format_money(x: float | None, code: str | None, decimals: int = 2) -> str:
    """``£1,234.50``, ``1,234.50 CHF``; without a currency (items) a plain ``1,234.50``; missing as a dash."""
    if x is None or pd.isna(x):
        return "–"
    num = f"{abs(float(x)):,.{decimals}f}"
    sign = "-" if float(x) < 0 and float(num.replace(",", "")) != 0 else ""
    if not code:
        return f"{sign}{num}"
    c = currency(code)
    return f"{sign}{c.symbol}{num}" if c.prefix else f"{sign}{num} {c.symbol}"


def money_unit(code: str | None) -> str:
    """What to put in a column header or axis title: ``£``, ``CHF``, or ``items`` when there is no currency."""
    return currency(code).symbol if code else "items"
