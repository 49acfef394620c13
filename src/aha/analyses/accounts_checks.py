"""Do accounts form from the data? With `accounts: {from: email_domain}`, users without an `email` trait (or all at
free-mail domains) form no account, and every account number would silently read zero."""

from __future__ import annotations

from aha.analyses.state import event_source
from aha.definitions import Definitions
from aha.engine.email_accounts import email_coverage_query
from aha.store import Store, schema

EMAIL_COVERAGE = 0.1  # below this share of the users seen in an email-domain account, validate warns


def email_accounts_warnings(store: Store, definitions: Definitions) -> list[tuple[str, str]]:
    """(path, message): a warning naming how many users have an `email` trait, when email domains put few or no
    users in accounts."""
    if definitions.accounts_from != "email_domain":
        return []
    seen = int(store.execute(event_source(store, None).users().count()))
    frame = store.execute(email_coverage_query(store.table(schema.USERS)))
    row = {name: int(frame[name].iloc[0]) for name in frame.columns}
    if row["accounts"] and row["in_accounts"] >= EMAIL_COVERAGE * seen:
        return []
    with_email = row["with_email"]
    return [("accounts.from", (
        f"{with_email:,} of the {seen:,} users seen have an `email` trait ({row['free_mail']:,} of them at a "
        f"free-mail or disposable domain, {with_email - row['with_domain']:,} without a domain), so "
        f"the rule puts {_plural(row['in_accounts'], 'user')} in {_plural(row['accounts'], 'account')}. Import users' "
        "emails "
        "(`aha import users.csv --users`) or send group calls and use `accounts: {from: group}`."))]


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
