"""The OpenAPI description of errors: every error is an RFC 9457 problem, and the spec says so.

flask-smorest documents errors as `application/json` with its own `Error` schema; our responses
are `application/problem+json` (see ``service.errors``), so a client generated from the spec, or
a fuzzer checking responses against it, would be told the wrong shape.
"""

from __future__ import annotations

import http
from typing import Any

from apispec import BasePlugin
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields

PROBLEM_TYPE = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class ProblemSchema(Schema):
    """RFC 9457 problem details; some problems add members (`errors`, `limit`, `current_version`...)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(allow_none=True)
    request_id = fields.String()


class ProblemResponses(BasePlugin):
    """Give every documented error response (4xx, 5xx) the problem schema and content type."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **_: Any) -> None:
        for operation in (operations or {}).values():
            for status, response in operation.get("responses", {}).items():
                if (status == "default" or str(status)[0] in "45") and isinstance(response, dict) \
                        and "$ref" not in response and "content" not in response:
                    response["content"] = {PROBLEM_TYPE: {"schema": _PROBLEM_REF}}


class ProblemApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # flask-smorest's own, with the problem content type (its version hard-codes application/json).
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as RFC 9457 problem details", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)
