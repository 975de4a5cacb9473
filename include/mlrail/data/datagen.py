"""Chicago-taxi-like trips with the TFX taxi example's schema, seeded and sized.

Knobs produce the two kinds of shift the evaluation and drift stages look for:

* serving skew: the same sub-populations in a different mix (``payment_mix``);
* data drift: a sub-population the training data never had (``airport_share`` adds
  O'Hare trips from community area 76, ``new_company_share`` adds a new company) and
  shifted fares (``fare_shift`` multiplies every fare).

The label ``big_tipper`` is 1 when the tip exceeds 20 % of the fare, as in TFX's example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PAYMENT_MIX = {
    "Credit Card": 0.47,
    "Cash": 0.43,
    "Mobile": 0.04,
    "Prcard": 0.03,
    "No Charge": 0.02,
    "Unknown": 0.01,
}
COMPANIES = [
    "Taxi Affiliation Services",
    "Flash Cab",
    "Dispatch Taxi Affiliation",
    "Yellow Cab",
    "Blue Ribbon Taxi Association Inc.",
    "Chicago Carriage Cab Corp",
    "City Service",
    "Sun Taxi",
    "Medallion Leasing",
    "Globe Taxi",
    "Star North Management LLC",
    "Choice Taxi Association",
]
NEW_COMPANY = "Nova Cab Co"
OHARE = 76
# Busy areas: Near North Side, Loop, Near West Side, Lincoln Park, Lake View, ...
BUSY_AREAS = {8: 0.28, 32: 0.22, 28: 0.1, 7: 0.06, 6: 0.06, 24: 0.04, 33: 0.04, 3: 0.03}
# How likely each payment type is to record a big tip (cash tips are rarely recorded).
TIP_PROPENSITY = {
    "Credit Card": 0.6,
    "Mobile": 0.5,
    "Prcard": 0.2,
    "Cash": -3.5,
    "No Charge": -4.0,
    "Unknown": -2.0,
}


@dataclass(frozen=True)
class TaxiConfig:
    rows: int = 50_000
    seed: int = 0
    payment_mix: dict[str, float] = field(default_factory=lambda: dict(PAYMENT_MIX))
    airport_share: float = 0.0
    new_company_share: float = 0.0
    fare_shift: float = 1.0
    missing_share: float = 0.02

    def __post_init__(self) -> None:
        unknown = sorted(set(self.payment_mix) - set(PAYMENT_MIX))
        if unknown:
            raise ValueError(
                f"payment_mix: unknown payment types {unknown}; known: {list(PAYMENT_MIX)}"
            )
        for name in ("airport_share", "new_company_share", "missing_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name}: expected a share between 0 and 1, got {getattr(self, name)}"
                )
        if self.rows <= 0 or self.fare_shift <= 0:
            raise ValueError("rows and fare_shift must be positive")


def _areas(rng: np.random.Generator, n: int) -> np.ndarray:
    ids = np.arange(1, 78)
    weights = np.full(77, 0.0)
    for area, w in BUSY_AREAS.items():
        weights[area - 1] = w
    rest = [i for i in range(77) if weights[i] == 0 and i + 1 not in (OHARE, 56)]
    weights[rest] = (1 - weights.sum()) / len(rest)
    return rng.choice(ids, size=n, p=weights)


def _hours(rng: np.random.Generator, n: int) -> np.ndarray:
    profile = np.array(
        [3, 2, 1.5, 1, 1, 1.5, 3, 5, 6, 5, 4.5, 5, 5.5, 5.5, 5.5, 6, 7, 7.5, 7, 6, 5, 4.5, 4, 3.5]
    )
    return rng.choice(24, size=n, p=profile / profile.sum())


def generate_taxi_trips(config: TaxiConfig = TaxiConfig()) -> pd.DataFrame:
    """Generate ``config.rows`` trips; the same config always gives the same frame."""
    rng = np.random.default_rng(config.seed)
    n = config.rows
    airport = rng.random(n) < config.airport_share
    hour = _hours(rng, n)
    weekday = rng.integers(1, 8, n)
    month = rng.integers(1, 13, n)
    pickup = _areas(rng, n)
    pickup[airport] = OHARE
    dropoff = _areas(rng, n)

    miles = np.round(np.exp(rng.normal(0.9, 0.8, n)), 2)
    miles[airport] = np.round(rng.normal(17.0, 2.5, airport.sum()).clip(8, 30), 2)
    rush = np.isin(hour, [7, 8, 9, 16, 17, 18])
    mph = np.where(rush, 11.0, 17.0) * rng.lognormal(0, 0.25, n)
    seconds = np.round(miles / mph * 3600 + rng.normal(120, 40, n).clip(30)).astype(np.int64)
    fare = 3.25 + 2.25 * miles + 0.2 * seconds / 60 + rng.normal(0, 0.8, n).clip(-2, 2)
    fare = np.round(np.maximum(fare, 3.25) * config.fare_shift * 4) / 4

    mix = np.array([config.payment_mix.get(p, 0.0) for p in PAYMENT_MIX])
    payment = rng.choice(list(PAYMENT_MIX), size=n, p=mix / mix.sum())
    company = rng.choice(COMPANIES, size=n, p=_zipf(len(COMPANIES)))
    company = company.astype(object)
    company[rng.random(n) < config.new_company_share] = NEW_COMPANY

    # Big tips: likelier by card, at night, on short trips and with a few companies.
    logit = (
        np.vectorize(TIP_PROPENSITY.get)(payment)
        + 0.6 * ((hour >= 20) | (hour <= 3))
        - 0.08 * np.minimum(miles, 15)
        + 0.4 * np.isin(company, COMPANIES[:3])
        + 0.4 * np.isin(pickup, [8, 32])
        - 0.3 * airport
    )
    big = rng.random(n) < 1 / (1 + np.exp(-logit))
    rate = np.where(big, rng.uniform(0.205, 0.3, n), rng.uniform(0.0, 0.19, n))
    tips = np.round(fare * rate * (payment != "Cash"), 2)

    frame = pd.DataFrame(
        {
            "trip_id": [f"{config.seed:04x}-{i:09d}" for i in range(n)],
            "trip_miles": miles,
            "trip_seconds": seconds,
            "fare": fare,
            "pickup_community_area": pickup.astype(float),
            "dropoff_community_area": dropoff.astype(float),
            "trip_start_hour": hour,
            "trip_start_day": weekday,
            "trip_start_month": month,
            "payment_type": payment,
            "company": company,
            "tips": tips,
        }
    )
    # Trips that start or end outside the city have no community area; some lack a company.
    for column in ("pickup_community_area", "dropoff_community_area", "company"):
        frame.loc[rng.random(n) < config.missing_share, column] = None
    frame["big_tipper"] = (frame["tips"] > 0.2 * frame["fare"]).astype(np.int64)
    return frame


def _zipf(k: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, k + 1) ** 0.9
    return weights / weights.sum()


def write_dataset(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as Parquet or CSV (by extension), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        raise ValueError(f"{path}: expected a .parquet or .csv file name")
    tmp.replace(path)
    return path
