# A real Tailscale network, offline: nixpkgs' headscale module as the control server (with its
# embedded DERP relay) behind nginx with a self-signed certificate, as nixpkgs' own
# nixos/tests/headscale.nix does. Every other node trusts the certificate and runs tailscaled;
# `tailnet_up` in harness.py joins them.
{ pkgs, ... }:

let
  tlsCert = pkgs.runCommand "headscale-test-cert" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    openssl req -x509 -newkey rsa:2048 -sha256 -days 3650 -nodes \
      -out cert.pem -keyout key.pem \
      -subj '/CN=headscale' -addext "subjectAltName=DNS:headscale"
    mkdir -p $out
    cp key.pem cert.pem $out
  '';
  headscalePort = 8080;
  stunPort = 3478;
in
{
  # For every node on the tailnet.
  member = {
    services.tailscale.enable = true;
    security.pki.certificateFiles = [ "${tlsCert}/cert.pem" ];
  };

  headscale = {
    virtualisation.memorySize = 768;
    services.headscale = {
      enable = true;
      port = headscalePort;
      settings = {
        server_url = "https://headscale";
        prefixes.v4 = "100.64.0.0/10";
        derp = {
          server = {
            enabled = true;
            region_id = 999;
            stun_listen_addr = "0.0.0.0:${toString stunPort}";
          };
          urls = [ ];
        };
        dns = {
          base_domain = "tailnet";
          override_local_dns = false;
        };
      };
    };
    services.nginx = {
      enable = true;
      virtualHosts.headscale = {
        addSSL = true;
        sslCertificate = "${tlsCert}/cert.pem";
        sslCertificateKey = "${tlsCert}/key.pem";
        locations."/" = {
          proxyPass = "http://127.0.0.1:${toString headscalePort}";
          proxyWebsockets = true;
        };
      };
    };
    networking.firewall = {
      allowedTCPPorts = [
        80
        443
      ];
      allowedUDPPorts = [ stunPort ];
    };
    environment.systemPackages = [ pkgs.headscale ];
  };
}
