"""Node.js programs the tests run: receivers that print one JSON line when listening, then one
per request they handle."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest


class NodeProgram:
    """`node <script> <args…>` with its own node_modules (scripts/test-deps installs them)."""

    def __init__(self, script: Path, *args: str, env: dict | None = None):
        node = shutil.which("node")
        if node is None or not (script.parent / "node_modules" / "express").exists():
            pytest.fail(f"node and {script.parent.name}'s packages are needed (scripts/test-deps installs them)")
        self.name = script.name
        self.process = subprocess.Popen(
            [node, str(script), *args], cwd=script.parent, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        )
        self.first = self.next_line()  # what it prints once listening

    def next_line(self) -> dict:
        line = self.process.stdout.readline()
        assert line, f"{self.name} exited: {self.process.stderr.read()[-2000:]}"
        return json.loads(line)

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)
