# resilience: what the spec promises beyond delivery. Observability fails open (the stack stopped,
# the apps keep serving and restart cleanly); the backup timers themselves make the artefacts and
# keep exactly 7 and 14; what was stored survives a reboot of meridian; and no secret is anywhere
# in the system's Nix store closure.
{ meridian, harness, vmSize, ... }:
{
  name = "meridian-resilience";
  nodes.meridian = {
    imports = [ meridian ];
    virtualisation = vmSize;
    # Backups every 5 s with no random delay, so the timers' own rotation is seen in minutes.
    services.meridian-observability.backup = {
      onCalendar = "*:*:0/5";
      randomizedDelay = "0";
    };
  };
  testScript = harness + ''
    import time

    apps = ["podman-balanced-engineering-platform.service", "podman-be-pwa.service"]
    stack_units = ["loki.service", "prometheus.service", "meridian-postgresql.service",
                   "glitchtip.service", "glitchtip-worker.service"]

    start_all()
    wait_for_stack(meridian)
    bootstrap_glitchtip(meridian, "/etc/telltale/stack.json")

    with subtest("fail-open: the apps keep serving with the stack stopped, and restart cleanly"):
        meridian.succeed("systemctl stop " + " ".join(stack_units))
        for unit in stack_units:
            meridian.fail(f"systemctl is-active {unit}")
        time.sleep(10)
        for unit in apps:
            meridian.succeed(f"systemctl is-active {unit}")
        meridian.succeed("curl -fsS http://127.0.0.1:8000/metrics | grep -q stand_in_requests_total")
        meridian.succeed("curl -fsS http://127.0.0.1:8081/")
        meridian.succeed("systemctl restart " + " ".join(apps))
        for unit in apps:
            meridian.wait_for_unit(unit, timeout=60)
        meridian.wait_until_succeeds("curl -fsS http://127.0.0.1:8000/metrics", timeout=60)
        meridian.succeed("systemctl start " + " ".join(stack_units))
        wait_for_stack(meridian)

    with subtest("the timers' own backups keep exactly 7 and 14"):
        def counts() -> "tuple[int, int]":
            grafana = meridian.succeed("find /var/lib/observability/backup/grafana -name 'grafana-*.db' | wc -l")
            glitchtip = meridian.succeed("find /var/lib/observability/backup/glitchtip -name 'glitchtip-*.dump' | wc -l")
            return int(grafana), int(glitchtip)

        meridian.wait_until_succeeds(
            "test $(find /var/lib/observability/backup/glitchtip -name 'glitchtip-*.dump' | wc -l) -ge 14",
            timeout=300,
        )
        time.sleep(30)  # at least five more runs of each timer
        t.assertEqual(counts(), (7, 14))
        runs = meridian.succeed("journalctl -u meridian-backup-glitchtip.service | grep -c 'Finished '")
        t.assertGreater(int(runs), 14, "the timer ran fewer times than there are dumps")

    stack = stack_description(meridian)
    stack["backup"]["state_file"] = "/var/lib/telltale/reboot-state.json"
    stack["backup"]["phase"] = "record"
    put_json(meridian, "/etc/telltale/record.json", stack)
    stack["backup"]["phase"] = "verify"
    put_json(meridian, "/etc/telltale/verify.json", stack)

    with subtest("what was stored survives a reboot"):
        assert_scenarios(check(meridian, "/etc/telltale/stack.json", ["sentry-to-glitchtip"]), ["sentry-to-glitchtip"])
        assert_scenarios(check(meridian, "/etc/telltale/record.json", ["backup"]), ["backup"])
        marker = f"telltale-reboot-{int(time.time())}"
        now_ns = time.time_ns()
        meridian.succeed(
            "curl -fsS -H 'Content-Type: application/json' --data-binary @- "
            "http://127.0.0.1:3100/loki/api/v1/push <<'TELLTALE_EOF'\n"
            + json.dumps({"streams": [{"stream": {"app": "reboot-probe"}, "values": [[str(now_ns), marker]]}]})
            + "\nTELLTALE_EOF"
        )
        meridian.succeed("curl -fsS -X POST http://127.0.0.1:3100/flush")
        meridian.shutdown()
        meridian.start()
        wait_for_stack(meridian)
        assert_scenarios(check(meridian, "/etc/telltale/verify.json", ["backup"]), ["backup"])
        meridian.wait_until_succeeds(
            "curl -fsS -G http://127.0.0.1:3100/loki/api/v1/query_range "
            "--data-urlencode 'query={app=\"reboot-probe\"}' "
            f"--data-urlencode start={now_ns - 60_000_000_000} --data-urlencode limit=10 "
            f"| grep -q {marker}",
            timeout=120,
        )

    with subtest("no secret in the Nix store closure"):
        # The patterns: every secret's value (SECRET_KEY's without its name), never an empty line
        # (which would match everything).
        meridian.succeed(
            "for f in /var/lib/meridian-secrets/observability/*; do cat \"$f\"; echo; done "
            "| sed 's/^SECRET_KEY=//' | grep -v '^$' > /root/secret-patterns"
        )
        t.assertGreaterEqual(int(meridian.succeed("wc -l < /root/secret-patterns")), 6)
        # Positive control: the scan finds a secret that is there.
        meridian.succeed("head -n 1 /root/secret-patterns > /root/planted")
        meridian.succeed("grep -qF -f /root/secret-patterns /root/planted")
        meridian.succeed(
            "nix-store -qR /run/current-system > /root/closure; "
            "xargs -a /root/closure grep -rlF -f /root/secret-patterns -- > /root/secret-hits || true"
        )
        t.assertGreater(int(meridian.succeed("wc -l < /root/closure")), 100)
        t.assertEqual(meridian.succeed("cat /root/secret-hits"), "", "secrets found in the store")
  '';
}
