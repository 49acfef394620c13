"""What can the sample contain? Event names, property values, segment mixes and the planted effect sizes, in one sheet.

Every number docs/sample.md quotes lives here, so the documentation and the generator cannot drift apart. Properties
are JSON text drawn from one fixed dictionary (`PROPERTIES`): an event's properties are an index into it, which keeps
generation vectorised (no per-event string formatting).
"""

from __future__ import annotations

import json
from typing import Final

import numpy as np

# -- event names ---------------------------------------------------------------------------------------------------
SIGNED_UP: Final = "Signed Up"
PAID: Final = "Subscription Started"
EVENTS: Final[tuple[str, ...]] = (
    SIGNED_UP,
    "Page Viewed",
    "Workspace Created",
    "Integration Connected",
    "Project Created",
    "Output Generated",
    "Invite Sent",
    "Invite Accepted",
    "Data Imported",
    "Pricing Viewed",
    "Upgrade Clicked",
    "SSO Configured",
    "Message Sent",
    "Report Shared",
    PAID,
    "Email Opened",
    "Help Article Viewed",
    "Settings Changed",
)
CODE: Final[dict[str, int]] = {name: i for i, name in enumerate(EVENTS)}
# Retention's active events, as the template defines them: anything but Signed Up and Email Opened.
ACTIVE: Final = np.array([name not in (SIGNED_UP, "Email Opened") for name in EVENTS])

# -- segments (user traits and Signed Up properties) ---------------------------------------------------------------
PERSONAS: Final = ("admin", "analyst", "engineer", "marketer")
PERSONA_P: Final = (0.20, 0.30, 0.25, 0.25)
SOURCES: Final = ("organic", "google_ads", "referral", "linkedin", "partner")
SOURCE_P: Final = (0.35, 0.25, 0.15, 0.15, 0.10)
PLANS: Final = ("free", "trial", "team")
PLAN_P: Final = (0.55, 0.30, 0.15)
COMPANY_SIZES: Final = ("1-10", "11-50", "51-200", "201-1000", "1000+")
COMPANY_SIZE_P: Final = (0.35, 0.30, 0.20, 0.10, 0.05)
EMPLOYEES_RANGE: Final = ((1, 10), (11, 50), (51, 200), (201, 1000), (1001, 20000))
INDUSTRIES: Final = ("software", "finance", "retail", "healthcare", "education", "media", "manufacturing")
NAME_A: Final = (
    "Blue",
    "North",
    "Bright",
    "Quiet",
    "Swift",
    "Iron",
    "Silver",
    "Green",
    "Red",
    "Lucky",
    "Clear",
    "Bold",
)
NAME_B: Final = ("Harbor", "Labs", "Works", "Analytics", "Systems", "Studio", "Cloud", "Data", "Foods", "Health")
IMPORTED_SOURCE: Final = "import"  # users added by an admin import: they have no Signed Up event

# -- account sizes: 1-10 members -----------------------------------------------------------------------------------
ACCOUNT_SIZE_P: Final = np.array([0.50, 0.17, 0.10, 0.07, 0.05, 0.04, 0.03, 0.02, 0.01, 0.01])

