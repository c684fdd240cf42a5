# backup-restore: record dashboards, users and issues, run both backup jobs, destroy Grafana's
# database and GlitchTip's, restore with the documented commands, and verify everything is back.
# Also proves the rotation keeps exactly 7 and 14 artefacts.
{ meridian, harness, vmSize, ... }:
{
  name = "meridian-backup-restore";
  nodes.meridian = {
    imports = [ meridian ];
    virtualisation = vmSize;
  };
  testScript = harness + ''
    import time

    start_all()
    wait_for_stack(meridian)
    bootstrap_glitchtip(meridian, "/etc/telltale/stack.json")

    # Something worth restoring: events in both projects (the sentry scenario sends them) and a
    # dashboard made through Grafana's API.
    seeded = check(meridian, "/etc/telltale/stack.json", ["sentry-to-glitchtip", "grafana"])
    assert_scenarios(seeded, ["sentry-to-glitchtip", "grafana"])
    meridian.succeed(
        "printf 'user = \"admin:%s\"\\n' \"$(cat /var/lib/meridian-secrets/observability/grafana-admin)\" "
        "| curl -fsS -K - -H 'Content-Type: application/json' "
        "--data '{\"dashboard\": {\"title\": \"telltale restore probe\", \"panels\": []}, \"overwrite\": true}' "
        "http://127.0.0.1:3000/api/dashboards/db"
    )

    stack = stack_description(meridian)
    stack["backup"]["state_file"] = "/var/lib/telltale/backup-state.json"
    stack["backup"]["phase"] = "record"
    put_json(meridian, "/etc/telltale/record.json", stack)
    stack["backup"]["phase"] = "verify"
    put_json(meridian, "/etc/telltale/verify.json", stack)

    with subtest("backup jobs write artefacts"):
        meridian.succeed("systemctl start meridian-backup-grafana.service meridian-backup-glitchtip.service")
        meridian.succeed("ls /var/lib/observability/backup/grafana/grafana-*.db")
        meridian.succeed("ls /var/lib/observability/backup/glitchtip/glitchtip-*.dump")

    recorded = check(meridian, "/etc/telltale/record.json", ["backup"])
    assert_scenarios(recorded, ["backup"])

    with subtest("destroy"):
        meridian.succeed("systemctl stop grafana.service")
        meridian.succeed("rm -f /var/lib/observability/grafana/data/grafana.db*")
        meridian.succeed("systemctl start grafana.service")
        meridian.succeed("systemctl stop glitchtip.service glitchtip-worker.service")
        pg = "runuser -u meridian-postgres -- {} --host=/run/meridian-postgresql --port=5433 "
        meridian.succeed(pg.format("dropdb") + "glitchtip")
        meridian.succeed(pg.format("createdb") + "--owner=glitchtip glitchtip")
        meridian.succeed("systemctl start glitchtip.service glitchtip-worker.service")
        meridian.wait_for_open_port(3000)
        meridian.wait_for_open_port(8200)
        # The admin and the harness's token went with the database: put them back (the same
        # token, from its file), so verify can read GlitchTip and report what is missing.
        meridian.succeed("systemctl restart meridian-glitchtip-admin.service meridian-test-glitchtip-token.service")
        # The fresh stack has lost what was recorded: verify must fail now.
        lost = check(meridian, "/etc/telltale/verify.json", ["backup"])
        t.assertEqual(lost["scenarios"][0]["status"], "failed", json.dumps(lost["scenarios"][0], indent=2))

    with subtest("restore with the documented commands"):
        meridian.succeed("meridian-restore-grafana")
        meridian.succeed("meridian-restore-glitchtip")
        meridian.wait_for_open_port(3000)
        meridian.wait_for_open_port(8200)
        meridian.wait_until_succeeds("curl -fsS http://127.0.0.1:3000/api/health", timeout=120)

    verified = check(meridian, "/etc/telltale/verify.json", ["backup"])
    assert_scenarios(verified, ["backup"])
    with subtest("the probe dashboard is back"):
        meridian.succeed(
            "printf 'user = \"admin:%s\"\\n' \"$(cat /var/lib/meridian-secrets/observability/grafana-admin)\" "
            "| curl -fsS -K - 'http://127.0.0.1:3000/api/search?query=telltale%20restore%20probe' "
            "| grep -q 'telltale restore probe'"
        )

    with subtest("rotation keeps 7 Grafana snapshots and 14 GlitchTip dumps"):
        for _ in range(16):
            meridian.succeed("systemctl start meridian-backup-grafana.service meridian-backup-glitchtip.service")
            time.sleep(1.1)  # the artefacts are named by the second
        t.assertEqual(meridian.succeed("ls /var/lib/observability/backup/grafana/grafana-*.db | wc -l").strip(), "7")
        t.assertEqual(meridian.succeed("ls /var/lib/observability/backup/glitchtip/glitchtip-*.dump | wc -l").strip(), "14")
  '';
}
