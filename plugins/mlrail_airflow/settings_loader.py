"""Load ``airflow_settings.yaml`` (Astro CLI format) into the current Airflow home.

Plain Airflow does not read that file, so ``make`` runs this after ``airflow db migrate``:

    python -m mlrail_airflow.settings_loader airflow_settings.yaml

``${VAR}`` in values is expanded by the same rule as pipeline specs (mlrail.spec.expand):
an unset variable is an error naming the file and the key, ``${VAR:-default}`` gives a
default.
Existing connections, variables and pools with the same names are replaced, so running it
again is safe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from mlrail.spec.expand import UnsetVariable, expand


def read_settings(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    section = raw.get("airflow") or {}
    unknown = sorted(set(section) - {"connections", "pools", "variables"})
    if unknown:
        raise ValueError(
            f"{path}: unknown section(s) airflow.{unknown}; expected connections, pools, variables"
        )
    try:
        return {
            key: expand(section.get(key) or [], f"airflow.{key}")
            for key in ("connections", "pools", "variables")
        }
    except UnsetVariable as err:
        raise ValueError(f"{path}: {err}") from None


def load(path: str | Path) -> dict[str, int]:
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    settings = read_settings(path)
    with create_session() as session:
        for item in settings["connections"]:
            extra = item.get("conn_extra")
            session.query(Connection).filter(Connection.conn_id == item["conn_id"]).delete()
            session.add(
                Connection(
                    conn_id=item["conn_id"],
                    conn_type=item.get("conn_type") or "generic",
                    host=item.get("conn_host"),
                    schema=item.get("conn_schema"),
                    login=item.get("conn_login"),
                    password=item.get("conn_password"),
                    port=item.get("conn_port"),
                    extra=json.dumps(extra) if isinstance(extra, dict) else extra,
                )
            )
        for item in settings["pools"]:
            Pool.create_or_update_pool(
                item["pool_name"],
                int(item["pool_slot"]),
                item.get("pool_description") or "",
                False,
                session=session,
            )
        for item in settings["variables"]:
            Variable.set(item["variable_name"], item["variable_value"], session=session)
    return {key: len(items) for key, items in settings.items()}


if __name__ == "__main__":
    counts = load(sys.argv[1] if len(sys.argv) > 1 else "airflow_settings.yaml")
    print("loaded " + ", ".join(f"{n} {k}" for k, n in counts.items()))
