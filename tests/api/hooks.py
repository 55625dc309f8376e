"""Checks Schemathesis runs on every response besides its own.

Loaded by properties.py through SCHEMATHESIS_HOOKS; JILIANG_ROLE names the
caller whose cookie the run sends (a column of the authorization matrix).
"""

import json
import os
import pathlib

import schemathesis

ROLE = os.environ.get("JILIANG_ROLE", "anon")
# Written from the authorization matrix (server/tests/it/authz_matrix.rs),
# whose test fails when this file and the matrix disagree.
_DENIED = json.loads((pathlib.Path(__file__).parent / "denied.json").read_text(encoding="utf-8"))
DENIED = {(m, p) for m, p in _DENIED[ROLE]}
# One's own record is one's own to read (and edit): the matrix's denials are
# about other people's.
SELF_ID = os.environ.get("JILIANG_SELF_ID", "")


@schemathesis.check
def not_denied_by_matrix(ctx, response, case):
    """No operation answers 2xx to a role the matrix denies it to."""
    key = (case.method.upper(), case.operation.path)
    own = SELF_ID and key[1].startswith("/api/v1/users/") and \
        str((case.path_parameters or {}).get("id", "")) == SELF_ID
    if key in DENIED and 200 <= response.status_code < 300 and not own:
        raise AssertionError(
            f"{ROLE} got {response.status_code} from {key[0]} {key[1]}, "
            "which docs/AUTHORIZATION.md denies to this role"
        )
    return None


@schemathesis.check
def error_is_document(ctx, response, case):
    """Every 4xx/5xx answer is the API's error document {code, message}."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(f"{response.status_code} answer is not JSON: {e}") from e
    if not (isinstance(body, dict) and isinstance(body.get("code"), str)
            and isinstance(body.get("message"), str)):
        raise AssertionError(f"{response.status_code} answer is not {{code, message}}: {body!r}")
    return None
