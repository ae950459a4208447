"""Set-up and verdict of the schemathesis run (scripts/schemathesis.sh).

`prepare` makes two confirmed accounts on a running server, gives each a few
tasks, and writes what the fuzzer needs into a run directory: the first
account's access token, fuzz dictionaries of real task ids, page tokens and
cursors (the first account's own, which reach the resolvers' real paths, and
the second account's, which must answer exactly like ids that do not exist),
and the second account's identifiers, which no answer to the first account may
ever contain.

`server` asks the server itself: `/healthz` must answer 200, and its
request counters (`/metrics`) must show no 5xx answer on any route.

`summarize` reads schemathesis' HAR file (every request it sent, with its
answer) and JSON report, prints the figures as one JSON line and exits
non-zero when the run sent fewer requests than asked, any answer was a 5xx,
a check failed or the run did not complete.

Standard library only, so it runs under any Python 3.9+.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

PASSWORD = "schemathesis fuzzing account 7f3c"


def call(base: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, object]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def graphql(base: str, token: str, query: str) -> dict:
    status, answer = call(base, "/graphql", {"query": query}, token)
    if status != 200 or not isinstance(answer, dict) or answer.get("errors"):
        sys.exit(f"set-up query failed ({status}): {query}\n{answer}")
    return answer["data"]


def account(base: str, binary: str, email: str) -> tuple[str, str]:
    """Signs up and confirms `email` (with the admin command, so no mail is
    needed) and signs in; returns (user id, access token)."""
    status, answer = call(base, "/auth/sign-up", {"email": email, "password": PASSWORD})
    if status != 201:
        sys.exit(f"sign-up of {email} failed ({status}): {answer}")
    confirm = subprocess.run([binary, "users", "confirm", email], capture_output=True, text=True)
    if confirm.returncode != 0:
        sys.exit(f"`tasksync users confirm {email}` failed: {confirm.stderr.strip()}")
    status, tokens = call(base, "/auth/sign-in", {"email": email, "password": PASSWORD})
    if status != 200 or not isinstance(tokens, dict):
        sys.exit(f"sign-in of {email} failed ({status}): {tokens}")
    return answer["userId"], tokens["accessToken"]


def tasks_of(base: str, token: str, count: int) -> dict[str, list[str]]:
    """Creates `count` tasks (ids chosen here) and returns their ids with a
    page token and a cursor of the account."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for n, task_id in enumerate(ids):
        graphql(
            base,
            token,
            f'mutation {{ createTask(input: {{id: "{task_id}", title: "seed task {n}", '
            f'description: "made before the run", done: {"true" if n % 2 else "false"}}}) {{ id }} }}',
        )
    # One change more, so that version 2 exists too.
    graphql(base, token, f'mutation {{ updateTask(input: {{id: "{ids[0]}", done: true}}) {{ version }} }}')
    page = graphql(base, token, "{ tasks(limit: 2) { nextToken } }")["tasks"]
    sync = graphql(base, token, "{ syncTasks(limit: 2) { nextToken cursor } }")["syncTasks"]
    return {
        "ids": ids,
        "page_tokens": [page["nextToken"]],
        "sync_tokens": [sync["nextToken"]],
        "cursors": [sync["cursor"]],
    }


def write_dict(path: str, values: list[str]) -> None:
    """A libFuzzer-style dictionary: one quoted entry a line."""
    with open(path, "w", encoding="utf-8") as f:
        for value in values:
            f.write(json.dumps(value) + "\n")


