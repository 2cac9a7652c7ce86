"""Which images retention keeps: the last N distinct images, and the current release's."""

from datetime import UTC, datetime

from controller.domain.models import Release
from controller.domain.retention import kept_images


def _releases(*images: str) -> list[Release]:
    """Releases numbered 1.. with these images, returned newest first (as the store lists them)."""
    made = [
        Release(
            app="web",
            number=number,
            image_id=image,
            source_digest="d",
            config={},
            port=8080,
            healthchecks=(),
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            deploy_id=f"d{number}",
        )
        for number, image in enumerate(images, start=1)
    ]
    return made[::-1]


def test_config_only_releases_do_not_count_against_retention() -> None:
    # Two builds, then five config changes on the second build's image.
    releases = _releases("a", "b", "b", "b", "b", "b", "b")
    assert kept_images(releases, keep=5, current=7) == {"a", "b"}
    assert kept_images(releases, keep=1, current=7) == {"b"}


def test_the_last_n_distinct_images_and_the_current_one() -> None:
    releases = _releases("a", "b", "c", "c", "d")
    assert kept_images(releases, keep=2, current=5) == {"d", "c"}
    assert kept_images(releases, keep=2, current=1) == {"d", "c", "a"}  # rolled back to v1
    assert kept_images([], keep=2, current=None) == set()
