# services.meridian-observability.alerting: an optional Alertmanager beside the stack's Prometheus, OFF by
# default, wired the way `telltale check --scenario alert-delivery` proves end to end:
# - Prometheus loads telltale's canary rule (./alerting/telltale-canary-rules.yml, the very file
#   crates/telltale/tests/check_alert.rs runs in real Prometheus and Alertmanager) and sends to this
#   Alertmanager on loopback;
# - the route sends alertname="TelltaleAlertProbe", grouped per alertname and run, to a webhook receiver
#   named "telltale" at telltale's listener (`telltaleWebhook`), and every other alert to the operators'
#   webhooks (`webhookUrls`), resolved notifications included;
# - gossip is off (a single Alertmanager needs no cluster port), and nothing listens beyond loopback.
# The matching `[alertmanager]` section of the harness's stack description is
# `services.meridian-observability.stackDescription.alertmanager` (null while this is off).
{
  config,
  lib,
  ...
}:

let
  cfg = config.services.meridian-observability;
  acfg = cfg.alerting;
  inherit (lib)
    mkOption
    mkEnableOption
    mkIf
    types
    ;
  canaryAlert = "TelltaleAlertProbe";
in
{
  options.services.meridian-observability.alerting = {
    enable = mkEnableOption "Alertmanager, with telltale's canary alert rule and a route to its webhook";
    port = mkOption {
      type = types.port;
      default = 9093;
      description = "Alertmanager's port, on 127.0.0.1.";
    };
    telltaleWebhook = mkOption {
      type = types.str;
      default = "127.0.0.1:9099";
      description = "The host:port telltale's alert-delivery webhook listens on (`webhook_listen` in the stack description).";
    };
    webhookUrls = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Webhooks (a Discord or Slack relay) that receive every alert except telltale's canary.";
    };
    ruleFiles = mkOption {
      type = types.listOf types.path;
      default = [ ];
      description = "Further rule files for Prometheus (the SLO and stack-health rule pack).";
    };
  };

  options.services.meridian-observability.stackDescription.alertmanager = mkOption {
    type = types.nullOr (types.attrsOf types.anything);
    internal = true;
    readOnly = true;
    default =
      if cfg.enable && acfg.enable then
        {
          port = acfg.port;
          url = null;
          auth = null;
          webhook_listen = acfg.telltaleWebhook;
          receiver = "telltale";
          alert_name = canaryAlert;
          metric = "telltale_alert_probe";
          remote_write_path = "/api/v1/write";
          labels.severity = "info";
          annotations.summary = "telltale alert-delivery probe {run}";
        }
      else
        null;
    description = "The stack description's [alertmanager] section for this configuration.";
  };

  config = mkIf (cfg.enable && acfg.enable) {
    services.prometheus = {
      ruleFiles = [ ./alerting/telltale-canary-rules.yml ] ++ acfg.ruleFiles;
      # The canary fires within one evaluation; the default minute would eat most of the
      # harness's 90-second deadline.
      globalConfig.evaluation_interval = "15s";
      alertmanagers = [ { static_configs = [ { targets = [ "127.0.0.1:${toString acfg.port}" ]; } ]; } ];
      alertmanager = {
        enable = true;
        listenAddress = "127.0.0.1";
        port = acfg.port;
        extraFlags = [ "--cluster.listen-address=" ];
        configuration = {
          global.resolve_timeout = "5m";
          route = {
            receiver = "operators";
            group_by = [ "alertname" ];
            group_wait = "30s";
            group_interval = "5m";
            repeat_interval = "4h";
            routes = [
              {
                matchers = [ "alertname=\"${canaryAlert}\"" ];
                receiver = "telltale";
                group_by = [
                  "alertname"
                  "run"
                ];
                group_wait = "1s";
                group_interval = "5s";
              }
            ];
          };
          receivers = [
            {
              name = "operators";
              webhook_configs = map (url: {
                inherit url;
                send_resolved = true;
              }) acfg.webhookUrls;
            }
            {
              name = "telltale";
              webhook_configs = [
                {
                  url = "http://${acfg.telltaleWebhook}/alertmanager";
                  send_resolved = true;
                }
              ];
            }
          ];
        };
      };
    };
  };
}
