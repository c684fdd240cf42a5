# services.meridian-observability.tracing: an optional Tempo (nixpkgs' services.tempo) fed by Alloy's
# OTLP traces output, a Grafana datasource for it (trace -> logs through the Loki datasource), and the
# `[tempo]` section of the harness's stack description. OFF by default: meridian v1 is unchanged
# (Alloy keeps dropping traces, and the harness runs `otlp-traces-accepted` only).
#
# default.nix reads two values from here, so that this file owns everything about tracing:
# `tracing.alloyTracesInput` (where Alloy's OTLP receiver sends traces) and `tracing.stackSection`
# (null, or the stack description's `tempo` object).
{
  config,
  lib,
  ...
}:

let
  inherit (lib) mkIf mkOption mkEnableOption types;
  cfg = config.services.meridian-observability;
  t = cfg.tracing;
  q = builtins.toJSON;
in
{
  options.services.meridian-observability.tracing = {
    enable = mkEnableOption "Tempo, fed with the traces Alloy receives over OTLP";
    port = mkOption {
      type = types.port;
      default = 3200;
      description = "Tempo's HTTP API (queried by Grafana and the harness).";
    };
    otlpGrpcPort = mkOption {
      type = types.port;
      default = 4417;
      description = "Tempo's own OTLP gRPC receiver, on loopback only (Alloy's 4317 stays the public one).";
    };
    retention = mkOption {
      type = types.str;
      default = "336h";
      description = "How long Tempo keeps trace blocks (compactor block_retention).";
    };
    alloyTracesInput = mkOption {
      type = types.str;
      internal = true;
      readOnly = true;
      default = if t.enable then "otelcol.exporter.otlp.tempo.input" else "otelcol.processor.batch.drop_traces.input";
      description = "The Alloy component Alloy's OTLP receiver sends traces to.";
    };
    alloyConfig = mkOption {
      type = types.lines;
      internal = true;
      readOnly = true;
      default = lib.optionalString t.enable ''
        // Traces -> Tempo's own OTLP gRPC receiver on loopback (tracing.nix).
        otelcol.exporter.otlp "tempo" {
          client {
            endpoint = ${q "127.0.0.1:${toString t.otlpGrpcPort}"}
            tls {
              insecure = true
            }
          }
        }
      '';
      description = "River appended to Alloy's configuration.";
    };
    stackSection = mkOption {
      type = types.nullOr types.attrs;
      internal = true;
      readOnly = true;
      default = if t.enable then { port = t.port; } else null;
      description = "The `tempo` object of the harness's stack description, or null.";
    };
  };

  config = mkIf (cfg.enable && t.enable) {
    services.tempo = {
      enable = true;
      settings = {
        server = {
          http_listen_address = "0.0.0.0";
          http_listen_port = t.port;
          grpc_listen_address = "127.0.0.1";
          grpc_listen_port = 9296;
        };
        distributor.receivers.otlp.protocols.grpc.endpoint = "127.0.0.1:${toString t.otlpGrpcPort}";
        compactor.compaction.block_retention = t.retention;
        storage.trace = {
          backend = "local";
          wal.path = "/var/lib/tempo/wal";
          local.path = "/var/lib/tempo/blocks";
        };
        usage_report.reporting_enabled = false;
      };
    };

    environment.etc."alloy/config.alloy".text = lib.mkAfter t.alloyConfig;

    # Tempo's API on the tailnet only, like every other service of the stack.
    networking.firewall.interfaces.${cfg.tailnetInterface}.allowedTCPPorts = [ t.port ];

    services.grafana.provision.datasources.settings.datasources = [
      {
        name = "Tempo";
        uid = "tempo";
        type = "tempo";
        access = "proxy";
        url = "http://127.0.0.1:${toString t.port}";
        editable = false;
        jsonData.tracesToLogsV2 = {
          datasourceUid = "loki";
          filterByTraceID = true;
        };
      }
    ];
  };
}
