"""Container specs are pure data: labels, names, env and the port rule."""

from controller.domain.containers import (
    LABEL_APP,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_RELEASE,
    choose_port,
    web_container_spec,
)


def test_port_rule_config_then_expose_then_5000() -> None:
    assert choose_port({"PORT": "3000"}, (8080,)) == 3000
    assert choose_port({}, (9000, 8080)) == 8080
    assert choose_port({"PORT": "nonsense"}, (8080,)) == 8080
    assert choose_port({}, ()) == 5000


def test_web_spec_is_labelled_and_gets_port() -> None:
    spec = web_container_spec(
        instance="abc",
        app="web",
        release=3,
        deploy_id="0123456789abcdef",
        index=1,
        image_id="sha256:x",
        config={"PORT": "1", "A": "b"},
        port=8080,
        network="dockyard",
    )
    assert spec.labels[LABEL_MANAGED] == "true"
    assert spec.labels[LABEL_INSTANCE] == "abc"
    assert spec.labels[LABEL_APP] == "web"
    assert spec.labels[LABEL_RELEASE] == "3"
    assert spec.env["PORT"] == "8080"
    assert spec.env["A"] == "b"
    assert spec.init is True
    assert spec.name == "dockyard-abc-web-web-3-1-01234567"
