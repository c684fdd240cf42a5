# What a build of the tests would check, taken from the evaluated systems and test drivers without
# building anything: `cargo xtask vm-test --check` reads it (`nix-instantiate --eval --strict --json
# -A checks`) and runs the same checkers nixpkgs' builders run (shellcheck, loki -verify-config,
# promtool, nginx, ty/ruff, plus mypy) on the same texts.
{
  lib,
  tests,
  systems,
}:

let
  # writeShellApplication's derivation keeps its script in `text` and runs shellcheck from its
  # `checkPhase`; anything else in systemPackages is not ours to check.
  isShellApplication =
    p:
    lib.isDerivation p && p ? text && lib.isString (p.checkPhase or null) && lib.hasInfix "shellcheck" p.checkPhase;

  # nixpkgs' prometheus module builds prometheus.yml from these options the same way (its
  # filterValidPrometheus drops `_module` and nulls); the derivation's text is not reachable
  # without a build.
  filterValid =
    x:
    if lib.isAttrs x && !lib.isDerivation x then
      lib.mapAttrs (_: filterValid) (lib.filterAttrs (n: v: !(n == "_module" || v == null)) x)
    else if lib.isList x then
      map filterValid x
    else
      x;

  perSystem =
    label: c:
    let
      prom = c.services.prometheus;
      etc = c.environment.etc;
      meridian = c.services.meridian-observability or { };
      alloyUnit = c.systemd.services.alloy.serviceConfig or { };
    in
    {
      inherit label;
      shellApplications = map (p: {
        inherit (p) name text checkPhase;
      }) (lib.unique (lib.filter isShellApplication (c.environment.systemPackages ++ (meridian.internal.shellApplications or [ ]))));
      loki =
        if c.services.loki.enable && c.services.loki.configFile == null then
          builtins.toJSON c.services.loki.configuration
        else
          null;
      prometheus =
        if prom.enable && prom.configText == null then
          {
            config = builtins.toJSON (filterValid {
              global = prom.globalConfig;
              scrape_configs = prom.scrapeConfigs;
              remote_write = prom.remoteWrite;
              remote_read = prom.remoteRead;
              alerting.alertmanagers = prom.alertmanagers;
            });
            rules = lib.concatStringsSep "\n" prom.rules;
          }
        else
          null;
      nginx = if c.services.nginx.enable then (etc."nginx/nginx.conf".source.text or null) else null;
      alloy = etc."alloy/config.alloy".text or null;
      # The Faro key path: the credential systemd hands Alloy, what runs before Alloy starts, and
      # the file Alloy's config reads.
      faro =
        if lib.any (lib.hasPrefix "faro-api-key:") (lib.toList (alloyUnit.LoadCredential or [ ])) then
          {
            preStart = map toString (lib.toList (alloyUnit.ExecStartPre or [ ]));
            runtimeDirectory = alloyUnit.RuntimeDirectory or null;
          }
        else
          null;
      stackJson = etc."telltale/stack.json".text or null;
      glitchtipEnvironment = c.systemd.services.glitchtip.environment or { };
      hasTelltale = lib.any (p: (p.pname or "") == "telltale") c.environment.systemPackages;
      # Directories systemd-tmpfiles creates at boot (settings form; `d` lines of rules).
      tmpfilesDirs =
        lib.concatMap (lib.attrNames) (lib.attrValues c.systemd.tmpfiles.settings)
        ++ lib.concatMap (
          r:
          let
            words = lib.filter (w: w != "") (lib.splitString " " r);
          in
          lib.optional (lib.length words > 1 && lib.elem (lib.head words) [ "d" "D" ]) (lib.elemAt words 1)
        ) c.systemd.tmpfiles.rules;
    };
in
{
  systems =
    lib.mapAttrsToList perSystem systems
    ++ lib.concatLists (
      lib.mapAttrsToList (
        test: t: lib.mapAttrsToList (node: n: perSystem "${test}/${node}" n) t.config.nodes
      ) tests
    );
  testScripts = lib.mapAttrsToList (name: t: {
    inherit name;
    nodes = lib.attrNames t.config.nodes;
    script = t.config.driver.testScript;
    # The driver's own build command holds the type hints it prepends (one line per machine).
    buildCommand = t.config.driver.buildCommand;
  }) tests;
}
