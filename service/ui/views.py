from flask import Blueprint

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")
