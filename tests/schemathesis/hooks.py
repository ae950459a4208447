"""Schemathesis checks in tasksync's own terms (loaded through SCHEMATHESIS_HOOKS).

Schemathesis' built-in `not_a_server_error` judges GraphQL bodies by the
error codes of Apollo and graphql-java: an error with a `path` and a code it
does not know counts as a server failure. tasksync answers NOT_FOUND,
UNAUTHENTICATED, CONFLICT, CURSOR_EXPIRED and RATE_LIMITED that way, all of
them the caller's doing, so the built-in check is replaced by
`tasksync_not_a_server_error`, which fails on what DESIGN.md calls a server
error: a 5xx status, an error coded INTERNAL, or an error (or a body) outside
the contract.
"""

from __future__ import annotations

import json
import os

import schemathesis

# Error `extensions.code`s of DESIGN.md, less INTERNAL.
CALLER_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "BAD_USER_INPUT",
        "CONFLICT",
        "CURSOR_EXPIRED",
        "RATE_LIMITED",
    }
)


def _answers(response) -> list:
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"the body is not JSON: {response.content[:200]!r}") from None
    answers = body if isinstance(body, list) else [body]
    for answer in answers:
        if not isinstance(answer, dict) or not ({"data", "errors"} & answer.keys()):
            raise AssertionError(f"not a GraphQL answer: {str(answer)[:200]}")
    return answers


@schemathesis.check
def tasksync_not_a_server_error(ctx, response, case):
    """No 5xx, no INTERNAL error, every error with a contract code."""
    if response.status_code >= 500:
        raise AssertionError(f"status {response.status_code}: {response.content[:300]!r}")
    if response.status_code == 429:
        # A rate limit is an answer, not a failure; its body is REST-shaped.
        return None
    for answer in _answers(response):
        for error in answer.get("errors") or []:
            code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
            if code == "INTERNAL":
                raise AssertionError(f"INTERNAL error: {error}")
            if code not in CALLER_CODES:
                raise AssertionError(f"an error without a contract code: {error}")
    return None


# The other account's user and task ids (written by harness.py prepare).
_FOREIGN_FILE = os.environ.get("TASKSYNC_ST_FOREIGN")
FOREIGN = (
    tuple(line.strip() for line in open(_FOREIGN_FILE, encoding="utf-8") if line.strip()) if _FOREIGN_FILE else ()
)


# Ids the caller gave its own new lists. Lists and tasks are ids of their
# own kinds: a client may name its list with any UUID no list has, the
# value of another account's task id included, and then its answers name
# that list (its own) by that id.
OWN: set[str] = set()


def _request_text(response) -> str:
    body = getattr(getattr(response, "request", None), "body", None)
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


@schemathesis.check
def tasksync_no_foreign_data(ctx, response, case):
    """No answer names another account's user or tasks (invariant 4), even
    when asked for them by id, page token or cursor."""
    text = response.content.decode("utf-8", "replace")
    request = _request_text(response)
    if "createList" in request and '"errors"' not in text and '"data":{' in text.replace(" ", ""):
        # The server made a list of the caller's with the id it chose
        # (whether or not the answer selects the id).
        OWN.update(v for v in FOREIGN if v in request)
    for value in FOREIGN:
        if value in text and value not in OWN:
            raise AssertionError(f"the answer contains another account's {value}")
    return None
