"""``python -m service``: the pipeline's commands plus ``serve`` and ``api-key`` (create|list|revoke: the key is
printed once, only its hash is stored)."""
from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import create_engine, text

from conftest import ROOT
import service.cli
from pipeline.cli import COMMAND_MODULES, build_parser
from service.cli import main


def _run(capsys, *argv) -> tuple[int, dict | list | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_api_key_lifecycle(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    code, made, _ = _run(capsys, "api-key", "create", "--name", "shop", "--scopes", "read,issue", "--workspace", ws)
    assert code == 0 and made["key"].startswith("seg_") and made["scopes"] == ["read", "issue"]
    code, keys, _ = _run(capsys, "api-key", "list", "--workspace", ws)
    assert [k["name"] for k in keys] == ["shop"] and made["key"] not in json.dumps(keys)
    db = create_engine(f"sqlite:///{tmp_path / 'ws' / 'service.db'}")
    with db.connect() as conn:
        row = conn.execute(text("SELECT key_hash, prefix FROM api_keys")).one()
    db.dispose()
    assert made["key"] not in row.key_hash and len(row.key_hash) == 64 and made["key"].startswith(row.prefix)
    code, _, err = _run(capsys, "api-key", "create", "--name", "shop", "--workspace", ws)
    assert code == 2 and "exists already" in err
    code, _, err = _run(capsys, "api-key", "create", "--name", "x", "--scopes", "read,root", "--workspace", ws)
    assert code == 2 and "root" in err
    assert _run(capsys, "api-key", "revoke", "--name", "shop", "--workspace", ws)[0] == 0
    code, _, err = _run(capsys, "api-key", "revoke", "--name", "shop", "--workspace", ws)
    assert code == 2 and "no active key" in err
    assert _run(capsys, "api-key", "list", "--workspace", ws)[1][0]["revoked_at"]


def test_serve_refuses_an_unknown_dataset_in_one_line(tmp_path, capsys):
    code, _, err = _run(capsys, "serve", "--dataset", "no-such-thing", "--workspace", str(tmp_path))
    assert code == 2 and err.startswith("error: dataset:") and len(err.strip().splitlines()) == 1


def _commands(parser) -> list[str]:
    return list(next(a for a in parser._actions if a.dest == "command").choices)


def test_the_service_adds_its_commands_to_the_pipelines_and_the_pipeline_knows_none(tmp_path):
    pipeline_commands = _commands(build_parser())
    assert "clean" in pipeline_commands and not {"serve", "api-key"} & set(pipeline_commands)
    assert _commands(build_parser((*COMMAND_MODULES, service.cli))) == [*pipeline_commands, "serve", "api-key"]
    run = subprocess.run([sys.executable, "-m", "service", "api-key", "list", "--workspace", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and json.loads(run.stdout) == [], run.stderr
    run = subprocess.run([sys.executable, "-m", "pipeline", "serve", "--dataset", "synthetic"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "invalid choice: 'serve'" in run.stderr
