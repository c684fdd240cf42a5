# Helpers every testScript starts with (nixos-tests/lib/harness.py, prepended by default.nix).
# Annotations are strings: the driver runs the script without the type-hint prelude the checkers see.
import json
import os
import shlex
import tempfile


def tailnet_up(headscale_node: "QemuMachine", members: "list[QemuMachine]") -> "dict[str, str]":
    """Joins `members` to the headscale tailnet and returns each one's tailnet IPv4 address."""
    headscale_node.wait_for_unit("headscale.service")
    headscale_node.wait_for_open_port(443)
    headscale_node.succeed("headscale users create telltale")
    user_id = json.loads(headscale_node.succeed("headscale users list -o json"))[0]["id"]
    authkey = headscale_node.succeed(f"headscale preauthkeys -u {user_id} create --reusable").strip()
    addresses = {}
    for member in members:
        member.wait_for_unit("tailscaled.service")
        member.succeed(
            f"tailscale up --login-server https://headscale --auth-key {shlex.quote(authkey)} "
            f"--hostname {member.name}"
        )
        addresses[member.name] = member.succeed("tailscale ip -4").strip()
    for member in members:
        for other in members:
            if other is not member:
                member.wait_until_succeeds(f"tailscale ping {addresses[other.name]}", timeout=120)
    return addresses


def wait_for_stack(meridian_node: "QemuMachine") -> None:
    """Waits until every service of the stack answers, and the harness's GlitchTip token exists."""
    for unit in [
        "loki.service",
        "prometheus.service",
        "prometheus-node-exporter.service",
        "grafana.service",
        "alloy.service",
        "glitchtip.service",
        "glitchtip-worker.service",
        "meridian-test-glitchtip-token.service",
        "meridian-grafana-operator.service",
        "podman-balanced-engineering-platform.service",
        "podman-be-pwa.service",
    ]:
        meridian_node.wait_for_unit(unit, timeout=600)
    for port in [3100, 9090, 9100, 3000, 12345, 4317, 4318, 12347, 8200, 8000]:
        meridian_node.wait_for_open_port(port, timeout=300)
    meridian_node.wait_until_succeeds("curl -fsS http://127.0.0.1:3100/ready", timeout=300)


def stack_description(meridian_node: "QemuMachine") -> "dict":
    """The stack description the module wrote, as a dict."""
    return json.loads(meridian_node.succeed("cat /etc/telltale/stack.json"))


def put_json(node: "QemuMachine", path: str, value: "dict") -> None:
    """Writes `value` as JSON to `path` on `node`."""
    node.succeed(f"mkdir -p $(dirname {shlex.quote(path)})")
    node.succeed(f"cat > {shlex.quote(path)} <<'TELLTALE_EOF'\n{json.dumps(value, indent=2)}\nTELLTALE_EOF")


def put_secret(node: "QemuMachine", path: str, value: str) -> None:
    """Writes a secret to `path` on `node` (mode 0600). The value passes through a private
    temporary file of the driver and the VMs' shared directory, never through a command line:
    the driver logs every command it runs, but not the output of one that succeeds."""
    fd, tmp = tempfile.mkstemp(prefix="telltale-secret-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(value)
        node.succeed(f"install -d -m 0700 {shlex.quote(os.path.dirname(path))}")
        node.copy_from_host(tmp, path)
        node.succeed(f"chmod 0600 {shlex.quote(path)}")
    finally:
        os.unlink(tmp)


def hand_over_secret(src: "QemuMachine", dst: "QemuMachine", path: str) -> None:
    """Copies a secret file from `src` to the same path on `dst` (see `put_secret`)."""
    put_secret(dst, path, src.succeed(f"cat {shlex.quote(path)}"))


def bootstrap_glitchtip(node: "QemuMachine", stack_path: str) -> "dict":
    """Creates the organization, team and projects (idempotent) and returns the DSNs."""
    stack = json.loads(node.succeed(f"cat {shlex.quote(stack_path)}"))
    glitchtip = stack["glitchtip"]
    projects = " ".join(f"--project {shlex.quote(p)}" for p in glitchtip["projects"])
    out = node.succeed(
        f"telltale glitchtip bootstrap --url http://{stack['host']}:{glitchtip['port']} "
        f"--token-file {shlex.quote(glitchtip['auth']['file'])} "
        f"--org {shlex.quote(glitchtip['organization'])} --team {shlex.quote(glitchtip['team'])} {projects}"
    )
    return json.loads(out)


def check(node: "QemuMachine", stack_path: str, scenarios: "list[str]", extra: str = "") -> "dict":
    """Runs `telltale check` on `node` and returns its JSON report (exit 0, 1 and 2 all give one)."""
    names = " ".join(f"--scenario {shlex.quote(s)}" for s in scenarios)
    status, out = node.execute(
        f"telltale check --stack {shlex.quote(stack_path)} {names} --report json {extra} 2>/tmp/telltale-stderr"
    )
    node.log(node.succeed("cat /tmp/telltale-stderr"))
    report = json.loads(out)
    assert report["schema"] == "telltale-check-report", out
    assert report["exit_code"] == status, f"exit {status} but the report says {report['exit_code']}"
    return report


def assert_scenarios(report: "dict", expected: "list[str]") -> None:
    """One subtest per scenario: passes when the scenario passed, else fails showing its evidence."""
    by_name = {s["name"]: s for s in report["scenarios"]}
    for name in expected:
        with subtest(f"scenario {name}"):
            scenario = by_name.get(name)
            assert scenario is not None, f"{name} did not run; ran {sorted(by_name)}"
            shown = json.dumps(
                {k: scenario.get(k) for k in ["summary", "checks", "delivery", "evidence", "problem"]},
                indent=2,
            )
            assert scenario["status"] == "passed", f"{name}: {scenario['status']}\n{shown}"


def delivery_of(report: "dict", scenario: str) -> "list[dict]":
    """The delivery accounting of one scenario in a report."""
    for s in report["scenarios"]:
        if s["name"] == scenario:
            return s.get("delivery") or []
    raise AssertionError(f"{scenario} is not in the report")
