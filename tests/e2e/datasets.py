"""Tabular datasets the end-to-end tests make themselves, one per task, seeded.

Each has a learnable signal, numeric and string features with missing values, and an id
column the spec excludes, so every stage (statistics, schema, validation, the built-in
model's preprocessing) meets what a user's data brings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPECIES = {
    "Adelie": (38.8, 18.3, 190.0),
    "Chinstrap": (48.8, 18.4, 196.0),
    "Gentoo": (47.5, 15.0, 217.0),
}
ISLANDS = {"Adelie": ["Torgersen", "Biscoe", "Dream"], "Chinstrap": ["Dream"], "Gentoo": ["Biscoe"]}


def _missing(rng: np.random.Generator, values: pd.Series, share: float) -> pd.Series:
    return values.mask(rng.random(len(values)) < share)


def penguins(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Multiclass, string label ``species``; NaN in numbers, missing strings."""
    rng = np.random.default_rng(seed)
    species = rng.choice(list(SPECIES), size=rows, p=[0.45, 0.2, 0.35])
    means = np.array([SPECIES[s] for s in species])
    frame = pd.DataFrame(
        {
            "penguin_id": [f"p{i:05d}" for i in range(rows)],
            "bill_length_mm": np.round(means[:, 0] + rng.normal(0, 2.5, rows), 1),
            "bill_depth_mm": np.round(means[:, 1] + rng.normal(0, 0.9, rows), 1),
            "flipper_length_mm": np.round(means[:, 2] + rng.normal(0, 6.0, rows)),
            "island": [rng.choice(ISLANDS[s]) for s in species],
            "sex": rng.choice(["male", "female"], size=rows),
            "species": species,
        }
    )
    for column in ("bill_length_mm", "bill_depth_mm", "island", "sex"):
        frame[column] = _missing(rng, frame[column], 0.04)
    return frame


def loans(rows: int = 4000, seed: int = 1) -> pd.DataFrame:
    """Binary, two string labels ``outcome`` ("default" / "repaid") that need
    ``data.positive_label``."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.5, rows)
    amount = rng.lognormal(9.0, 0.7, rows)
    grade = rng.choice(list("ABCDE"), size=rows, p=[0.3, 0.3, 0.2, 0.12, 0.08])
    risk = (
        2.2 * np.log(amount / income * 10)
        + np.array([{"A": -1.5, "B": -0.7, "C": 0.0, "D": 0.8, "E": 1.5}[g] for g in grade])
        + rng.normal(0, 0.8, rows)
    )
    frame = pd.DataFrame(
        {
            "loan_id": np.arange(rows),
            "income": np.round(income, 2),
            "amount": np.round(amount, 2),
            "grade": grade,
            "term_months": rng.choice([36, 60], size=rows),
            "outcome": np.where(risk > np.quantile(risk, 0.7), "default", "repaid"),
        }
    )
    frame["income"] = _missing(rng, frame["income"], 0.03)
    return frame


def houses(rows: int = 3000, seed: int = 2) -> pd.DataFrame:
    """Regression, a label ``price`` in the hundreds of thousands."""
    rng = np.random.default_rng(seed)
    area = rng.normal(120, 35, rows).clip(30, 400)
    rooms = np.clip(np.round(area / 30 + rng.normal(0, 0.7, rows)), 1, 10)
    district = rng.choice(["north", "centre", "south", "harbour"], size=rows)
    premium = np.array(
        [{"north": 1.0, "centre": 1.6, "south": 0.8, "harbour": 1.3}[d] for d in district]
    )
    price = 2500 * area * premium + 8000 * rooms + rng.normal(0, 15000, rows)
    frame = pd.DataFrame(
        {
            "house_id": np.arange(rows),
            "area_m2": np.round(area, 1),
            "rooms": rooms,
            "district": district,
            "price": np.round(price, -2),
        }
    )
    frame["area_m2"] = _missing(rng, frame["area_m2"], 0.03)
    return frame
