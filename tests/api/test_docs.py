"""/api/docs works on a server without internet access: every asset it loads comes from the controller."""

import re
from pathlib import Path

from fastapi.testclient import TestClient

from controller.api.app import create_app
from controller.settings import Settings


def test_api_docs_load_only_same_origin_assets(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path)))  # no lifespan: no services needed

    page = client.get("/api/docs")

    assert page.status_code == 200
    assert "swagger-ui" in page.text
    assert "://" not in page.text, "the page names another origin"
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""", page.text)
    referenced = {first or second for first, second in urls}
    assets = {"/api/docs/assets/swagger-ui-bundle.js", "/api/docs/assets/swagger-ui.css"}
    assert {"/openapi.json", *assets} <= referenced
    for url in referenced:
        assert url.startswith("/"), url
        if url != "/openapi.json":  # the schema needs the services' routes only, but answers anyway
            response = client.get(url)
            assert response.status_code == 200 and response.content, url
    assert client.get("/openapi.json").json()["info"]["title"] == "Dockyard"
