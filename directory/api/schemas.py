"""The JSON shapes of the API, for the OpenAPI document and the tests.

Hot paths answer with pre-serialised bytes of exactly these shapes (``responses.py``): FastAPI
uses the models for documentation, not to re-validate 25 results on every keystroke.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "ErrorBody",
    "ErrorPublic",
    "GsAccount",
    "GsField",
    "GsRemoval",
    "GsRemovalResult",
    "GsReport",
    "GsReportResult",
    "GsUser",
    "Health",
    "MatrixSearch",
    "MatrixUser",
    "MatrixUsers",
    "PeoplePublic",
    "PersonPublic",
    "ShareeItem",
    "ShareeValue",
    "ShareesPublic",
]


class PersonPublic(BaseModel):
    """One person as every client sees them. Never NUMEN, never a birth date."""

    id: str = Field(description="Stable person id (`persons.id`, as `directory export clusters` writes).")
    display_name: str = Field(description="Clean label: given name then usage name, `Marie Martin`.")
    subline: str = Field(description="What tells this person apart from others with the same name.")
    email: str | None = Field(description="Academic e-mail address.")
    instance: str | None = Field(description="Name of the home cloud instance.")
    cloud_id: str | None = Field(description="Federated cloud id, `userid@host` of the home instance.")


class PeoplePublic(BaseModel):
    """A search answer: the best matches first, at most 25."""

    results: list[PersonPublic]


class ErrorBody(BaseModel):
    """An error: a stable machine-readable code and a message for people."""

    code: str = Field(description="Stable code: `unauthenticated`, `forbidden`, `invalid_input`, ...")
    message: str


class ErrorPublic(BaseModel):
    """Every error answer has this shape."""

    error: ErrorBody


class Health(BaseModel):
    """``/healthz`` and ``/readyz``: open to probes, so nothing but the status."""

    status: Literal["ok", "starting"]


# -- Nextcloud Global Scale lookup server ----------------------------------------------------------


class GsField(BaseModel):
    """A lookup-server property: a value and whether it was verified."""

    value: str
    verified: int = 0


class GsUser(BaseModel):
    """A lookup-server user, as ``GET /users`` returns them."""

    federationId: str  # noqa: N815 - the lookup server's own field name
    name: GsField
    email: GsField
    userid: GsField


class GsAccount(BaseModel):
    """One account an instance reports."""

    userid: str | None = None
    cloudId: str | None = None  # noqa: N815
    email: str | None = None
    name: str | None = Field(None, description="Display name on the instance.")
    displayName: str | None = None  # noqa: N815


class GsReport(BaseModel):
    """``POST /gs/users``: an instance's accounts (list, or object keyed by cloud id as in GS)."""

    authKey: str | None = Field(None, description="Accepted instead of the Bearer header, as GS does.")  # noqa: N815
    users: list[GsAccount] | dict[str, GsAccount]


class GsReportResult(BaseModel):
    """What a report did."""

    received: int
    linked: int
    unknown: int
    ambiguous: int


class GsRemoval(BaseModel):
    """``DELETE /gs/users``: accounts an instance deleted. As GS sends it, a list of cloud ids
    (``userid@host``); the forms of ``POST /gs/users`` are accepted too."""

    authKey: str | None = Field(None, description="Accepted instead of the Bearer header, as GS does.")  # noqa: N815
    users: list[str | GsAccount] | dict[str, GsAccount]


class GsRemovalResult(BaseModel):
    """What a removal did: accounts removed, and those not recorded (never reported, or gone already)."""

    received: int
    removed: int
    absent: int


# -- Nextcloud sharees -----------------------------------------------------------------------------


class ShareeValue(BaseModel):
    """Where a share goes: type 0 (a user of the caller's instance) or 6 (federated)."""

    shareType: Literal[0, 6]  # noqa: N815
    shareWith: str  # noqa: N815
    server: str | None


class ShareeItem(BaseModel):
    """One sharee, as the share dialog renders it."""

    label: str
    subline: str
    icon: str
    value: ShareeValue
    shareWithDisplayNameUnique: str  # noqa: N815


class ShareesPublic(BaseModel):
    """The sharees ``ocs.data`` shape: exact matches apart, local users and remotes apart."""

    exact: dict[str, list[ShareeItem]]
    users: list[ShareeItem]
    remotes: list[ShareeItem]
    lookup: list[ShareeItem] = []


# -- Tchap / Matrix --------------------------------------------------------------------------------


class MatrixSearch(BaseModel):
    """The Matrix user-directory search request."""

    search_term: str
    limit: int = 10


class MatrixUser(BaseModel):
    """A Matrix user-directory result (``subline`` is an addition clients may ignore)."""

    user_id: str
    display_name: str
    avatar_url: str | None = None
    subline: str | None = None


class MatrixUsers(BaseModel):
    """The Matrix user-directory search answer."""

    limited: bool
    results: list[MatrixUser]
