"""API keys: created (shown once), listed and revoked by admins."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..store.schema import ROLES
from .runtime import actor, current_store

blp = Blueprint("keys", __name__, url_prefix="/v1", description="API keys and their roles (admins only).")


class KeyInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class KeySchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The key's public start, to tell keys apart."})
    created_at = fields.String(required=True)
    last_used_at = fields.String(allow_none=True, required=True, metadata={"description": "To the minute."})
    revoked_at = fields.String(allow_none=True, required=True)


class NewKeySchema(KeySchema):
    key = fields.String(required=True, metadata={"description": "The key itself: shown this once, never again."})


class KeyListSchema(Schema):
    items = fields.List(fields.Nested(KeySchema), required=True)


@blp.route("/keys")
class Keys(MethodView):
    @blp.response(200, KeyListSchema)
    def get(self):
        """Every key (never the keys themselves)."""
        return jsonify(items=current_store().api_keys())

    @blp.arguments(KeyInSchema)
    @blp.response(201, NewKeySchema)
    @blp.alt_response(409, description="A key with this name exists")
    def post(self, body: dict[str, Any]):
        """Create a key; the response is the only time the key is shown."""
        record, key = current_store().create_key(body["name"], body["role"], actor=actor())
        return jsonify({**record, "key": key}), 201


@blp.route("/keys/<int:key_id>")
class KeyItem(MethodView):
    @blp.response(200, KeySchema)
    @blp.alt_response(404, description="No such key")
    def delete(self, key_id: int):
        """Revoke a key; the next request with it is refused."""
        return jsonify(current_store().revoke_key(key_id, actor=actor()))
