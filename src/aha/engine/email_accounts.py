"""Accounts from email domains (`accounts: {from: email_domain}`, SEMANTICS.md "Accounts"): for products without
group calls, users who share a company's email domain are that company's account; free-mail and disposable domains
(a list shipped with aha, `free_mail_domains.txt`) never form one.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import ibis
import ibis.expr.types as ir

from aha.engine import matchers

EMAIL_TRAIT = "email"
# One `@`, something before it, a dot in what follows, no spaces: "ann@acme.io" → "acme.io"; "ann@localhost",
# "acme.io" and "a@b@c.io" have no domain.
EMAIL_PATTERN = r"^[^@\s]+@([^@\s]+\.[^@\s]+)$"


@cache
def free_mail_domains() -> tuple[str, ...]:
    """The shipped list: one lower-case domain a line, `#` comments."""
    text = resources.files("aha.engine").joinpath("free_mail_domains.txt").read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return tuple(sorted({line for line in lines if line}))


def email_domain(traits: ir.JSONValue) -> ir.StringValue:
    """The lower-cased domain of the `email` trait (spaces trimmed); null without a well-formed address."""
    email = matchers.text(traits, EMAIL_TRAIT).strip().lower()
    return email.re_extract(EMAIL_PATTERN, 1).nullif("")


def is_free_mail(domain: ir.StringValue) -> ir.BooleanValue:
    return domain.isin(list(free_mail_domains()))


def email_members_query(users: ir.Table) -> ir.Table:
    """(user_id, account_id): each user with a company email domain, in the account named by that domain.

    The trait is the latest known (traits have no history), so a user whose email changed belongs to the new
    domain's account only, with all their history."""
    domains = users.select("user_id", _domain=email_domain(users.traits))
    company = domains.filter(domains._domain.notnull(), ~is_free_mail(domains._domain))
    return company.select("user_id", account_id=company._domain)


def email_coverage_query(users: ir.Table) -> ir.Table:
    """One row: users with an `email` trait, with a well-formed domain, at a free-mail domain, and the accounts
    (company domains) they form: what `aha validate` reports when the rule finds few or none."""
    present = matchers.text(users.traits, EMAIL_TRAIT)
    domain = email_domain(users.traits)
    company = domain.notnull() & ~is_free_mail(domain)
    def count(flag: ir.BooleanValue) -> ir.IntegerScalar:
        return ibis.coalesce(flag.fill_null(False).cast("int64").sum(), 0)  # no users: 0, not null

    return users.aggregate(
        with_email=count(present.notnull()),
        with_domain=count(domain.notnull()),
        free_mail=count(domain.notnull() & is_free_mail(domain)),
        in_accounts=count(company),
        accounts=company.ifelse(domain, ibis.null("string")).nunique(),
    )
