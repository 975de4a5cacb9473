"""Fixtures of the browser tests of mlrail's pages; both are session-scoped and start
nothing until a test asks for them.

* ``browser``: a headless Chromium (tests/browser.py), ended at the end of the session;
* ``ui_project`` (tests/conftest.py): an Airflow project with four real training runs,
  served by a real ``airflow api-server`` with a logged-in admin
  (tests/plugins/ui_project.py).
"""

from __future__ import annotations

import pytest

from tests.browser import Browser


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    with Browser.start(tmp_path_factory.mktemp("chromium")) as started:
        yield started
