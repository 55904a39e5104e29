"""How the command line reports a user mistake: one line on stderr naming the cause and the fix, and an exit status.

2 is for usage and configuration mistakes (argparse's own convention), 1 for failures on the server's side.
Anything not listed here is a bug, and keeps its traceback.
"""

from __future__ import annotations

from botocore.exceptions import NoCredentialsError, NoRegionError

from ..backends.factory import is_loopback
from ..errors import ConfigurationError, SessionStoreError, StoreUnavailableError
from .local import LocalServerError

__all__ = ["FAILURE", "USAGE", "CliError", "check_endpoint", "report"]

USAGE = 2
FAILURE = 1

NO_REGION = "no AWS region: pass --region or set AWS_DEFAULT_REGION"


class CliError(Exception):
    """A mistake the command line reports in one line (its message) with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_endpoint(endpoint_url: str | None, source: str) -> None:
    """Refuse an endpoint without ``http://`` or ``https://`` (botocore's own error is a raw ValueError).

    ``source`` is how the user gave it: ``"--endpoint-url"`` or ``"DYNAMODB_ENDPOINT"``."""
    if endpoint_url is None or endpoint_url.startswith(("http://", "https://")):
        return
    if "://" in endpoint_url:
        fixed = "http://" + endpoint_url.split("://", 1)[1]
        cause = f"endpoint {endpoint_url} has an unsupported scheme: use http:// or https://"
    else:
        fixed = "http://" + endpoint_url
        cause = f"endpoint {endpoint_url} has no scheme: add http:// or https://"
    usage = f"--endpoint-url {fixed}" if source == "--endpoint-url" else f"{source}={fixed}"
    raise CliError(f"{cause}: {usage}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report(exc: BaseException, *, endpoint_url: str | None = None) -> tuple[str, int] | None:
    """The one line and exit status for a user mistake, or None for anything else (a bug: let it propagate)."""
    cause = exc.__cause__
    if isinstance(exc, NoRegionError) or isinstance(cause, NoRegionError):
        return NO_REGION, USAGE
    if isinstance(exc, NoCredentialsError):
        where = endpoint_url or "the AWS regional endpoint"
        return (
            f"no AWS credentials for DynamoDB at {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE",
            USAGE,
        )
    if isinstance(exc, CliError):
        return _one_line(str(exc)), exc.exit_code
    if isinstance(exc, ConfigurationError):
        return _one_line(str(exc)), USAGE
    if isinstance(exc, StoreUnavailableError):
        line = _one_line(str(exc))
        if is_loopback(endpoint_url) and "unreachable" in line:
            port = endpoint_url.rsplit(":", 1)[-1].split("/", 1)[0] if endpoint_url else ""
            port_option = f" --port {port}" if port.isdigit() else ""
            line += f" To start one: python -m tornado_dynasession local{port_option}"
        return line, FAILURE
    if isinstance(exc, SessionStoreError):
        return _one_line(str(exc)), FAILURE
    if isinstance(exc, LocalServerError):
        return _one_line(str(exc)), FAILURE
    return None
