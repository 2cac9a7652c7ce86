"""Which release images to keep: the rule behind image pruning and rollback. Pure."""

from collections.abc import Sequence

from controller.domain.models import Release


def kept_images(releases: Sequence[Release], *, keep: int, current: int | None) -> set[str]:
    """The images of the last `keep` distinct images among `releases` (newest first), plus
    the current release's.

    Counting images, not releases: a config change makes a release that reuses the
    current image, and must not push the builds before it out of retention.
    Every release whose image is kept stays a rollback target.
    """
    kept: set[str] = set()
    for release in releases:
        if len(kept) >= keep:
            break
        kept.add(release.image_id)
    kept |= {release.image_id for release in releases if release.number == current}
    return kept
