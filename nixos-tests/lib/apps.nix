# Stand-ins for the two applications STACK.md names, under the real unit names so Alloy's journald
# pipeline and Prometheus' `be-platform` job see what they would see in production:
# - podman-balanced-engineering-platform.service serves /metrics on 8000 and logs JSON to stderr;
# - podman-be-pwa.service stands in for the PWA's static-file proxy on 8081 and logs to stderr.
# Both log a numbered burst on SIGUSR1, which the faults test counts in Loki.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  standIn = pkgs.writeText "stand-in-app.py" ''
    import http.server
    import json
    import signal
    import sys
    import threading
    import time

    APP = sys.argv[1]
    PORT = int(sys.argv[2])
    BURST = int(sys.argv[3])
    requests = 0


    def log(**fields):
        fields.setdefault("ts", time.time())
        fields.setdefault("app", APP)
        sys.stderr.write(json.dumps(fields) + "\n")
        sys.stderr.flush()


    def burst():
        # A numbered burst at about 200 lines a second, so a restart lands in the middle of it.
        run = int(time.time())
        for seq in range(BURST):
            log(level="info", msg="burst", burst=run, seq=seq)
            time.sleep(0.005)
        log(level="info", msg="burst done", burst=run, count=BURST)


    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            global requests
            requests += 1
            if self.path == "/metrics":
                body = (
                    "# HELP stand_in_requests_total Requests served.\n"
                    "# TYPE stand_in_requests_total counter\n"
                    f"stand_in_requests_total {requests}\n"
                ).encode()
                ctype = "text/plain; version=0.0.4"
            else:
                body = b"<!doctype html><title>be-pwa</title>"
                ctype = "text/html"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            log(level="info", msg="request", path=self.path)


    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=burst, daemon=True).start())
    log(level="info", msg="started", port=PORT)
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
  '';
  unit = app: port: {
    description = "stand-in for ${app}";
    wantedBy = [ "multi-user.target" ];
    # Observability fails open: the applications are ordered against nothing in the stack.
    serviceConfig = {
      ExecStart = "${pkgs.python3.interpreter} -u ${standIn} ${app} ${toString port} 2000";
      DynamicUser = true;
      Restart = "always";
    };
  };
  # The same stand-in as a real image (nixpkgs' dockerTools, no registry), for podman.
  image = pkgs.dockerTools.buildLayeredImage {
    name = "meridian-stand-in";
    tag = "test";
    contents = [ pkgs.python3 ];
    config.Entrypoint = [
      "${pkgs.python3.interpreter}"
      "-u"
      "${standIn}"
    ];
  };
  container = app: port: {
    image = "meridian-stand-in:test";
    imageFile = image;
    cmd = [
      app
      (toString port)
      "2000"
    ];
    # The host's loopback, as the native stand-ins: Prometheus scrapes localhost:8000.
    extraOptions = [ "--network=host" ];
    # Stdout and stderr through conmon into journald, under the podman-<name>.service unit.
    log-driver = "journald";
  };
in
{
  options.meridianTest.podmanApps = lib.mkEnableOption "the stand-in apps as podman containers built with dockerTools (default: plain services under the same unit names)";

  config = lib.mkMerge [
    (lib.mkIf config.meridianTest.podmanApps {
      virtualisation.podman.enable = true;
      virtualisation.oci-containers = {
        backend = "podman";
        containers.balanced-engineering-platform = container "be-platform" 8000;
        containers.be-pwa = container "be-pwa" 8081;
      };
    })
    (lib.mkIf (!config.meridianTest.podmanApps) {
      systemd.services.podman-balanced-engineering-platform = unit "be-platform" 8000;
      systemd.services.podman-be-pwa = unit "be-pwa" 8081;
    })
  ];
}
