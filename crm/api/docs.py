"""OpenAPI documentation helpers shared by the API modules."""

#: Every operation needs a token and is rate limited.
ALWAYS = (401, 429)

DESCRIPTIONS = {
    400: "Malformed request (not JSON, or not an object)",
    401: "No token, or a bad one",
    403: "The user's role forbids it",
    404: "Absent, or outside the user's sight",
    409: "Edited by someone else since the version read",
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
    """Document the error answers of an operation on ``bp`` (all share ErrorSchema)."""

    def decorator(view):
        for code in sorted({*codes, *ALWAYS}):
            headers = RETRY_AFTER if code == 429 else None
            view = bp.alt_response(code, schema="ErrorSchema", description=DESCRIPTIONS[code],
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
