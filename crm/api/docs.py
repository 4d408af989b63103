"""OpenAPI documentation helpers shared by the API modules."""

from apispec import BasePlugin

from crm.api.schemas import ErrorSchema
from crm.leads.colour import COLOURS
from crm.leads.models import KEY_LEVELS, OWNERSHIPS, SOURCES
from crm.leads.pipeline import LOST_REASONS, ORDERED_STAGES, STAGES
from crm.visits.models import KINDS as VISIT_KINDS

#: Every operation needs a token and is rate limited.
ALWAYS = (401, 429)

DESCRIPTIONS = {
    400: "Malformed request (not JSON, or not an object)",
    401: "No token, or a bad one",
    403: "The user's role forbids it",
    404: "Absent, or outside the user's sight",
    409: "Edited by someone else since the version read (a visit: its `client_id` is taken)",
    413: "Request body too large",
    422: "Invalid values; `fields` names each one",
    429: "Too many requests; retry after `Retry-After` seconds",
}

RETRY_AFTER = {"Retry-After": {
    "description": "Seconds until requests are accepted again",
    "schema": {"type": "integer", "minimum": 1},
    "required": True,
}}


def errors(bp, *codes):
    """Document the error answers of an operation on ``bp`` (all share ``Error``)."""

    def decorator(view):
        for code in sorted({*codes, *ALWAYS}):
            headers = RETRY_AFTER if code == 429 else None
            view = bp.alt_response(code, schema=ErrorSchema, description=DESCRIPTIONS[code],
                                   headers=headers)(view)
        return view

    return decorator


#: The error answers of a call that writes from a JSON body.
WRITE_ERRORS = (400, 403, 404, 409, 413, 422)


def json_write(bp, body, answer, status: int = 200, codes=WRITE_ERRORS, location: str = "json"):
    """A call that writes from a ``body`` (JSON, or ``location="files"``) and answers ``answer``
    with ``status``: the arguments, the answer and the error ``codes``, documented on ``bp`` in
    one decorator."""

    def decorator(view):
        view = errors(bp, *codes)(view)
        return bp.arguments(body, location=location)(bp.response(status, answer)(view))

    return decorator


def json_read(bp, query, answer, codes=(422,)):
    """A call that reads with ``query`` arguments and answers ``answer`` with 200: the arguments,
    the answer and the error ``codes``, documented on ``bp`` in one decorator."""

    def decorator(view):
        view = errors(bp, *codes)(view)
        return bp.arguments(query, location="query")(bp.response(200, answer)(view))

    return decorator


# --- what generated clients are made from: operation ids, tags, enums -------------------------

#: Operations named for what they do rather than by the rule below.
OPERATION_IDS = {
    ("post", "/leads/{lead_id}/transitions"): "move_lead",
    ("post", "/leads/{lead_id}/visits"): "log_visit",
    ("post", "/leads/{lead_id}/funds"): "add_funds",
    ("post", "/leads/{lead_id}/attachments"): "upload_attachment",
    ("post", "/claims/{claim_id}/evidence"): "add_claim_evidence",
    ("put", "/targets/{township_id}/{year}"): "set_targets",
    ("get", "/stats/townships"): "get_township_stats",
}
#: The API's root, left out of the names.
PREFIX = "/api/v1"
_IRREGULAR = {"stats": "stats", "evidence": "evidence", "supervision": "supervision",
              "me": "me", "funds": "funds"}


def singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def operation_id(method: str, path: str, methods) -> str:
    """``list_leads``, ``create_lead``, ``get_lead``, ``update_lead``, ``list_lead_visits``,
    ``review_claim`` …: by the method and the path (``OPERATION_IDS`` names the exceptions).

    A static segment after an id on which only POST is defined is an action: its name is the
    verb (``/claims/{id}/review`` → ``review_claim``). A collection is listed and created; an
    item is got, updated (PATCH), set (PUT) and deleted.
    """
    path = path.removeprefix(PREFIX)
    if (method, path) in OPERATION_IDS:
        return OPERATION_IDS[(method, path)]
    parts = [p for p in path.strip("/").split("/") if p]
    statics = [p.replace("-", "_") for p in parts if not p.startswith("{")]
    item = parts[-1].startswith("{")
    last = statics[-1]
    parents = [singular(p) for p in statics[:-1]]
    if not item and method == "post" and len(parts) > 1 and parts[-2].startswith("{") \
            and set(methods) == {"post"} and singular(last) == last:
        return "_".join([last, *parents])  # an action: review_claim, close_supervision
    if item:
        verb = {"get": "get", "patch": "update", "put": "set", "delete": "delete"}[method]
        return "_".join([verb, *parents, singular(last)])
    if method == "get":
        return "_".join(["list" if singular(last) != last else "get", *parents, last])
    verb = {"post": "create", "put": "set", "patch": "update", "delete": "delete"}[method]
    return "_".join([verb, *parents, singular(last)])


def tag(name: str) -> str:
    """A blueprint's tag as clients show it: ``api_leads`` → ``leads``."""
    return name.removeprefix("api_")


#: Enums of the domain as schemas of their own (one class in a generated client, wherever used):
#: a field whose choices are exactly one of these sets refers to it.
NAMED_ENUMS = {
    "Stage": STAGES,
    "OpenStage": ORDERED_STAGES,
    "Source": SOURCES,
    "LostReason": LOST_REASONS,
    "Color": COLOURS,
    "VisitKind": VISIT_KINDS,
    "KeyLevel": KEY_LEVELS,
    "Ownership": OWNERSHIPS,
}
_BY_VALUES = {frozenset(values): name for name, values in NAMED_ENUMS.items()}


def named_enum(self, field, ret, **kwargs) -> dict:
    """An enum field of the spec: a reference to its named enum where it has one, and for a
    nullable one ``nullable: true`` beside it, never ``null`` among the values (which
    generators turn into one more class per use). An attribute function of apispec's
    converter (``self``), run after its own."""
    if "enum" not in ret:
        return {}
    values = [value for value in ret["enum"] if value is not None]
    name = _BY_VALUES.get(frozenset(values))
    if name is None:
        return {"enum": values}
    components = self.spec.components
    if name not in components.schemas:
        components.schema(name, {"type": "string", "enum": list(NAMED_ENUMS[name])})
    ret.pop("enum")
    ret.pop("type", None)
    # OpenAPI 3.0 ignores a sibling of "$ref": allOf keeps "nullable" and the description.
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}


class ClientPlugin(BasePlugin):
    """Each operation gets its ``operationId`` (unique, by ``operation_id``) and tags without
    the blueprints' ``api_`` prefix, as the paths are added to the document."""

    def __init__(self):
        super().__init__()
        self.seen: dict[str, tuple[str, str]] = {}

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict):
                continue
            name = operation.setdefault("operationId", operation_id(method, path, operations))
            if self.seen.setdefault(name, (method, path)) != (method, path):
                raise ValueError(f"operationId {name} of {method} {path} is taken by "
                                 f"{self.seen[name]}: name it in OPERATION_IDS")
            operation["tags"] = [tag(t) for t in operation.get("tags", [])]
