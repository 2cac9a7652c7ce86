"""Pure rules on the core records."""

from controller.domain.models import config_after


def test_config_after_a_change() -> None:
    previous = {"A": "1", "B": "2"}
    assert config_after(previous, set_={"A": "1"}, unset=["NOPE"]) == previous  # nothing changes
    assert config_after(previous, set_={"C": "3"}, unset=["A"]) == {"B": "2", "C": "3"}
    assert config_after(previous, set_={"A": "9"}, unset=["A"]) == {"A": "9", "B": "2"}  # set wins
