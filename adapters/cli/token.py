"""``sip-ledger token``: a development bearer token (HS256, signed with ``SIP_JWT_SECRET``) for a
person of an organisation with roles and scopes; refused when a JWKS is configured, since the
service then accepts only the identity provider's tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

from adapters.cli.errors import EXIT_INVALID, reporting_errors
from adapters.identity.tokens import Principal, mint_token
from adapters.settings import Settings
from domain.parties import Organisation, OrganisationKind, Role

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_S = 30 * 86400


def parse_ttl(text: str) -> int:
    """``8h``, ``30m``, ``3600s``, ``1d`` or plain seconds -> seconds."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError("expected a duration such as 8h, 30m, 3600s or 1d")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds > MAX_TTL_S:
        raise ValueError("at most 30d for a development token")
    return seconds


def token(
    ctx: typer.Context,
    person: str = typer.Option(..., "--person", help="The person's id (sub), e.g. an HSA id."),
    name: str = typer.Option(..., "--name", help="The person's name, as events record it."),
    org_id: str = typer.Option(..., "--org-id", help="Organisation id, e.g. kommun-goteborg."),
    org_kind: OrganisationKind = typer.Option(..., "--org-kind", help="Kind of organisation."),
    org_name: str = typer.Option("", "--org-name", help="Organisation name."),
    org_region: str = typer.Option("", "--org-region", help="County key, e.g. vastra-gotaland."),
    unit: str = typer.Option("", "--unit", help="The unit the person works in."),
    role: list[Role] = typer.Option(..., "--role", help="A role; repeat for several."),
    scope: list[str] = typer.Option(
        [], "--scope", help="A scope, e.g. feed:personal (personal data in the event feed)."
    ),
    ttl: str = typer.Option("8h", "--ttl", help="Lifetime: 8h, 30m, 3600s, 1d."),
) -> None:
    """Print a development bearer token (HS256, signed with SIP_JWT_SECRET)."""
    settings: Settings = ctx.obj
    if settings.uses_jwks:
        setting = "SIP_JWKS_URL" if settings.jwks_url else "SIP_JWKS_FILE"
        typer.echo(
            f"error field {setting}: a JWKS is configured, so the service accepts only the "
            "identity provider's tokens; sip-ledger token mints development tokens only",
            err=True,
        )
        raise typer.Exit(EXIT_INVALID)
    try:
        ttl_s = parse_ttl(ttl)
        if ttl_s > settings.token_max_lifetime_s:  # the service would refuse it
            raise ValueError(f"at most {settings.token_max_lifetime_s} s, the longest lifetime "
                             "the service accepts (SIP_TOKEN_MAX_LIFETIME_S)")
    except ValueError as error:
        typer.echo(f"error field --ttl: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    with reporting_errors():
        principal = Principal(
            person_id=person, name=name,
            organisation=Organisation(id=org_id, kind=org_kind, name=org_name,
                                      region=org_region),
            unit=unit, roles=frozenset(role),
            scopes=frozenset(s for item in scope for s in item.split()),
        )
        principal.actor()  # the same limits as an event's actor: refused now, not per request
    typer.echo(mint_token(principal, settings, ttl_s=ttl_s))
    until = datetime.now(tz=UTC) + timedelta(seconds=ttl_s)
    typer.echo(
        f"HS256 token for {person} at {org_id}, roles "
        f"{', '.join(sorted(r.value for r in principal.roles))}, valid until "
        f"{until:%Y-%m-%d %H:%M} UTC",
        err=True,
    )
