"""One module per command; each exposes `register(app)`. Adding a command is one line here."""

from aha.surfaces.cli.commands import (
    definitions_cmds,
    evaluate_cmd,
    import_cmd,
    report_cmd,
    sample_cmd,
    validate_cmd,
)

MODULES = [definitions_cmds, validate_cmd, report_cmd, evaluate_cmd, sample_cmd, import_cmd]
