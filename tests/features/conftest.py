"""Fixtures and step definitions for the Gherkin features (``features/*.feature``).

The step definitions live in ``steps/``, one module per feature file and ``common.py`` for those
several share; pytest-bdd keeps each step as a fixture in the module that defines it, so they are
brought in here to serve every test module in this directory.
"""

from __future__ import annotations

from .steps import (
    common,
    gallrade_uppgifter,
    gallring,
    initiering,
    integritet,
    kallelse,
    planen,
    rattelser,
    samtycke,
    uppfoljning_och_avslut,
)


def _step_fixtures() -> dict[str, object]:
    """Every module's step definitions, by fixture name. pytest-bdd names a step's fixture after
    its type and text, so one step defined in two modules would leave one of them unused:
    refused here rather than silently dropped."""
    found: dict[str, object] = {}
    for module in (common, gallrade_uppgifter, gallring, initiering, integritet, kallelse, planen,
                   rattelser, samtycke, uppfoljning_och_avslut):
        for name, value in vars(module).items():
            if name.startswith("pytestbdd_"):
                if name in found:
                    raise RuntimeError(f"{module.__name__} defines a step defined already: {name}")
                found[name] = value
    return found


# Every step definition and the ``sip``, ``retention``, ``tjansten`` and ``gallrat`` fixtures, as
# fixtures of this conftest.
globals().update(_step_fixtures())
sip = common.sip
retention = gallring.retention
tjansten = gallrade_uppgifter.tjansten
gallrat = gallrade_uppgifter.gallrat


def pytest_configure(config) -> None:
    """Register the rule ids that tag the scenarios (``@R07``), as --strict-markers asks."""
    for n in range(1, 36):
        config.addinivalue_line("markers", f"R{n:02d}: scenario for rule R{n:02d} of DOMAIN.md")
