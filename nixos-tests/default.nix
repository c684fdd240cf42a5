# The meridian VM tests: one attribute per test (`nix-build nixos-tests -A delivery`), plus
# `module` (a meridian system with only the module, for evaluation) and `telltale` (the harness).
# `cargo xtask vm-test` drives this file; see README.md.
{
  # A nixpkgs checkout to use instead of the pin in ./nixpkgs.json (offline evaluation, bisecting).
  nixpkgs ? null,
  # The module under test: ours by default, or a nixos-config's own (`vm-test --module PATH`).
  module ? ./module,
  # A flake reference whose `nixosModules.meridian-observability` (or `.default`) is the module
  # under test (`vm-test --flake REF`); wins over `module`.
  flake ? null,
  system ? builtins.currentSystem,
  # Evaluation only: import nixpkgs past its minimum-Nix check, for machines whose Nix is older
  # than the pinned nixpkgs wants (Debian's nix-bin 2.8). Never set it to build or run tests.
  allowOldNix ? false,
}:

let
  pin = builtins.fromJSON (builtins.readFile ./nixpkgs.json);
  nixpkgsSrc =
    if nixpkgs != null then
      nixpkgs
    else
      builtins.fetchTarball {
        url = "https://github.com/${pin.owner}/${pin.repo}/archive/${pin.rev}.tar.gz";
        inherit (pin) sha256;
      };
  importNixpkgs = if allowOldNix then import (nixpkgsSrc + "/pkgs/top-level/impure.nix") else import nixpkgsSrc;
  pkgs = importNixpkgs {
    inherit system;
    config = { };
    overlays = [ ];
  };
  inherit (pkgs) lib;

  meridianModule =
    if flake != null then
      let
        modules = (builtins.getFlake flake).nixosModules;
      in
      modules.meridian-observability or modules.default
    else
      module;

  telltale = pkgs.callPackage ./lib/telltale.nix { };
  common = {
    inherit pkgs lib telltale;
    meridian = import ./lib/meridian.nix { inherit meridianModule telltale; };
    tailnet = import ./lib/tailnet.nix { inherit pkgs; };
    # Prepended to every testScript, so each one has the same helpers and the checkers see them.
    harness = builtins.readFile ./lib/harness.py;
    # Every node that runs the harness itself (the tailnet peer, the internet host).
    harnessHost =
      { pkgs, ... }:
      {
        environment.systemPackages = [
          telltale
          pkgs.curl
          pkgs.jq
        ];
      };
    # The meridian VM: the stack wants about 2.5 GB at rest (GlitchTip's 1.5 GB budget, Loki,
    # Prometheus, Grafana, Alloy, PostgreSQL, Redis), so 4 GB leaves room for bursts.
    vmSize = {
      memorySize = 4096;
      cores = 2;
      diskSize = 4096;
    };
  };

  evalSystem =
    extra:
    import (nixpkgsSrc + "/nixos/lib/eval-config.nix") {
      inherit system pkgs;
      modules = [
        common.meridian
        {
          boot.loader.grub.device = "nodev";
          fileSystems."/" = {
            device = "/dev/vda";
            fsType = "ext4";
          };
          system.stateVersion = "25.11";
        }
      ]
      ++ extra;
    };
  bare = evalSystem [ ];

  # A host that already runs nixpkgs' PostgreSQL (5432, its own data directory): the module must
  # run GlitchTip's instance beside it and leave the host's untouched.
  withHostPostgres = evalSystem [ { services.postgresql.enable = true; } ];
  hostPostgres =
    let
      c = withHostPostgres.config;
      reference = (evalSystem [ { services.meridian-observability.enable = lib.mkForce false; services.postgresql.enable = true; } ]).config;
      glitchtipDb = c.systemd.services.meridian-postgresql.serviceConfig.ExecStart or "";
    in
    assert lib.assertMsg (
      c.services.postgresql.settings.port == 5432
    ) "the module moved the host's PostgreSQL to port ${toString c.services.postgresql.settings.port}";
    assert lib.assertMsg (
      c.services.postgresql.dataDir == reference.services.postgresql.dataDir
    ) "the module moved the host's PostgreSQL data directory to ${c.services.postgresql.dataDir}";
    assert lib.assertMsg (lib.hasInfix "port=5433" glitchtipDb)
      "GlitchTip's own PostgreSQL (meridian-postgresql.service, port 5433) is missing";
    c.system.build.toplevel;

  testNames = [
    "delivery"
    "firewall"
    "backup-restore"
    "retention"
    "faults"
    "load"
    "resilience"
    "podman-apps"
  ];
  tests = lib.genAttrs testNames (name: pkgs.testers.runNixOSTest (import (./tests + "/${name}.nix") common));
in
tests
// {
  inherit telltale;
  # The module on a bare meridian system: `nix-instantiate -A module` evaluates every option and
  # assertion without a VM; `nix-instantiate --eval --strict -A stackJson` prints the description.
  module = bare.config.system.build.toplevel;
  inherit hostPostgres;
  # What a build would check, for `cargo xtask vm-test --check` (see lib/checks.nix).
  checks = import ./lib/checks.nix {
    inherit lib tests;
    systems = {
      module = bare.config;
      hostPostgres = withHostPostgres.config;
    };
  };
  stackJson = bare.config.environment.etc."telltale/stack.json".text;
}
