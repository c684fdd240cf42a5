# The harness binary, built from this workspace with nixpkgs' Rust builder and the workspace's own
# Cargo.lock (every crate is fetched by the checksum Cargo recorded).
{ lib, rustPlatform }:

let
  root = ../..;
in
rustPlatform.buildRustPackage {
  pname = "telltale";
  version = (builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"))).workspace.package.version;

  # Only what cargo needs: a change to the docs or the tests here does not rebuild the harness.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/Cargo.toml")
      (root + "/Cargo.lock")
      (root + "/.cargo")
      (root + "/crates")
      (root + "/xtask")
    ];
  };
  cargoLock.lockFile = root + "/Cargo.lock";

  # `telltale-journald-send` too: the journald-to-loki scenario moves it into the app unit's cgroup
  # so journald attributes its lines to that unit, and finds it beside `telltale`.
  cargoBuildFlags = [
    "--package"
    "telltale"
    "--package"
    "telltale-journald"
  ];
  # The workspace's tests run in `cargo xtask ci`; here only the binary matters.
  doCheck = false;

  meta = {
    description = "End-to-end checks of the meridian observability stack";
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "telltale";
  };
}
