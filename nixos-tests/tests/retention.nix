# retention: the configured retention (harness `retention` scenario), then time travel: lines
# pushed now, the VM clock moved 31 days on, and a query proving Loki's compactor deleted them
# while a line written after the jump is still there.
{ meridian, harness, vmSize, ... }:
{
  name = "meridian-retention";
  nodes.meridian = {
    imports = [ meridian ];
    virtualisation = vmSize;
    # Short compactor cycles so the test does not wait the production 10 min + 2 h.
    services.meridian-observability.loki.compactor = {
      interval = "1m";
      deleteDelay = "1m";
    };
    services.timesyncd.enable = false;
  };
  testScript = harness + ''
    import time

    start_all()
    wait_for_stack(meridian)
    assert_scenarios(check(meridian, "/etc/telltale/stack.json", ["retention"]), ["retention"])

    def count(selector: str, start_ns: int, end_ns: int) -> int:
        out = meridian.succeed(
            "curl -fsS -G http://127.0.0.1:3100/loki/api/v1/query_range "
            f"--data-urlencode 'query={selector}' --data-urlencode start={start_ns} "
            f"--data-urlencode end={end_ns} --data-urlencode limit=5000"
        )
        return sum(len(r["values"]) for r in json.loads(out)["data"]["result"])

    def push(stream: str, n: int) -> int:
        now_ns = int(meridian.succeed("date +%s%N").strip())
        values = [[str(now_ns + i), f"retention probe {i}"] for i in range(n)]
        body = json.dumps({"streams": [{"stream": {"app": stream}, "values": values}]})
        meridian.succeed(
            "curl -fsS -H 'Content-Type: application/json' --data-binary @- "
            f"http://127.0.0.1:3100/loki/api/v1/push <<'TELLTALE_EOF'\n{body}\nTELLTALE_EOF"
        )
        return now_ns

    with subtest("old lines are stored and flushed"):
        pushed_at = push("retention-old", 100)
        window = (pushed_at - 60_000_000_000, pushed_at + 60_000_000_000)
        meridian.wait_until_succeeds(
            "curl -fsS -X POST http://127.0.0.1:3100/flush", timeout=60
        )
        t.assertEqual(count('{app="retention-old"}', *window), 100)

    with subtest("31 days later the compactor has deleted them"):
        meridian.succeed("date -s '+31 days'")
        meridian.succeed("systemctl restart loki.service")
        meridian.wait_until_succeeds("curl -fsS http://127.0.0.1:3100/ready", timeout=300)
        new_at = push("retention-new", 10)
        deadline = time.monotonic() + 900
        left = -1
        while time.monotonic() < deadline:
            left = count('{app="retention-old"}', *window)
            if left == 0:
                break
            time.sleep(15)
        t.assertEqual(left, 0, "Loki still returns lines older than the 30-day retention")
        t.assertEqual(count('{app="retention-new"}', new_at - 60_000_000_000, new_at + 60_000_000_000), 10)
        meridian.succeed("journalctl -u loki.service | grep -i 'retention\\|compactor' | tail -n 20 >&2")
  '';
}
