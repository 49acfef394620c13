"""The aha.yaml that `aha sample` writes: the bundled template, with a funnel that follows the sample's own story.

The template's funnel (workspace → data → core workflow → collaboration → paid) shows the format, but on the sample it
ends at "Paid 0.3%": only account owners create a workspace (members join one), collaboration is an owner's invitee
joining within 7 days, and an ordered funnel drops everyone who took a step out of that order. The sample plants its
effects on two milestones reached in one order (docs/sample.md: users connect data, start the project about 40
minutes later, and pay ×2 and ×3 more often), so its funnel is signup → data connected → core workflow → paid.
Milestones, windows and outcomes are the template's, so the truth in truth.parquet still holds.
"""

from __future__ import annotations

from importlib import resources

TEMPLATE_FUNNEL = "funnel: [workspace, data_connected, core_workflow, collaboration]"
SAMPLE_FUNNEL = (
    "# The sample's onboarding order: connect a data source, then complete the core workflow, then pay. Workspace and\n"
    "# collaboration are left out of the funnel: only account owners create a workspace, and collaboration needs an\n"
    "# invitee to join, so neither is a step every signup takes.\n"
    "funnel: [data_connected, core_workflow]"
)


def definitions_text() -> str:
    """The sample's aha.yaml text."""
    template = resources.files("aha.definitions").joinpath("template.yaml").read_text(encoding="utf-8")
    if TEMPLATE_FUNNEL not in template:  # the template changed: say so here rather than write the wrong funnel
        raise RuntimeError("aha/definitions/template.yaml no longer has the funnel line aha.sample.definitions "
                           "replaces; update TEMPLATE_FUNNEL")
    return template.replace(TEMPLATE_FUNNEL, SAMPLE_FUNNEL, 1)
