"""Reading deploys: one deploy, the latest ones (of an app, or of all apps)."""

from controller.domain.models import Deploy
from controller.domain.names import validate_app_name
from controller.services.ports import Store


class DeployHistory:
    """The read side of deploys, for the API's lists and details (no queue, no pipeline)."""

    def __init__(self, *, store: Store) -> None:
        self._store = store

    def get(self, deploy_id: str) -> Deploy:
        """Raises NotFound."""
        return self._store.get_deploy(deploy_id)

    def recent(self, *, limit: int) -> list[Deploy]:
        """The newest `limit` deploys of every app, newest first."""
        return self._store.list_deploys(None, limit=limit)

    def last_of_each_app(self) -> dict[str, Deploy]:
        """Each app's newest deploy, by app name, in one read (the dashboard's column)."""
        return self._store.last_deploys()

    def of_app(self, app: str, *, limit: int) -> list[Deploy]:
        """The newest `limit` deploys of `app`, newest first.

        Raises:
            InvalidInput: not an app name.
            NotFound: no such app.
        """
        self._store.get_app(validate_app_name(app))
        return self._store.list_deploys(app, limit=limit)
