# faults: restart Loki, and separately Alloy, in the middle of a journald burst, and report what
# was lost or duplicated. Two views of each: the harness's journald-to-loki accounting (run in the
# background while the restart happens) and a 2000-line numbered burst from be-platform's stand-in,
# counted in Loki line by line. Nothing lost and nothing doubled are both asserted; the findings are
# written to $out/faults.json first, so a failure still leaves its numbers behind.
{ meridian, harness, vmSize, ... }:
{
  name = "meridian-faults";
  nodes.meridian = {
    imports = [ meridian ];
    virtualisation = vmSize;
  };
  testScript = harness + ''
    # `os` comes with lib/harness.py: importing it again fails the driver's ruff check (F811).
    import time

    start_all()
    wait_for_stack(meridian)
    findings: "dict[str, dict]" = {}

    def burst_counts(since_ns: int) -> "dict[int, int]":
        out = meridian.succeed(
            "curl -fsS -G http://127.0.0.1:3100/loki/api/v1/query_range "
            "--data-urlencode 'query={app=\"be-platform\"} |= `\"msg\": \"burst\"`' "
            f"--data-urlencode start={since_ns} --data-urlencode limit=5000"
        )
        seen: "dict[int, int]" = {}
        for stream in json.loads(out)["data"]["result"]:
            for _, line in stream["values"]:
                seq = json.loads(line)["seq"]
                seen[seq] = seen.get(seq, 0) + 1
        return seen

    def fault(service: str) -> None:
        since_ns = int(meridian.succeed("date +%s%N").strip())
        # The harness's own journald accounting, in the background, with the restart inside it.
        meridian.succeed(
            "systemd-run --unit tt-faults-" + service + " --property=Type=exec --collect "
            "--setenv=PATH=/run/current-system/sw/bin sh -c "
            "'telltale check --stack /etc/telltale/stack.json --scenario journald-to-loki "
            "--items 500 --report json > /tmp/faults-" + service + ".json'"
        )
        meridian.succeed("systemctl kill -s USR1 podman-balanced-engineering-platform.service")
        time.sleep(3)
        meridian.succeed(f"systemctl restart {service}.service")
        meridian.wait_until_succeeds(f"systemctl is-active {service}.service", timeout=120)
        meridian.wait_until_fails(f"systemctl is-active tt-faults-{service}.service", timeout=600)
        report = json.loads(meridian.succeed(f"cat /tmp/faults-{service}.json"))
        # Loki answers `"resultType"` even when nothing matched: wait for a non-empty result.
        meridian.wait_until_succeeds(
            "curl -fsS -G http://127.0.0.1:3100/loki/api/v1/query --data-urlencode "
            "'query=count_over_time({app=\"be-platform\"} |= `burst done` [1h])' "
            "| jq -e '.data.result | length > 0'",
            timeout=120,
        )
        time.sleep(30)  # let Alloy catch up from its journal cursor
        seen = burst_counts(since_ns)
        missing = [s for s in range(2000) if s not in seen]
        duplicated = sorted(s for s, n in seen.items() if n > 1)
        findings[service] = {
            "harness_status": report["scenarios"][0]["status"],
            "harness": delivery_of(report, "journald-to-loki"),
            "burst": {"sent": 2000, "missing": len(missing), "duplicated": len(duplicated),
                      "first_missing": missing[:20], "first_duplicated": duplicated[:20]},
        }
        meridian.log(f"faults: {service} restart: {json.dumps(findings[service])}")

    for service in ["loki", "alloy"]:
        with subtest(f"restart {service} during a journald burst"):
            fault(service)

    out_dir = os.environ.get("out", ".")
    with open(os.path.join(out_dir, "faults.json"), "w") as f:
        json.dump(findings, f, indent=2)

    for service, finding in findings.items():
        shown = json.dumps(finding, indent=2)
        with subtest(f"nothing lost across a {service} restart"):
            t.assertEqual(finding["burst"]["missing"], 0, shown)
            # An empty accounting would pass the loop below: the harness must have counted.
            t.assertEqual(finding["harness_status"], "passed", shown)
            t.assertGreater(len(finding["harness"]), 0, shown)
            for signal in finding["harness"]:
                t.assertGreater(signal["sent"], 0, shown)
                t.assertEqual(signal["missing"], 0, shown)
        with subtest(f"nothing doubled across a {service} restart"):
            t.assertEqual(finding["burst"]["duplicated"], 0, shown)
            for signal in finding["harness"]:
                t.assertEqual(signal["duplicated"], 0, shown)
  '';
}
