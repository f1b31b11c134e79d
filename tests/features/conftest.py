"""Fixtures and step definitions for the Gherkin features (``features/*.feature``).

The step definitions live in ``steps.py``; pytest-bdd keeps each step as a fixture in the module
that defines it, so they are brought in here to serve every test module in this directory.
"""

from __future__ import annotations

from . import steps

# Every step definition and the ``sip`` fixture, as fixtures of this conftest.
globals().update(
    {name: value for name, value in vars(steps).items() if name.startswith("pytestbdd_")}
)
sip = steps.sip


def pytest_configure(config) -> None:
    """Register the rule ids that tag the scenarios (``@R07``), as --strict-markers asks."""
    for n in range(1, 36):
        config.addinivalue_line("markers", f"R{n:02d}: scenario for rule R{n:02d} of DOMAIN.md")
