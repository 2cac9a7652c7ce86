"""`git http-backend` as a CGI program run by the app server: smart-HTTP clone, fetch and push.

The request body is piped in as it arrives, and the answer is handed on chunk by chunk as
git writes it, so hook output (the build log) reaches the pusher live.
"""

import asyncio
import contextlib
import logging
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO

from anyio import to_thread

from controller.domain.git_records import FileOwner
from controller.services.git_ports import CgiResponse

CHUNK_BYTES = 64 * 1024
HEADER_LIMIT = 64 * 1024
logger = logging.getLogger(__name__)


class GitHttpBackend:
    """Runs one `git http-backend` per request, as the git user when the controller is root."""

    def __init__(self, *, project_root: Path, owner: FileOwner | None, home: Path | None) -> None:
        self._project_root = project_root
        self._owner = owner
        self._home = home

    async def run(
        self,
        *,
        method: str,
        path_info: str,
        query: str,
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        remote_user: str,
        remote_addr: str,
        extra_env: Mapping[str, str],
    ) -> CgiResponse:
        """Start git, feed it `body` in the background and return once its headers are in.

        `headers` must have lowercase names.
        """
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self._home or self._project_root),
            "GIT_PROJECT_ROOT": str(self._project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": method,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "REMOTE_USER": remote_user,
            "REMOTE_ADDR": remote_addr,
            "CONTENT_TYPE": headers.get("content-type", ""),
            **extra_env,
        }
        if "content-length" in headers:
            env["CONTENT_LENGTH"] = headers["content-length"]
        passed = (("content-encoding", "HTTP_CONTENT_ENCODING"), ("git-protocol", "GIT_PROTOCOL"))
        for header, variable in passed:
            if header in headers:
                env[variable] = headers[header]
        process = subprocess.Popen(
            ["git", "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=self._project_root,
            user=self._owner.uid if self._owner else None,
            group=self._owner.gid if self._owner else None,
            extra_groups=[] if self._owner else None,
        )
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        threading.Thread(target=_log_stderr, args=(process.stderr,), daemon=True).start()
        feeder = asyncio.get_running_loop().create_task(_feed(process, body))
        try:
            status, response_headers, rest = await to_thread.run_sync(_read_headers, process.stdout)
            # The whole request body goes in before the answer streams: git's stateless protocol
            # reads all of it before writing more than headers, and the server's response
            # machinery must not race this for the request's messages.
            await feeder
        except BaseException:
            process.kill()
            feeder.cancel()
            raise
        return CgiResponse(status=status, headers=response_headers, body=_stream(process, rest))


async def _feed(process: subprocess.Popen[bytes], body: AsyncIterator[bytes]) -> None:
    """Copy the request body into git's stdin, then close it."""
    stdin = process.stdin
    assert stdin is not None
    try:
        async for chunk in body:
            if chunk:
                await to_thread.run_sync(stdin.write, chunk)
    except OSError:
        pass  # git stopped reading: its answer says why
    finally:
        with contextlib.suppress(OSError):
            await to_thread.run_sync(stdin.close)


def _read_headers(stdout: IO[bytes]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Read the CGI header block; returns (status, headers, body bytes read past it)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer and b"\n\n" not in buffer:
        chunk = os.read(stdout.fileno(), CHUNK_BYTES)
        if not chunk:
            break
        buffer += chunk
        if len(buffer) > HEADER_LIMIT:
            break
    separator = b"\r\n\r\n" if b"\r\n\r\n" in buffer else b"\n\n"
    head, _, rest = buffer.partition(separator)
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if name.strip().lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers.append((name.strip(), value.strip()))
    if not head:
        status = 502
    return status, headers, rest


async def _stream(process: subprocess.Popen[bytes], first: bytes) -> AsyncIterator[bytes]:
    stdout = process.stdout
    assert stdout is not None
    try:
        if first:
            yield first
        while True:
            chunk = await to_thread.run_sync(os.read, stdout.fileno(), CHUNK_BYTES)
            if not chunk:
                break
            yield chunk
    finally:
        if process.poll() is None:
            await to_thread.run_sync(_finish, process)
        stdout.close()


def _finish(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _log_stderr(stream: IO[bytes]) -> None:
    for line in stream:
        logger.info("git http-backend: %s", line.decode(errors="replace").rstrip())
    stream.close()
