# load: the harness's bench for each signal (Loki push, OTLP, Faro, Sentry) against meridian, from
# the tailnet peer as a real sender would. Each report (JSON and an SVG plot) is kept as a build
# output under $out/load/.
{ meridian, tailnet, harness, harnessHost, vmSize, ... }:
{
  name = "meridian-load";
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
      virtualisation = {
        memorySize = 1536;
        cores = 2;
      };
    };
  };
  testScript = harness + ''
    start_all()
    addresses = tailnet_up(headscale, [meridian, peer])
    wait_for_stack(meridian)
    bootstrap_glitchtip(meridian, "/etc/telltale/stack.json")

    stack = stack_description(meridian)
    stack["host"] = addresses["meridian"]
    peer.succeed("install -d -m 0700 /run/secrets/observability /tmp/load")
    for key in [("glitchtip", "auth"), ("alloy", "faro_api_key"), ("grafana", "admin_password")]:
        path = stack[key[0]][key[1]]["file"]
        hand_over_secret(meridian, peer, path)
    put_json(peer, "/etc/telltale/stack.json", stack)

    for signal in ["logs", "otlp", "faro", "sentry"]:
        with subtest(f"bench {signal}"):
            status, out = peer.execute(
                f"telltale bench {signal} --stack /etc/telltale/stack.json --ramp --duration 60 "
                f"--plot /tmp/load/{signal}.svg --report json 2>/tmp/load/{signal}.stderr"
            )
            peer.succeed(f"cat > /tmp/load/{signal}.json <<'TELLTALE_EOF'\n{out}\nTELLTALE_EOF")
            peer.copy_from_vm(f"/tmp/load/{signal}.json", "load")
            peer.copy_from_vm(f"/tmp/load/{signal}.svg", "load")
            t.assertEqual(status, 0, f"bench {signal} exited {status}: {peer.succeed(f'cat /tmp/load/{signal}.stderr')}")
            report = json.loads(out)
            shown = json.dumps(report.get("outcome"), indent=2)
            t.assertEqual(report["schema"], "telltale-bench-report")
            t.assertEqual(report["signal"], signal)
            t.assertGreater(len(report["steps"]), 0, shown)
            t.assertTrue(report["outcome"]["passed"], shown)
            t.assertEqual(report["outcome"]["failed_checks"], [], shown)
            highest = report["outcome"]["highest_sustained"]
            t.assertIsNotNone(highest, shown)
            t.assertGreater(highest["items_per_s"], 0, shown)
  '';
}