# -- planted effects (docs/sample.md explains each) ----------------------------------------------------------------
# Milestone propensity: logit shifts added to a per-user latent engagement z ~ N(0, 1).
CORE_BASE_LOGIT: Final = -0.55
CORE_Z: Final = 0.9
CORE_PERSONA: Final = {"admin": -0.1, "analyst": 0.3, "engineer": 0.2, "marketer": -0.4}
CORE_SOURCE: Final = {"organic": 0.0, "google_ads": -0.3, "referral": 0.7, "linkedin": -0.2, "partner": 0.3}
INTEGRATION_PERSONA: Final = {"admin": 0.0, "analyst": 0.1, "engineer": 0.4, "marketer": -0.4}
INTEGRATION_TYPES: Final = ("postgres", "bigquery", "salesforce", "slack", "csv")
QUALIFYING_INTEGRATIONS: Final = ("postgres", "bigquery", "salesforce")
INTEGRATION_TYPE_P: Final = {
    "admin": (0.25, 0.15, 0.15, 0.30, 0.15),
    "analyst": (0.25, 0.30, 0.10, 0.10, 0.25),
    "engineer": (0.40, 0.30, 0.05, 0.15, 0.10),
    "marketer": (0.05, 0.05, 0.30, 0.30, 0.30),
}
# Conversion (Subscription Started within 30d): base probability by plan, times multipliers.
CONVERSION_BASE: Final = {"free": 0.025, "trial": 0.045, "team": 0.06}
CONVERSION_CORE_X: Final = 3.0  # reaching core_workflow within 3d triples the probability
CONVERSION_DATA_X: Final = 2.0  # reaching data_connected within 24h doubles it
CONVERSION_Z: Final = 0.25  # times exp(0.25 z): engagement raises it a little on its own
# Day-30 retention: additive probability points, clipped to [0.02, 0.95].
RETENTION_BASE: Final = 0.10
RETENTION_Z: Final = 0.06
RETENTION_CORE: Final = 0.12
RETENTION_DATA: Final = 0.08
RETENTION_COLLAB: Final = 0.10
RETENTION_REPORT_STEP: Final = 0.25  # >= 3 Report Shared in the first 14 days; 1 or 2 add nothing
REPORT_STEP_AT: Final = 3
REPORT_SHARED_14D_P: Final = np.array([0.45, 0.20, 0.15, 0.08, 0.05, 0.04, 0.03])  # 0, 1, ..., 6 in 14 days
# Busy workspaces: a few teams of 3+ chat far more, so some accounts pass 2,000 messages in 30 days.
BUSY_MIN_MEMBERS: Final = 3
BUSY_SHARE: Final = 0.04
BUSY_CHAT_X: Final = 12.0
IMPORTED_SHARE: Final = 0.01  # users with events but no Signed Up
VISITORS_PER_USER: Final = 0.35  # anonymous visitors who never sign up, per user

# -- property dictionary --------------------------------------------------------------------------------------------
PAGES: Final = (
    "/",
    "/pricing",
    "/docs",
    "/blog/activation",
    "/features",
    "/app",
    "/app/projects",
    "/app/reports",
    "/app/settings",
    "/integrations",
    "/customers",
    "/changelog",
)
MAX_ROWS: Final = 5000
SIMPLE_VALUES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    # event -> (property name, values); every event listed here carries exactly that one property
    "Page Viewed": ("path", PAGES),
    "Workspace Created": ("template", ("blank", "marketing", "sales", "product")),
    "Integration Connected": ("integration_type", INTEGRATION_TYPES),
    "Project Created": ("template", ("blank", "funnel", "dashboard", "forecast")),
    "Output Generated": ("output_type", ("chart", "table", "report")),
    "Invite Sent": ("role", ("member", "admin")),
    "Invite Accepted": ("role", ("member", "admin")),
    "Pricing Viewed": ("referrer", ("app", "email", "website")),
    "Upgrade Clicked": ("location", ("banner", "limits_modal", "settings")),
    "SSO Configured": ("provider", ("okta", "google", "azure_ad")),
    "Message Sent": ("channel", ("general", "project", "direct")),
    "Report Shared": ("channel", ("email", "slack", "link")),
    "Subscription Started": ("plan", ("team", "business")),
    "Email Opened": ("campaign", ("welcome", "tips_1", "tips_2", "webinar", "newsletter", "winback")),
    "Help Article Viewed": ("article", ("getting-started", "connect-data", "invite-team", "sso", "billing")),
    "Settings Changed": ("setting", ("timezone", "notifications", "theme", "language")),
}


def _build_properties() -> tuple[list[str], dict[str, int]]:
    props = ["{}"]
    offsets: dict[str, int] = {}
    offsets[SIGNED_UP] = len(props)  # persona x source x plan, in that nesting order
    for persona in PERSONAS:
        for source in SOURCES:
            for plan in PLANS:
                props.append(json.dumps({"persona": persona, "source": source, "plan": plan}))
    for event, (key, values) in SIMPLE_VALUES.items():
        offsets[event] = len(props)
        props.extend(json.dumps({key: v}) for v in values)
    offsets["Data Imported"] = len(props)  # rows = 0 .. MAX_ROWS
    props.extend(json.dumps({"rows": r, "format": "csv"}) for r in range(MAX_ROWS + 1))
    return props, offsets


PROPERTIES, PROPERTY_OFFSET = _build_properties()
