"""`aha rules run`'s last line, as a user reads it after a run with only an email rule."""

from __future__ import annotations

import os
import subprocess

from tests.guidance.test_email import RULES, inbox, project_with  # noqa: F401  (inbox: the fixture)
from tests.serving import AHA


def test_the_run_summary_counts_emails_as_deliveries_not_as_webhooks(tmp_path, inbox):  # noqa: F811
    """Twelve signed-up users, one email rule (holdout 0.25): the line read "webhooks: 9 sent, 8 delivered" for a
    project without a single webhook. u11 has no first_name: its attempt fails and is retried."""
    project = project_with(tmp_path)
    project.store.close()
    (tmp_path / "aha.yaml").write_text(RULES.format(subject="Next, {{ user.first_name }}"), encoding="utf-8")
    done = subprocess.run([AHA, "rules", "run", "--as-of", "2026-01-01T12:00"], cwd=tmp_path, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    sent = len(inbox.messages)
    assert sent >= 1 and "webhooks" not in done.stdout
    # "attempted", not "sent": an attempt skipped because its receiver failed earlier in the pass went nowhere
    assert summary.startswith(
        f"deliveries (webhook and email): {sent + 1} attempted: {sent} delivered, 1 to retry"), summary
