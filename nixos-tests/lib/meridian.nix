# The meridian node: the observability module (ours, or the one `cargo xtask vm-test --module`
# passes), the stand-in applications, tailscale, and test secrets generated at first boot inside the VM
# (so no secret is ever in the Nix store, even in tests).
{ meridianModule, telltale }:
{ config, lib, pkgs, ... }:

let
  # On the VM's disk, not /run: the resilience test reboots meridian, and Grafana keeps the admin
  # password it first started with (sops-nix and agenix also keep their sources on disk).
  secrets = "/var/lib/meridian-secrets/observability";
  cfg = config.services.meridian-observability;
in
{
  imports = [
    meridianModule
    ./apps.nix
  ];

  services.tailscale.enable = true;

  services.meridian-observability = {
    enable = true;
    glitchtip.adminEmail = "admin@meridian.test";
    stackDescription.glitchtipTokenFile = "${secrets}/glitchtip-token";
    secrets = {
      grafanaAdminPasswordFile = "${secrets}/grafana-admin";
      grafanaSecretKeyFile = "${secrets}/grafana-secret-key";
      grafanaOperatorPasswordFile = "${secrets}/grafana-operator";
      glitchtipEnvFile = "${secrets}/glitchtip.env";
      glitchtipAdminPasswordFile = "${secrets}/glitchtip-admin";
      faroApiKeyFile = "${secrets}/faro-api-key";
    };
  };

  # Random secrets, made before anything reads them. In production sops-nix or agenix put files
  # at the same kind of path.
  systemd.services.meridian-test-secrets = {
    description = "Generate the test's secrets";
    wantedBy = [ "multi-user.target" ];
    before = [
      "grafana.service"
      "glitchtip.service"
      "glitchtip-worker.service"
      "alloy.service"
      "meridian-glitchtip-admin.service"
      "meridian-grafana-operator.service"
    ];
    requiredBy = [
      "grafana.service"
      "glitchtip.service"
      "glitchtip-worker.service"
    ];
    unitConfig.DefaultDependencies = false;
    after = [ "local-fs.target" ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
    };
    path = [ pkgs.coreutils ];
    script = ''
      umask 077
      mkdir -p ${secrets}
      rnd() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
      for f in grafana-admin grafana-secret-key grafana-operator glitchtip-admin faro-api-key; do
        [ -s ${secrets}/$f ] || rnd > ${secrets}/$f
      done
      [ -s ${secrets}/glitchtip.env ] || echo "SECRET_KEY=$(rnd)$(rnd)" > ${secrets}/glitchtip.env
      # Grafana reads its files itself (file provider), as user grafana.
      chgrp grafana ${secrets}/grafana-admin ${secrets}/grafana-secret-key
      chmod 0640 ${secrets}/grafana-admin ${secrets}/grafana-secret-key
      chmod 0755 /var/lib/meridian-secrets ${secrets}
    '';
  };

  # A GlitchTip API token for the harness, minted for the first admin through Django's shell. This
  # is test plumbing: in production the operator creates a token in the UI and hands over its file.
  systemd.services.meridian-test-glitchtip-token = {
    description = "Mint a GlitchTip API token for the harness";
    wantedBy = [ "multi-user.target" ];
    after = [ "meridian-glitchtip-admin.service" ];
    requires = [ "meridian-glitchtip-admin.service" ];
    path = [ "/run/current-system/sw" ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
    };
    # The token is kept in its file: when GlitchTip's database is lost (the backup-restore test
    # drops it on purpose), a restart of this unit puts the same token back for the same admin,
    # so the harness keeps its credential and reports what was lost rather than a 401.
    script = ''
      umask 077
      # glitchtip-manage runs Django as user glitchtip (sudo -E), which cannot read the root-only
      # file: the kept token travels in the environment, never on a command line.
      TELLTALE_KEPT_TOKEN=$(cat ${secrets}/glitchtip-token 2>/dev/null || true)
      export TELLTALE_KEPT_TOKEN
      glitchtip-manage shell -c '
      from django.contrib.auth import get_user_model
      from apps.api_tokens.models import APIToken
      import os
      user = get_user_model().objects.get(email="${cfg.glitchtip.adminEmail}")
      kept = os.environ.get("TELLTALE_KEPT_TOKEN", "").strip()
      if kept and APIToken.objects.filter(token=kept).exists():
          print(kept)
      else:
          token = APIToken(user=user, label="telltale")
          if kept:
              token.token = kept
          field = APIToken._meta.get_field("scopes")
          flags = getattr(field, "flags", None)
          # Every scope: a bit field in GlitchTip 4, a list of scope names in later releases.
          token.scopes = (1 << len(flags)) - 1 if flags else [c[0] for c in field.base_field.choices]
          token.save()
          print(token.token)
      ' | tail -n 1 > ${secrets}/glitchtip-token.part
      mv ${secrets}/glitchtip-token.part ${secrets}/glitchtip-token
    '';
  };

  # The harness's own state (the backup scenario's record), which nothing else creates.
  systemd.tmpfiles.settings.telltale."/var/lib/telltale".d = {
    mode = "0700";
    user = "root";
    group = "root";
  };

  environment.systemPackages = [
    telltale
    pkgs.curl
    pkgs.jq
  ];
}
