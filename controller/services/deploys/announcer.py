"""Deploy state changes, told to event subscribers and to callers waiting for a deploy to end."""

import threading
import time

from controller.domain.models import Deploy
from controller.services.events import EventBus
from controller.services.ports import Store

WAIT_RECHECK = 1.0  # seconds: a waiter re-reads the deploy at least this often


class DeployAnnouncer:
    """Publishes `deploy` events and wakes `wait`ers when a deploy becomes final."""

    def __init__(self, *, store: Store, events: EventBus) -> None:
        self._store = store
        self._events = events
        self._finished = threading.Condition()

    def publish(self, deploy_or_id: Deploy | str) -> None:
        deploy = deploy_or_id if isinstance(deploy_or_id, Deploy) else self._store.get_deploy(deploy_or_id)
        if deploy.status.is_final:
            with self._finished:
                self._finished.notify_all()
        self._events.publish(
            "deploy",
            id=deploy.id,
            app=deploy.app,
            kind=deploy.kind.value,
            status=deploy.status.value,
            release=deploy.release_number,
            error=deploy.error,
        )

    def wait(self, deploy_id: str, timeout: float) -> Deploy:
        """The deploy once it is final, or as it is when `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        with self._finished:
            while True:
                deploy = self._store.get_deploy(deploy_id)
                left = deadline - time.monotonic()
                if deploy.status.is_final or left <= 0:
                    return deploy
                self._finished.wait(min(left, WAIT_RECHECK))
