"""The labelled Dockerfile: one LABEL line appended, or None where appending is not safe."""

from pathlib import Path

from controller.adapters.docker.context import LABELLED_DOCKERFILE, labelled_context, labelled_dockerfile

LABELS = {"io.dockyard.managed": "true", "io.dockyard.app": "web", "io.dockyard.deploy": "0a1b2c"}


def test_one_label_line_with_every_label_is_appended() -> None:
    result = labelled_dockerfile('FROM scratch\nCMD ["x"]', LABELS)
    assert result == (
        'FROM scratch\nCMD ["x"]\n'
        'LABEL io.dockyard.app="web" io.dockyard.deploy="0a1b2c" io.dockyard.managed="true"\n'
    )


def test_a_last_instruction_continued_on_the_next_line_is_left_to_the_builder() -> None:
    assert labelled_dockerfile("FROM scratch\nRUN echo \\\n", LABELS) is None
    assert labelled_dockerfile("FROM scratch\nRUN echo \\\n  # a comment\n\n", LABELS) is None
    assert labelled_dockerfile("# escape=`\nFROM scratch\nRUN echo `\n", LABELS) is None
    # with backtick as the escape character a trailing backslash is plain text
    assert labelled_dockerfile("# escape=`\nFROM scratch\nRUN echo \\\n", LABELS) is not None


def test_labels_that_need_quoting_are_left_to_the_builder() -> None:
    assert labelled_dockerfile("FROM scratch\n", {"io.dockyard.app": 'a" b'}) is None
    assert labelled_dockerfile("FROM scratch\n", {"io dockyard": "x"}) is None
    assert labelled_dockerfile("FROM scratch\n", {}) is None


def test_contexts_it_cannot_label_safely_are_left_to_the_builder(tmp_path: Path) -> None:
    assert labelled_context(tmp_path, LABELS) is None  # no Dockerfile
    (tmp_path / "Dockerfile").write_bytes(b"FROM scratch\nLABEL x=\xff\n")
    assert labelled_context(tmp_path, LABELS) is None  # not UTF-8
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / LABELLED_DOCKERFILE).write_text("the app's own file")
    assert labelled_context(tmp_path, LABELS) is None  # its name is taken
    (tmp_path / LABELLED_DOCKERFILE).unlink()
    (tmp_path / ".dockerignore").mkdir()
    assert labelled_context(tmp_path, LABELS) is None  # .dockerignore is a directory
    (tmp_path / ".dockerignore").rmdir()
    archive = labelled_context(tmp_path, LABELS)
    assert archive is not None
    archive.close()
