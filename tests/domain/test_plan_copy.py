from domain.plan_copy import render_plan_copy
from tests.domain.test_event_roundtrip import full_life


def test_the_plan_copy_states_in_swedish_what_the_plan_says():
    case, _ = full_life()
    text = render_plan_copy(case)
    plan = case.current_plan.content
    assert text.startswith("Samordnad individuell plan (SIP)")
    assert "Kim Karlsson" in text
    assert f"version {case.current_plan.revision}" in text
    for need in plan.needs:
        assert need in text
    assert "Boendestöd två gånger i veckan: kommunen" in text
    assert "Samtalsbehandling: regionen" in text
    assert "Övergripande ansvar: Kommunen" in text
    assert f"Planen följs upp: {plan.follow_up_date.isoformat()}" in text
