# `nix run`: the one-shot local deployment with the pinned nats-server and ClickHouse.
#
#   nix run . -- --state-dir ./state     # exchanges when reachable, else the simulator
#   nix run .#sim                        # offline demo with the simulator
#
# Both run `marketprism up`; `marketprism status|down|logs --state-dir DIR` manage the result.
{ pkgs, marketprism }:
let
  up =
    name: extraArgs:
    pkgs.writeShellApplication {
      inherit name;
      runtimeInputs = [ marketprism ];
      text = ''
        export MARKETPRISM_NATS_SERVER=${pkgs.nats-server}/bin/nats-server
        export MARKETPRISM_CLICKHOUSE_SERVER=${pkgs.clickhouse}/bin/clickhouse
        exec marketprism up ${extraArgs} "$@"
      '';
    };
in
{
  default = {
    type = "app";
    program = pkgs.lib.getExe (up "marketprism-up" "");
  };
  sim = {
    type = "app";
    program = pkgs.lib.getExe (up "marketprism-up-sim" "--sim");
  };
}
