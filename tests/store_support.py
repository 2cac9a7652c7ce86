"""Helpers of the tests that put rows straight into a store: one deploy at a time."""

from typing import Any

from controller.domain.models import Deploy
from controller.services.ports import Store


def create_deploy(store: Store, deploy: Deploy, params: dict[str, Any] | None = None) -> None:
    """Store one deploy through the batch API the controller uses; raise its error, if any."""
    (error,) = store.create_deploys([(deploy, params or {})])
    if error is not None:
        raise error
