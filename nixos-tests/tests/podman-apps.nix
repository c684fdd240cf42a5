# podman-apps: the two applications as real podman containers (images built with nixpkgs'
# dockerTools, no registry), so journald attribution goes through conmon as in production, and
# the harness's journald and scrape scenarios pass against them.
{ meridian, harness, vmSize, ... }:
{
  name = "meridian-podman-apps";
  nodes.meridian = {
    imports = [ meridian ];
    virtualisation = vmSize // {
      memorySize = 4608;
    };
    meridianTest.podmanApps = true;
  };
  testScript = harness + ''
    start_all()
    wait_for_stack(meridian)

    with subtest("the apps are podman containers"):
        out = meridian.succeed("podman ps --format '{{.Names}}'")
        for name in ["balanced-engineering-platform", "be-pwa"]:
            t.assertIn(name, out.split())

    with subtest("a container's own stderr reaches Loki under its unit, through conmon"):
        meridian.wait_until_succeeds(
            "curl -fsS -G http://127.0.0.1:3100/loki/api/v1/query_range "
            "--data-urlencode 'query={service_unit=\"podman-balanced-engineering-platform.service\", app=\"be-platform\"} |= `started`' "
            "--data-urlencode limit=10 | jq -e '.data.result | length > 0'",
            timeout=180,
        )

    report = check(meridian, "/etc/telltale/stack.json", ["journald-to-loki", "scrape-targets-up"])
    assert_scenarios(report, ["journald-to-loki", "scrape-targets-up"])
  '';
}
