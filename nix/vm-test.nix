# NixOS VM test: the module with local NATS, ClickHouse, the simulator, the gateway and
# Prometheus; passes when trades reach ClickHouse, every unit is healthy, the gateway reads
# both servers as its own identities, the servers admit only the generated identities, and
# Prometheus loads the rules and scrapes every service.
{ pkgs, module }:
pkgs.testers.runNixOSTest {
  name = "marketprism";

  nodes.machine = {
    imports = [ module ];
    virtualisation.memorySize = 4096;
    virtualisation.cores = 2;
    environment.systemPackages = [
      pkgs.curl
      pkgs.netcat
    ];
    services.marketprism = {
      enable = true;
      nats.enable = true;
      clickhouse.enable = true;
      sim.enable = true;
      gateway.enable = true;
      monitoring.prometheus.enable = true;
    };
    services.prometheus.enable = true;
  };

  testScript = ''
    machine.wait_for_unit("marketprism-credentials.service")
    machine.succeed("test $(stat -c %a /var/lib/marketprism-credentials) = 700")
    machine.succeed("test $(stat -c %a /var/lib/marketprism-credentials/storage.nkey) = 600")
    machine.wait_for_unit("nats.service")
    machine.wait_for_unit("clickhouse.service")
    machine.wait_for_unit("marketprism-migrate.service")
    machine.wait_for_unit("marketprism-streams-init.service")
    machine.wait_for_unit("marketprism-storage.service")
    machine.wait_for_unit("marketprism-collector.service")
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:9101/ready", timeout=120)
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:9102/ready", timeout=120)
    reader = "marketprism_reader:$(cat /var/lib/marketprism-credentials/reader.clickhouse-password)"
    machine.wait_until_succeeds(
        f"test $(curl -sf -u \"{reader}\" 'http://127.0.0.1:8123/?query=SELECT%20count()%20FROM%20marketprism.trades%20FINAL') -gt 0",
        timeout=180,
    )
    # Nobody else: ClickHouse refuses a query without credentials and a write by the reader,
    # nats-server a client without an nkey.
    machine.fail("curl -sf 'http://127.0.0.1:8123/?query=SELECT%201'")
    machine.fail(
        f"curl -sf -u \"{reader}\" --data-binary 'CREATE TABLE marketprism.forged (x UInt8) ENGINE = Memory' http://127.0.0.1:8123/"
    )
    machine.succeed("printf 'CONNECT {\"verbose\":true}\\r\\nPING\\r\\n' | timeout 5 nc 127.0.0.1 4222 | grep -q 'Authorization Violation'")
    machine.succeed("curl -sf http://127.0.0.1:9101/metrics | grep -q 'marketprism_collector_events_published_total'")
    # The gateway reads ClickHouse as marketprism_reader and asks NATS for storage's consumer
    # with its own nkey.
    machine.wait_for_unit("marketprism-gateway.service")
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:9104/ready", timeout=120)
    machine.wait_until_succeeds(
        "curl -sf http://127.0.0.1:9104/v1/status | grep -q '\"symbol\":\"BTC-USDT\"'",
        timeout=60,
    )
    machine.succeed(
        "curl -sf http://127.0.0.1:9104/v1/status | grep -q '\"durable\":\"marketprism-storage\",\"pending\":[0-9]'"
    )
    machine.succeed("curl -sf http://127.0.0.1:9104/ | grep -q '<title>MarketPrism status</title>'")
    # Prometheus has the rules and scrapes the collector, storage, backfill and gateway.
    machine.wait_for_unit("prometheus.service")
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:9090/api/v1/rules | grep -q MarketPrismServiceDown", timeout=60)
    machine.wait_until_succeeds(
        "curl -sfG http://127.0.0.1:9090/api/v1/query --data-urlencode 'query=count(up{job=~\"marketprism-.+\"} == 1) == 4' | grep -q '\"value\"'",
        timeout=180,
    )

    # A NATS outage: the collector spools in its state directory and is not ready, then
    # republishes and is ready again.
    machine.succeed("systemctl kill --signal=SIGSTOP nats.service")
    machine.wait_until_fails("curl -sf http://127.0.0.1:9101/ready", timeout=60)
    machine.wait_until_succeeds(
        "curl -s http://127.0.0.1:9101/ready | grep -q 'spool at /var/lib/marketprism-collector/spool'",
        timeout=60,
    )
    machine.succeed("systemctl kill --signal=SIGCONT nats.service")
    machine.wait_until_succeeds("curl -sf http://127.0.0.1:9101/ready", timeout=120)
  '';
}