def prepare(args: argparse.Namespace) -> None:
    base = args.url.rstrip("/")
    own_id, own_token = account(base, args.bin, "fuzzer@example.com")
    other_id, other_token = account(base, args.bin, "bystander@example.com")
    own = tasks_of(base, own_token, 5)
    other = tasks_of(base, other_token, 3)
    missing = [str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"]
    os.makedirs(args.out, exist_ok=True)
    write_dict(os.path.join(args.out, "task-ids.dict"), own["ids"] + other["ids"] + missing)
    write_dict(os.path.join(args.out, "page-tokens.dict"), own["page_tokens"] + other["page_tokens"])
    write_dict(os.path.join(args.out, "sync-tokens.dict"), own["sync_tokens"] + other["sync_tokens"])
    write_dict(os.path.join(args.out, "cursors.dict"), own["cursors"] + other["cursors"])
    with open(os.path.join(args.out, "token"), "w", encoding="utf-8") as f:
        f.write(own_token)
    with open(os.path.join(args.out, "foreign"), "w", encoding="utf-8") as f:
        # What no answer to the fuzzing account may contain: the other
        # account's id and task ids, as UUIDs and as the bare hex digits
        # that page tokens and cursors carry.
        foreign = [other_id, *other["ids"]]
        f.write("\n".join(foreign + [v.replace("-", "") for v in foreign]) + "\n")
    print(f"prepared: user {own_id} with {len(own['ids'])} tasks; bystander {other_id} with {len(other['ids'])}")


def summarize(args: argparse.Namespace) -> None:
    with open(args.har, encoding="utf-8") as f:
        entries = json.load(f)["log"]["entries"]
    with open(args.report, encoding="utf-8") as f:
        report = json.load(f)
    statuses = collections.Counter(e["response"]["status"] for e in entries)
    codes: collections.Counter[str] = collections.Counter()
    for e in entries:
        try:
            body = json.loads(e["response"]["content"].get("text") or "null")
        except ValueError:
            codes["(not JSON)"] += 1
            continue
        for answer in body if isinstance(body, list) else [body]:
            if not isinstance(answer, dict):
                continue
            errors = answer.get("errors") or []
            for error in errors:
                codes[str((error.get("extensions") or {}).get("code"))] += 1
            if answer.get("data") and not errors:
                codes["(data)"] += 1
    requests = len(entries)
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    cases = report["test_cases"]
    failures = cases["with_failures"] + cases["errored"]
    line = {
        "run": args.name,
        "requests": requests,
        "test_cases": cases["generated"],
        "failures": failures,
        "status": dict(sorted(statuses.items())),
        "answers": dict(codes.most_common()),
        "seconds": round(report["running_time"], 1),
    }
    print(json.dumps(line))
    problems = []
    if requests < args.min_requests:
        problems.append(f"only {requests} requests, fewer than {args.min_requests}")
    if server_errors:
        problems.append(f"{server_errors} answers with a 5xx status")
    if failures:
        problems.append(f"{failures} test cases failed a check or errored")
    if not report["complete"]:
        problems.append(f"the run did not complete ({report['stop_reason']})")
    if problems:
        sys.exit(f"{args.name}: " + "; ".join(problems))


def server(args: argparse.Namespace) -> None:
    base = args.url.rstrip("/")
    try:
        status, health = call(base, "/healthz")
    except OSError as e:
        sys.exit(f"the server does not answer /healthz: {e}")
    if status != 200:
        sys.exit(f"/healthz answers {status}: {health}")
    request = urllib.request.Request(base + "/metrics", headers={"authorization": f"Bearer {args.metrics_token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        metrics = response.read().decode()
    graphql_requests = 0
    server_errors = []
    for line in metrics.splitlines():
        if not line.startswith("tasksync_http_requests_total{"):
            continue
        labels, _, value = line.rpartition(" ")
        if 'status="5' in labels:
            server_errors.append(line)
        if 'route="/graphql"' in labels:
            graphql_requests += int(float(value))
    print(json.dumps({"server": "healthy", "graphql_requests_counted": graphql_requests}))
    if server_errors:
        sys.exit("the server counted 5xx answers:\n" + "\n".join(server_errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare")
    p.add_argument("--url", required=True, help="the server's base URL")
    p.add_argument("--bin", required=True, help="the tasksync binary (for `users confirm`)")
    p.add_argument("--out", required=True, help="the run directory")
    p.set_defaults(run=prepare)
    h = commands.add_parser("server")
    h.add_argument("--url", required=True)
    h.add_argument("--metrics-token", required=True)
    h.set_defaults(run=server)
    s = commands.add_parser("summarize")
    s.add_argument("--name", required=True)
    s.add_argument("--har", required=True)
    s.add_argument("--report", required=True)
    s.add_argument("--min-requests", type=int, default=0)
    s.set_defaults(run=summarize)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
