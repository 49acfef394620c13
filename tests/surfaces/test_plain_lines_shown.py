"""The CLI's plain lines (not Rich tables) show what clients sent escaped, as every other surface does
(aha.surfaces.visible): `aha dead-letters` prints each refused body as it came, and `aha init --db` the event names it
chose. Before, both wrote ESC and BEL to the terminal as they were: an unauthenticated request whose body was not JSON
put `ESC ] 52 ; c ; … BEL` (write the operator's clipboard) or `ESC ] 0 ; … BEL` (retitle the terminal) on the
operator's screen the next time they listed the dead letters, and a newline forged a line of the list."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.serving import aha, running, sample_db

RAW = ("\x1b", "\x07", "\r", "\x9b")  # none of these may reach a terminal


def test_dead_letters_show_a_strangers_body_escaped(tmp_path: Path) -> None:
    db = sample_db(tmp_path, users=20)
    body = b'{"userId":"x\x1b]52;c;cm0gLXJmIH4=\x07","event":"E\r\n     99 \xc3\x97 forged line"}'
    with running(db) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:  # no key, not JSON (raw control bytes)
            sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
        listed = aha("dead-letters", "--db", str(db), cwd=tmp_path)  # through the server
    assert listed.returncode == 0, listed.stderr
    assert not [c for c in RAW if c in listed.stdout], repr(listed.stdout)
    assert "\\u001b]52;c;cm0gLXJmIH4=\\u0007" in listed.stdout
    example = [line for line in listed.stdout.splitlines() if "cm0gLXJmIH4" in line]
    assert len(example) == 1 and "\\u000d\\u000a     99 × forged line" in example[0]  # one line, not two
    stored = aha("dead-letters", "--db", str(db), "--json", cwd=tmp_path)  # the data itself: as it came
    assert "\x1b]52;c;cm0gLXJmIH4=\x07" in "".join(g["example"] for g in json.loads(stored.stdout))


def test_init_shows_the_chosen_event_names_escaped(tmp_path: Path) -> None:
    lines = []
    for i in range(60):
        day = f"2026-01-{1 + i % 20:02d}"
        # read as a signup (its letters are "signedup"), the line names it: ESC, BEL and CSI must not reach a terminal
        lines.append({"user_id": f"u{i}", "event": "Signed Up\x1b]\x07\x9b", "timestamp": f"{day}T09:00:00Z"})
        lines.append({"user_id": f"u{i}", "event": "Used", "timestamp": f"{day}T10:00:00Z"})
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=tmp_path).returncode == 0
    done = aha("init", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not [c for c in RAW if c in done.stdout], repr(done.stdout)
    assert "signup Signed Up\\u001b]\\u0007" in done.stdout
