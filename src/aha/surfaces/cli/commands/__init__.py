"""One module per command; each exposes `register(app)`. Adding a command is one line here."""

from aha.surfaces.cli.commands import (
    accounts_cmd,
    dashboard_cmd,
    dead_letters_cmd,
    definitions_cmds,
    discover_cmd,
    evaluate_cmd,
    guidance_cmds,
    import_cmd,
    keys_cmd,
    paths_cmd,
    report_cmd,
    sample_cmd,
    score_cmd,
    serve_cmd,
    state_cmd,
    validate_cmd,
)

MODULES = [
    definitions_cmds,
    validate_cmd,
    report_cmd,
    evaluate_cmd,
    discover_cmd,
    score_cmd,
    paths_cmd,
    state_cmd,
    accounts_cmd,
    guidance_cmds,
    sample_cmd,
    import_cmd,
    serve_cmd,
    dashboard_cmd,
    keys_cmd,
    dead_letters_cmd,
]
