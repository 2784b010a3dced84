"""What the service refuses, and with which HTTP status: the :class:`ServiceError` family.

Domain code (access, quotas, billing, identity, structures, idempotency...) raises
these and knows nothing of HTTP beyond the status number; one handler
(:func:`matfold_services.errors.install`) turns every one of them into the answer
``{"detail": message}`` with its :attr:`~ServiceError.status`, plus ``Retry-After``
(seconds) when the error says when to try again. Routes do not catch and translate.

The subclasses name what happened, so a caller (or a test) can catch by meaning:

====================  ======  ===============================================
class                 status  meaning
====================  ======  ===============================================
:class:`Invalid`        422   the request's content breaks a rule the message names
:class:`Unauthorized`   401   no usable identity (no token, a revoked one...)
:class:`Forbidden`      403   a member whose role is too weak
:class:`NotFound`       404   no such thing, or not visible to the caller
:class:`Conflict`       409   the current state forbids it (or it is changing)
:class:`Unavailable`    503   something the service needs is away; retry later
====================  ======  ===============================================

Errors whose status depends on the case keep the two-argument form
``ServiceError(status, message)`` (e.g. :class:`~matfold_services.billing.BillingError`).
"""

from __future__ import annotations

__all__ = ["ServiceError", "Invalid", "Unauthorized", "Forbidden", "NotFound", "Conflict", "Unavailable"]


class ServiceError(Exception):
    """A request the service refuses: HTTP `status`, a one-line `message` saying what to do.

    Parameters
    ----------
    status : int
        The HTTP status of the answer (4xx for the caller's doing, 5xx for the service's).
    message : str
        The answer's ``detail``: what went wrong and what to do about it.
    retry_after : int, optional
        Seconds after which a retry may succeed; sent as ``Retry-After``.
    """

    def __init__(self, status: int, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.detail = message
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str] | None:
        """The answer's extra headers (``Retry-After`` when set), or None."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else None


class _Fixed(ServiceError):
    """A ServiceError whose status is its class's."""

    status: int

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(type(self).status, message, retry_after=retry_after)


class Invalid(_Fixed):
    """The request's content breaks a rule (422)."""

    status = 422


class Unauthorized(_Fixed):
    """The caller cannot be identified (401)."""

    status = 401


class Forbidden(_Fixed):
    """The caller is known but may not do this (403)."""

    status = 403


class NotFound(_Fixed):
    """No such thing, or the caller may not know it exists (404)."""

    status = 404


class Conflict(_Fixed):
    """The current state forbids the request, or is changing under it (409)."""

    status = 409


class Unavailable(_Fixed):
    """Something the service needs (database, hub, Stripe's settings) is away (503)."""

    status = 503
