# delivery: every signal reaches its store, for every app and project. The harness runs twice:
# on meridian (journald is local by nature) and on a tailnet peer over Tailscale, the path the
# applications' own senders and the operators use.
{ meridian, tailnet, harness, harnessHost, vmSize, ... }:
{
  name = "meridian-delivery";
  nodes = {
    headscale = tailnet.headscale;
    meridian = {
      imports = [
        meridian
        tailnet.member
      ];
      virtualisation = vmSize;
    };
    peer = {
      imports = [
        tailnet.member
        harnessHost
      ];
      virtualisation.memorySize = 1024;
    };
  };
  testScript = harness + ''
    import time

    start_all()
    addresses = tailnet_up(headscale, [meridian, peer])
    wait_for_stack(meridian)
    dsns = bootstrap_glitchtip(meridian, "/etc/telltale/stack.json")
    t.assertEqual(sorted(dsns), ["be-platform", "be-pwa"])

    local = check(meridian, "/etc/telltale/stack.json", [])
    assert_scenarios(local, [
        "journald-to-loki",
        "otlp-logs-to-loki",
        "otlp-metrics-to-prometheus",
        "otlp-traces-accepted",
        "faro-to-loki",
        "sentry-to-glitchtip",
        "scrape-targets-up",
        "retention",
        "grafana",
    ])
    with subtest("journald lines of both apps carry app, host and service_unit"):
        signals = {d["signal"] for d in delivery_of(local, "journald-to-loki")}
        for unit in ["podman-balanced-engineering-platform.service", "podman-be-pwa.service"]:
            assert any(unit in s for s in signals), f"no delivery accounting for {unit}: {signals}"

    with subtest("journald keep rule: another unit's lines never reach Loki"):
        marker = "telltale-keep-rule-probe"
        meridian.succeed(f"systemd-run --unit not-an-app --wait --collect sh -c 'for i in 1 2 3; do echo {marker} $i; done'")
        # The apps' lines are there (the query works) while the other unit's are not, after
        # Alloy has had time to ship them.
        meridian.wait_until_succeeds(
            "curl -fsS -G http://127.0.0.1:3100/loki/api/v1/query_range "
            "--data-urlencode 'query={app=\"be-platform\"}' --data-urlencode limit=1 "
            "| jq -e '.data.result | length > 0'",
            timeout=120,
        )
        meridian.succeed("journalctl -u not-an-app.service | grep -q " + marker)
        time.sleep(20)
        out = meridian.succeed(
            "curl -fsS -G http://127.0.0.1:3100/loki/api/v1/query_range "
            f"--data-urlencode 'query={{host=\"meridian\"}} |= `{marker}`' --data-urlencode limit=10"
        )
        t.assertEqual(json.loads(out)["data"]["result"], [], "a non-app unit's lines reached Loki")

    # Over the tailnet: the same stack, addressed by meridian's tailnet IP.
    stack = stack_description(meridian)
    stack["host"] = addresses["meridian"]
    # The peer gets its own copies of the credentials, as files (never arguments or logged text).
    for section, key in [("glitchtip", "auth"), ("grafana", "admin_password"), ("alloy", "faro_api_key")]:
        hand_over_secret(meridian, peer, stack[section][key]["file"])
    put_json(peer, "/etc/telltale/stack.json", stack)
    remote = check(peer, "/etc/telltale/stack.json", [
        "otlp-logs-to-loki",
        "otlp-metrics-to-prometheus",
        "otlp-traces-accepted",
        "faro-to-loki",
        "sentry-to-glitchtip",
        "scrape-targets-up",
        "grafana",
    ])
    assert_scenarios(remote, [s["name"] for s in remote["scenarios"]])
  '';
}
