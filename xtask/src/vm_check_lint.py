"""Lints of a NixOS testScript that no build runs, for `cargo xtask vm-test --check`.

usage: python3 vm_check_lint.py SCRIPT NODES_JSON
NODES_JSON maps each node's Python name to {"telltale": bool (on its PATH), "dirs": [the
directories systemd-tmpfiles creates on it]}.
Prints one `FAIL <test-line>: <why>` line per finding; exits 1 when there is any.
"""
import ast
import json
import sys

ASSERTING = {"succeed", "fail", "wait_until_succeeds", "wait_until_fails", "wait_for_unit",
             "wait_for_open_port", "wait_for_closed_port", "wait_for_file", "assert_scenarios"}
# Helpers that run `telltale` on the node given as their first argument.
RUNS_TELLTALE = {"check", "bootstrap_glitchtip"}


def call_name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def asserts(body: list, asserting: "set[str]") -> bool:
    """True when the block can fail: an assert, a t.assert*, a driver call that raises, or a
    call of a function of the script that does one of these."""
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, (ast.Assert, ast.Raise)):
            return True
        if isinstance(node, ast.Call):
            name = call_name(node)
            if name.startswith("assert") or name in asserting:
                return True
    return False


def asserting_functions(tree: ast.Module) -> "set[str]":
    """ASSERTING plus every function of the script that asserts, to a fixed point."""
    functions = {n.name: n.body for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    known = set(ASSERTING)
    while True:
        more = {name for name, body in functions.items() if name not in known and asserts(body, known)}
        if not more:
            return known
        known |= more


def leading_text(arg: ast.expr) -> str:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value)
    if isinstance(arg, ast.BinOp):
        return leading_text(arg.left)
    return ""


def all_text(node: ast.AST) -> str:
    return "".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def main() -> int:
    script_path, nodes_json = sys.argv[1], sys.argv[2]
    tree = ast.parse(open(script_path).read(), script_path)
    facts = json.loads(nodes_json)
    has_telltale = {node: f["telltale"] for node, f in facts.items()}
    created = {d.rstrip("/") for f in facts.values() for d in f["dirs"]}
    findings = []
    asserting = asserting_functions(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            for item in node.items:
                ctx = item.context_expr
                if isinstance(ctx, ast.Call) and call_name(ctx) == "subtest" and not asserts(node.body, asserting):
                    findings.append((node.lineno, "a subtest that asserts nothing always passes"))
        # stack["backup"]["state_file"] = "/some/dir/file": the harness writes there and creates
        # nothing, so some node must create the directory.
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Subscript)
            and isinstance(node.targets[0].slice, ast.Constant)
            and node.targets[0].slice.value == "state_file"
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            parent = node.value.value.rsplit("/", 1)[0]
            # Without node facts (the source-only lint of `cargo xtask ci`) this is not known.
            if facts and parent not in created:
                findings.append((node.lineno, f"state_file {node.value.value}: no node creates {parent}"))
        if not isinstance(node, ast.Call):
            continue
        name = call_name(node)
        target = None
        if name in RUNS_TELLTALE and node.args and isinstance(node.args[0], ast.Name):
            target = node.args[0].id
        elif (
            name in {"succeed", "execute", "fail"}
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.args
            and leading_text(node.args[0]).lstrip().startswith("telltale ")
        ):
            target = node.func.value.id
        if target in has_telltale and not has_telltale[target]:
            findings.append((node.lineno, f"runs telltale on {target}, which does not have it"))
        if name in {"succeed", "wait_until_succeeds", "execute"} and node.args:
            text = all_text(node.args[0])
            if "/loki/api/v1/query" in text and "grep -q result" in text:
                findings.append((node.lineno, "`grep -q result` matches Loki's \"resultType\" even with no result"))
    for line, why in sorted(findings):
        print(f"FAIL line {line}: {why}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
