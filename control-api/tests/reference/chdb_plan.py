#!/usr/bin/env python3
"""Runs a plan of SQL statements on a current ClickHouse (chdb-core, embedded).

Reads {"steps": [{"name", "sql", "query"}]} on stdin; runs every step in order in one chdb
session (a temporary on-disk database, so MergeTree engines behave as on a server); prints
{name: TabSeparated answer} for the steps with "query": true as JSON on stdout.
Exit status: 0 ok; 1 a statement failed (statement and message on stderr); 3 chdb-core is
missing (install it with `bash scripts/python-test-deps.sh`).
"""
import json
import sys
import tempfile


def main() -> int:
    try:
        from chdb import session  # noqa: PLC0415
    except ImportError as e:
        print(f"chdb_plan.py: chdb-core is not installed ({e}); run scripts/python-test-deps.sh", file=sys.stderr)
        return 3
    plan = json.load(sys.stdin)
    answers = {}
    with tempfile.TemporaryDirectory(prefix="switchyard-chdb-") as path:
        sess = session.Session(path)
        try:
            answers["__version__"] = str(sess.query("SELECT version()", "TabSeparated")).strip()
            for step in plan["steps"]:
                try:
                    if step.get("query"):
                        res = sess.query(step["sql"], "TabSeparated")
                        answers[step["name"]] = res.bytes().decode("utf-8") if hasattr(res, "bytes") else str(res)
                    else:
                        sess.query(step["sql"])
                except Exception as e:  # noqa: BLE001
                    print(f"chdb_plan.py: step {step['name']!r} failed:\n{step['sql']}\n-> {e}", file=sys.stderr)
                    return 1
        finally:
            sess.close()
    json.dump(answers, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
