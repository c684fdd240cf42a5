# firewall: from the tailnet peer every service port is open; from the internet host every one is
# closed and the edge forwards only GlitchTip's two ingestion paths (the harness's `firewall`
# scenario with probe_edge), plus raw probes of the traversal and encoding tricks nginx must refuse.
{ meridian, tailnet, harness, harnessHost, vmSize, ... }:
{
  name = "meridian-firewall";
  nodes = {
    headscale = tailnet.headscale;
    meridian = {
      imports = [
        meridian
        tailnet.member
      ];
      virtualisation = vmSize;
      services.meridian-observability.publicEdge = {
        enable = true;
        interface = "eth1";
        port = 8080;
        url = "http://meridian:8080";
      };
    };
    peer = {
      imports = [
        tailnet.member
        harnessHost
      ];
      virtualisation.memorySize = 1024;
    };
    # On the test network only, outside the tailnet: the public internet's view.
    internet = {
      imports = [ harnessHost ];
      virtualisation.memorySize = 1024;
    };
  };
  testScript = harness + ''
    start_all()
    addresses = tailnet_up(headscale, [meridian, peer])
    wait_for_stack(meridian)
    meridian.wait_for_unit("nginx.service")
    meridian.wait_for_open_port(8080)
    stack = stack_description(meridian)
    ports = [3100, 9090, 9100, 3000, 12345, 4317, 4318, 12347, 8200]
    never_open = [5433, 6379, 9096, 8000, 8081]

    with subtest("tailnet peer: every service port open, internals closed"):
        from_peer = dict(stack)
        from_peer["host"] = addresses["meridian"]
        from_peer["firewall"] = {
            "vantage": "tailnet-peer",
            "expect": [{"target": f"{addresses['meridian']}:{p}", "state": "open"} for p in ports]
            + [{"target": f"{addresses['meridian']}:{p}", "state": "closed"} for p in never_open],
            "probe_edge": False,
        }
        put_json(peer, "/etc/telltale/stack.json", from_peer)
        assert_scenarios(check(peer, "/etc/telltale/stack.json", ["firewall"]), ["firewall"])

    with subtest("internet: every port closed, only the ingestion paths pass the edge"):
        from_internet = dict(stack)
        from_internet["host"] = "meridian"
        # A real DSN, re-pointed at the edge: the harness proves store and envelope pass.
        dsns = bootstrap_glitchtip(meridian, "/etc/telltale/stack.json")
        dsn = dsns["be-platform"]["dsn"]
        key, project = dsn.split("://", 1)[1].split("@", 1)[0], dsn.rstrip("/").rsplit("/", 1)[1]
        put_secret(internet, "/run/secrets/observability/edge-dsn", f"http://{key}@meridian:8080/{project}")
        from_internet["edge"] = {
            "url": "http://meridian:8080",
            "dsn": {"file": "/run/secrets/observability/edge-dsn"},
        }
        from_internet["firewall"] = {
            "vantage": "internet",
            "expect": [{"target": f"meridian:{p}", "state": "closed"} for p in ports + never_open]
            + [{"target": "meridian:8080", "state": "open"}],
            "probe_edge": True,
        }
        put_json(internet, "/etc/telltale/stack.json", from_internet)
        assert_scenarios(check(internet, "/etc/telltale/stack.json", ["firewall"]), ["firewall"])

    with subtest("internet over IPv6: every port closed, the edge answers"):
        meridian_v6 = meridian.succeed(
            "ip -6 -o addr show dev eth1 scope global | awk '{print $4}' | cut -d/ -f1 | head -n 1"
        ).strip()
        t.assertIn(":", meridian_v6)
        # The positive control first: the route and the edge's [::] listener answer, so a port
        # that does not answer is the firewall, not a missing route.
        t.assertEqual(
            internet.succeed(f"curl -6 -s -o /dev/null -w '%{{http_code}}' --max-time 10 'http://[{meridian_v6}]:8080/'").strip(),
            "404",
        )
        for p in ports + never_open:
            code, _ = internet.execute(f"curl -6 -s -o /dev/null --max-time 5 'http://[{meridian_v6}]:{p}/'")
            # 7: refused, 28: dropped (the NixOS firewall drops by default); never an answer.
            t.assertIn(code, [7, 28], f"[{meridian_v6}]:{p} answered from the internet over IPv6 (curl {code})")

    with subtest("edge: a CORS preflight from the PWA's origin passes to GlitchTip"):
        headers = internet.succeed(
            "curl -s -D - -o /dev/null -X OPTIONS -H 'Origin: https://pwa.example' "
            "-H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type' "
            "http://meridian:8080/api/1/envelope/"
        ).lower()
        t.assertIn(" 200", headers.splitlines()[0], headers)
        t.assertIn("access-control-allow-origin:", headers, headers)
        t.assertIn("access-control-allow-methods:", headers, headers)

    with subtest("edge: tricks are refused before they reach GlitchTip"):
        def status(path: str, method: str = "POST") -> str:
            return internet.succeed(
                f"curl -s -o /dev/null -w '%{{http_code}}' -X {method} --path-as-is "
                f"-H 'Content-Type: application/json' --data '{{}}' 'http://meridian:8080{path}'"
            ).strip()

        # What GlitchTip answers for a real ingestion path without a key: not nginx's 404.
        t.assertNotEqual(status("/api/1/store/"), "404")
        t.assertNotEqual(status("/api/1/envelope/"), "404")
        for path in [
            "/",
            "/api/0/",
            "/api/0/organizations/",
            "/api/1/store",
            "/api/1/store/x",
            "/api/x/store/",
            "/api/1/events/",
            "/api/1/store/../../0/users/",
            "/api/1/envelope/%2e%2e/%2e%2e/0/users/",
            "/api/0/users/..%2f..%2fapi/1/store/",
            "/api/1/%73tore/",
            "//api/1/store/",
            "/api/1//store/",
            "/api/1/store/;/",
            "/static/",
            "/admin/",
        ]:
            t.assertIn(status(path), ["400", "404"], f"{path} must not reach GlitchTip")
        t.assertIn(status("/api/1/store/", "GET"), ["403", "404", "405"])
  '';
}
