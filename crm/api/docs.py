"""OpenAPI documentation helpers shared by the API modules."""


def errors(bp, *codes):
    """Document the error answers of an operation on ``bp`` (all share ErrorSchema)."""

    def decorator(view):
        for code in codes:
            view = bp.alt_response(code, schema="ErrorSchema", description="Error")(view)
        return view

    return decorator
