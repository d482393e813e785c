# NixOS module: `services.marketprism`.
#
# One systemd unit per service (marketprism-collector, marketprism-storage,
# marketprism-backfill, optionally marketprism-gateway, marketprism-archive and
# marketprism-sim) and two oneshot units: marketprism-streams-init, which creates the
# JetStream streams before the collector, storage and backfill start, and
# marketprism-migrate, which applies the ClickHouse schema before storage and archive start.
# The collector depends on NATS only, so it records while ClickHouse is down. The gateway
# reads ClickHouse as the read-only `marketprism_reader`, and the event stream with an nkey
# of its own.
#
# Settings are freeform TOML (the same keys as the files in `examples/`), checked at build
# time with `marketprism check-config`. Each unit gets a configuration with the sections it
# reads. Secrets are files outside the Nix store, handed with `LoadCredential` to the units
# that read them and to no other.
#
# With the local servers (`nats.enable`, `clickhouse.enable`), `credentials.enable` (on by
# default) gives every unit its own identity, as `marketprism up` does: the oneshot
# marketprism-credentials creates an nkey per identity and a password for those that use
# ClickHouse in /var/lib/marketprism-credentials (0700, files 0600), then writes the
# nats-server configuration (the module's settings plus the users and their permissions)
# and a ClickHouse users.d file that replaces the password-less `default`. Both servers start
# after it and admit only those identities; each unit gets its own secrets.
#
# `nats.cluster` makes the local nats-server a node of a JetStream cluster (routes, replicas);
# `clickhouse.cluster` makes the local ClickHouse a node of a replicated, sharded cluster
# (remote_servers, macros, ZooKeeper or Keeper) and points storage at it.
#
# `monitoring.prometheus.enable` adds the package's alert and recording rules
# (share/marketprism/monitoring) to `services.prometheus` with a scrape job per enabled
# service; `monitoring.grafana.enable` provisions its dashboard in `services.grafana`.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.marketprism;
  settingsFormat = pkgs.formats.toml { };
  exe = lib.getExe cfg.package;

  # A file the units read at run time. Only a string path is accepted: a path literal would
  # be copied into the world-readable store.
  secretFileType = lib.types.nullOr (
    lib.types.pathWith {
      inStore = false;
      absolute = true;
    }
  );

  # Where marketprism-credentials keeps the generated secrets, and writes the servers' files.
  credentialsDir = "/var/lib/marketprism-credentials";
  serverFilesDir = "/run/marketprism-credentials";
  # Generated identities apply to the servers this module runs.
  generatedNats = cfg.credentials.enable && cfg.nats.enable;
  generatedClickhouse = cfg.credentials.enable && cfg.clickhouse.enable;
  generated = generatedNats || generatedClickhouse;

  # A secret handed to a unit: its credential name, its file, and the configuration key
  # naming the unit's copy. systemd places a unit's credentials in /run/credentials/<unit>/.
  mkSecret = name: file: key: { inherit name file key; };
  # The operator's `file`, when set.
  operatorSecret = name: file: key: if file != null then mkSecret name file key else null;
  # NATS: the identity's generated nkey seed, or the operator's `.creds` file.
  natsSecret =
    identity:
    if generatedNats then
      mkSecret "nats-nkey" "${credentialsDir}/${identity}.nkey" "nkey_seed_file"
    else
      operatorSecret "nats-creds" cfg.nats.credentialsFile "credentials_file";
  # ClickHouse: the identity's generated password, or the operator's file.
  clickhouseSecret =
    identity:
    if generatedClickhouse then
      mkSecret "clickhouse-password" "${credentialsDir}/${identity}.clickhouse-password"
        "password_file"
    else
      operatorSecret "clickhouse-password" cfg.clickhouse.passwordFile "password_file";
  coldSecret =
    operatorSecret "clickhouse-cold-password" cfg.archive.coldPasswordFile "password_file";
  apiKeysSecret = operatorSecret "api-keys" cfg.gateway.apiKeysFile "api_keys_file";

  # `LoadCredential=` of a unit handed `secrets` (those that are set).
  loadCredential =
    secrets: map (secret: "${secret.name}:${secret.file}") (lib.filter (secret: secret != null) secrets);

  # `table` with the key of `secret` naming the unit's copy, when the secret is set.
  withSecret =
    unit: secret: table:
    table
    // lib.optionalAttrs (secret != null) {
      ${secret.key} = "/run/credentials/${unit}.service/${secret.name}";
    };

  natsFor = unit: identity: withSecret unit (natsSecret identity);
  # The identity's ClickHouse user (`marketprism_storage`, `marketprism_reader`), when the
  # module generates it.
  clickhouseFor =
    unit: identity: table:
    withSecret unit (clickhouseSecret identity) table
    // lib.optionalAttrs generatedClickhouse { user = "marketprism_${identity}"; };

  # Renders a configuration and fails the build if `marketprism check-config` rejects it.
  checkedConfig =
    kind: unit: settings:
    pkgs.runCommand "${unit}.toml"
      {
        nativeBuildInputs = [ cfg.package ];
        config = settingsFormat.generate "${unit}-unchecked.toml" settings;
      }
      ''
        marketprism check-config --${kind} "$config"
        cp "$config" "$out"
      '';

  # Each unit's configuration holds what its command reads, so a change elsewhere (say, in
  # the batch settings) does not restart a oneshot, and with it the services that need it.
  configs = {
    marketprism-collector = checkedConfig "collector" "marketprism-collector" (
      cfg.collector.settings
      // {
        nats = natsFor "marketprism-collector" "collector" cfg.collector.settings.nats;
      }
    );
    marketprism-storage = checkedConfig "storage" "marketprism-storage" (
      cfg.storage.settings
      // {
        nats = natsFor "marketprism-storage" "storage" cfg.storage.settings.nats;
        clickhouse = clickhouseFor "marketprism-storage" "storage" cfg.storage.settings.clickhouse;
      }
    );
    marketprism-backfill = checkedConfig "backfill" "marketprism-backfill" (
      cfg.backfill.settings
      // {
        nats = natsFor "marketprism-backfill" "backfill" cfg.backfill.settings.nats;
      }
    );
    # The gateway reads ClickHouse as `marketprism_reader`, which may only read.
    marketprism-gateway = checkedConfig "gateway" "marketprism-gateway" (
      withSecret "marketprism-gateway" apiKeysSecret cfg.gateway.settings
      // {
        nats = natsFor "marketprism-gateway" "gateway" cfg.gateway.settings.nats;
        clickhouse = clickhouseFor "marketprism-gateway" "reader" cfg.gateway.settings.clickhouse;
      }
    );
    # `streams init` reads `[nats]`: storage's, or the collector's on a host without storage.
    marketprism-streams-init = checkedConfig "storage" "marketprism-streams-init" {
      nats = natsFor "marketprism-streams-init" "admin" (
        if cfg.storage.enable then cfg.storage.settings.nats else cfg.collector.settings.nats
      );
    };
    # `migrate` reads `[clickhouse]`.
    marketprism-migrate = checkedConfig "storage" "marketprism-migrate" {
      clickhouse = clickhouseFor "marketprism-migrate" "storage" cfg.storage.settings.clickhouse;
    };
    # `archive` reads `[clickhouse]` (the hot tier) and `[archive]`.
    marketprism-archive = checkedConfig "storage" "marketprism-archive" {
      clickhouse = clickhouseFor "marketprism-archive" "storage" cfg.storage.settings.clickhouse;
      archive = cfg.archive.settings // {
        cold = withSecret "marketprism-archive" coldSecret (cfg.archive.settings.cold or { });
      };
    };
  };

  # The rules and dashboard shipped with the package.
  monitoringFiles = "${cfg.package}/share/marketprism/monitoring";
  # The services serving `/metrics`, with the default `listen` of each.
  metricsServices = lib.filter (service: cfg.${service.name}.enable) [
    {
      name = "collector";
      listen = "127.0.0.1:9101";
    }
    {
      name = "storage";
      listen = "127.0.0.1:9102";
    }
    {
      name = "backfill";
      listen = "127.0.0.1:9103";
    }
    {
      name = "gateway";
      listen = "127.0.0.1:9104";
    }
  ];
  # Where Prometheus on this host reaches a `listen` address: a wildcard one on loopback.
  scrapeTarget =
    listen:
    let
      wildcard = builtins.match "(0\\.0\\.0\\.0|\\[::])(:[0-9]+)" listen;
    in
    if wildcard == null then
      listen
    else
      (if builtins.head wildcard == "[::]" then "[::1]" else "127.0.0.1") + builtins.elemAt wildcard 1;

  # "host:port" as ClickHouse's configuration lists a server.
  endpoint =
    address:
    let
      parts = lib.splitString ":" address;
    in
    {
      host = lib.concatStringsSep ":" (lib.init parts);
      port = lib.toInt (lib.last parts);
    };

  # The local servers, when this module runs them.
  natsUnits = lib.optional cfg.nats.enable "nats.service";
  clickhouseUnits = lib.optional cfg.clickhouse.enable "clickhouse.service";
  credentialsUnits = lib.optional generated "marketprism-credentials.service";
  # nats-server's settings as services.nats renders them, which marketprism-credentials
  # extends with the users.
  natsSettingsFile = (pkgs.formats.json { }).generate "nats-settings.json" config.services.nats.settings;
  natsPackage = config.services.nats.package or pkgs.nats-server;

  hardening = {
    DynamicUser = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectProc = "invisible";
    ProcSubset = "pid";
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
    UMask = "0077";
  };

  # A oneshot that prepares `server` (its unit, when local) for the services. The server may
  # still be starting, so a failed or hung attempt is retried; the attempts are capped, so a
  # server that stays away fails the unit after about three minutes instead of holding
  # `nixos-rebuild switch` (which waits for oneshots) forever. The connection itself retries
  # without end, hence the per-attempt timeout.
  oneshot =
    {
      unit,
      description,
      command,
      serverUnits,
      credentials,
    }:
    {
      inherit description;
      wantedBy = [ "multi-user.target" ];
      # Wants, not Requires: a restart of the server must not restart this unit, nor, through
      # it, the services that require it.
      wants = [ "network-online.target" ] ++ serverUnits;
      # The generated credentials exist before any unit reads them.
      requires = credentialsUnits;
      after = [ "network-online.target" ] ++ serverUnits ++ credentialsUnits;
      startLimitBurst = 5;
      startLimitIntervalSec = 300;
      serviceConfig = hardening // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${exe} ${command} --config ${configs.${unit}}";
        LoadCredential = loadCredential credentials;
        Restart = "on-failure";
        RestartSec = 5;
        TimeoutStartSec = 30;
      };
    };

  # A long-running service. It requires the oneshots in `requires` and waits for the units in
  # `wants` (servers, the simulator) without being stopped or restarted with them: the
  # services reconnect on their own. Ordered after the servers, so at shutdown they drain
  # while the servers still run.
  service =
    {
      description,
      execStart,
      requires ? [ ],
      wants ? [ ],
      credentials ? [ ],
      extraServiceConfig ? { },
    }:
    {
      inherit description;
      requires = requires ++ credentialsUnits;
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ] ++ wants;
      after = [ "network-online.target" ] ++ requires ++ wants ++ credentialsUnits;
      serviceConfig = hardening // {
        ExecStart = execStart;
        LoadCredential = loadCredential credentials;
        Restart = "always";
        RestartSec = 5;
        # Collector and storage drain on SIGTERM: publishes acked, batches committed; the
        # backfill leaves the gap it was filling to be redelivered; the gateway ends its
        # replays and live streams.
        KillSignal = "SIGTERM";
        TimeoutStopSec = 120;
      }
      // extraServiceConfig;
    };
in
{
  imports = [
    (lib.mkRenamedOptionModule
      [ "services" "marketprism" "nats" "url" ]
      [ "services" "marketprism" "nats" "settings" "url" ]
    )
  ];

  options.services.marketprism = {
    enable = lib.mkEnableOption "MarketPrism, the crypto market-data recorder";

    package = lib.mkPackageOption pkgs "marketprism" { };

    collector = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Whether to run the collector (venues → JetStream).";
      };
      settings = lib.mkOption {
        type = settingsFormat.type;
        default = { };
        example = lib.literalExpression ''
          {
            venues = [
              {
                venue = "binance_spot";
                symbols = [ "BTC-USDT" "ETH-USDT" ];
                channels = [ "trades" ];
              }
            ];
          }
        '';
        description = ''
          Collector configuration, as in `examples/collector.toml`. Unknown keys are errors,
          caught at build time by `marketprism check-config`. Its `nats` table defaults to
          {option}`services.marketprism.nats.settings`.
        '';
      };
    };

    storage = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Whether to run storage (JetStream → ClickHouse).";
      };
      settings = lib.mkOption {
        type = settingsFormat.type;
        default = { };
        example = lib.literalExpression ''
          {
            batch.max_wait = "1s";
            clickhouse.database = "marketprism";
          }
        '';
        description = ''
          Storage configuration, as in `examples/storage.toml`. Its `nats` table defaults to
          {option}`services.marketprism.nats.settings`; the streams-init unit reads it too, and
          the migrate and archive units read its `clickhouse` table.
        '';
      };
    };

    backfill = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Whether to run the backfill (gaps → venues' REST history → JetStream).";
      };
      settings = lib.mkOption {
        type = settingsFormat.type;
        default = { };
        example = lib.literalExpression ''
          {
            venues = [
              { venue = "binance_spot"; channels = [ "trades" ]; }
            ];
          }
        '';
        description = ''
          Backfill configuration, as in `examples/backfill.toml`. Its `nats` table defaults to
          {option}`services.marketprism.nats.settings`, and its `venues` to the collector's
          venues with their trade channels (and the simulator's REST endpoint with
          {option}`services.marketprism.sim.enable`).
        '';
      };
    };

    gateway = {
      enable = lib.mkEnableOption "the gateway: the read API, the live stream and the status page";
      settings = lib.mkOption {
        type = settingsFormat.type;
        default = { };
        example = lib.literalExpression ''
          {
            listen = "0.0.0.0:9104";
            query.max_execution_time = "1m";
            live.client_buffer = 1000;
          }
        '';
        description = ''
          Gateway configuration, as in `examples/gateway.toml`. It listens on
          `127.0.0.1:9104` unless `listen` says otherwise; an address other than loopback
          needs {option}`services.marketprism.gateway.apiKeysFile`. Its `nats` table
          defaults to {option}`services.marketprism.nats.settings`, its `clickhouse` table to
          storage's (with generated credentials, as the read-only `marketprism_reader`), and
          `status.storage_consumer` and `status.backfill_consumer` to the durable consumers
          of storage and the backfill.
        '';
      };
      apiKeysFile = lib.mkOption {
        type = secretFileType;
        default = null;
        example = "/run/secrets/marketprism-gateway-keys";
        description = ''
          The gateway's API keys (`api_keys_file`): one SHA-256 of a key per line, as 64 hex
          digits (`printf %s "$KEY" | sha256sum`), optionally followed by a name and
          `requests_per_minute=N`. With it, every `/v1/` request needs a key. Handed to the
          gateway unit with `LoadCredential`; it stays where it is, only its path enters the
          Nix store.
        '';
      };
    };

    archive = {
      enable = lib.mkEnableOption "hot → cold archiving (`marketprism archive --watch`)";
      settings = lib.mkOption {
        type = settingsFormat.type;
        default = { };
        example = lib.literalExpression ''
          {
            cold = { url = "http://cold.internal:8123"; database = "marketprism_cold"; };
            window = "1h";
            grace = "10m";
            hot_retention = "30d";
          }
        '';
        description = ''
          The `[archive]` table of the storage configuration: the cold tier (`cold`), the
          window width, the grace before a window counts as closed, the pause between runs
          and the hot retention.
        '';
      };
      coldPasswordFile = lib.mkOption {
        type = secretFileType;
        default = null;
        example = "/run/secrets/clickhouse-cold-password";
        description = ''
          Password file of the cold ClickHouse, handed to the archive unit with
          `LoadCredential`. It stays where it is; only its path enters the Nix store.
        '';
      };
    };

    sim = {
      enable = lib.mkEnableOption "the built-in exchange simulator as the data source (demos, tests)";
      port = lib.mkOption {
        type = lib.types.port;
        default = 9443;
        description = "Port of the simulator.";
      };
      rate = lib.mkOption {
        type = lib.types.ints.positive;
        default = 50;
        description = "Simulated trades per second.";
      };
    };

    nats = {
      enable = lib.mkEnableOption "a local NATS server with JetStream (`services.nats`)";
      settings = lib.mkOption {
        type = lib.types.submodule {
          freeformType = settingsFormat.type;
          options.url = lib.mkOption {
            type = lib.types.str;
            default = "nats://127.0.0.1:4222";
            description = "NATS URL used by every MarketPrism unit.";
          };
        };
        default = { };
        example = lib.literalExpression ''
          {
            url = "nats://nats.internal:4222";
            stream = { max_age = "3d"; max_bytes = 100000000000; };
          }
        '';
        description = ''
          The `[nats]` table shared by the collector and storage (and so by the streams-init
          unit): the server URL and the streams (`stream.name`, `stream.max_age`,
          `stream.duplicate_window`, `stream.max_bytes`, `stream.deadletter_name`,
          `stream.deadletter_max_age`). Each key is a default that
          `collector.settings.nats` or `storage.settings.nats` may override, except the
          streams, which must be the same in both.
        '';
      };
      cluster = {
        enable = lib.mkEnableOption ''
          the local NATS server as a node of a JetStream cluster: its cluster port, its routes
          to the other nodes and a unique server name, with streams and the feed-state bucket
          kept in {option}`services.marketprism.nats.cluster.replicas` copies. Route traffic
          is not authenticated: keep the cluster port on a private network
        '';
        name = lib.mkOption {
          type = lib.types.str;
          default = "marketprism";
          description = "The cluster's name, the same on every node.";
        };
        port = lib.mkOption {
          type = lib.types.port;
          default = 6222;
          description = "Port the node listens on for routes from the other nodes.";
        };
        routes = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          example = [
            "nats-route://nats-1.internal:6222"
            "nats-route://nats-2.internal:6222"
            "nats-route://nats-3.internal:6222"
          ];
          description = ''
            Routes to every node of the cluster (this one may be listed too, so that every
            node has the same list). Also list every node's client URL in
            {option}`services.marketprism.nats.settings.url`, separated by commas, and set
            `services.nats.settings.host` to an address the other hosts reach when their
            services connect to this node.
          '';
        };
        replicas = lib.mkOption {
          type = lib.types.ints.between 1 5;
          default = 3;
          description = ''
            Copies of each stream and of the feed-state bucket (`nats.stream.replicas`). Three
            survive the loss of any one node; two stop with one node lost.
          '';
        };
      };
      credentialsFile = lib.mkOption {
        type = secretFileType;
        default = null;
        example = "/run/secrets/marketprism.creds";
        description = ''
          NATS credentials (`.creds`) file, handed with `LoadCredential` to the units that
          connect to NATS. It stays where it is; only its path enters the Nix store.
        '';
      };
    };

    credentials.enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Give every unit its own identity on the servers this module runs
        ({option}`services.marketprism.nats.enable`,
        {option}`services.marketprism.clickhouse.enable`), as `marketprism up` does: an nkey
        per unit with only the NATS permissions its job needs, ClickHouse users
        `marketprism_storage` (read and write in the database) and `marketprism_reader` (read
        only, also the gateway's user), and a password for `default`. The secrets are created
        once in /var/lib/marketprism-credentials (0700, files 0600, kept across rebuilds) and
        handed to each unit with `LoadCredential`; the servers admit nobody else. An analyst
        reads with `clickhouse-client --user marketprism_reader --password "$(cat
        /var/lib/marketprism-credentials/reader.clickhouse-password)"`.
      '';
    };

    monitoring = {
      prometheus.enable = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Whether to add MarketPrism's alert and recording rules to `services.prometheus`,
          with a scrape job (`marketprism-collector`, `marketprism-storage`,
          `marketprism-backfill`, `marketprism-gateway`) for the `/metrics` of each enabled
          service at its `settings.listen` address (a wildcard address is scraped on
          loopback). Prometheus itself, its alert routing and retention are configured
          separately.
        '';
      };
      grafana.enable = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Whether to provision the MarketPrism dashboard in `services.grafana` (folder
          MarketPrism), through a provider in
          `services.grafana.provision.dashboards.settings`, so
          `services.grafana.provision.dashboards.path` cannot be used alongside. Its
          `datasource` variable picks the Prometheus data source, the default one at first.
          Grafana itself is configured separately.
        '';
      };
    };

    clickhouse = {
      enable = lib.mkEnableOption "a local ClickHouse server (`services.clickhouse`)";
      url = lib.mkOption {
        type = lib.types.str;
        default = "http://127.0.0.1:8123";
        description = "ClickHouse HTTP URL used by storage, migrations, archiving and the gateway.";
      };
      cluster = {
        name = lib.mkOption {
          type = lib.types.nullOr lib.types.str;
          default = null;
          example = "marketprism";
          description = ''
            Make the local ClickHouse a node of this replicated, sharded cluster and have
            storage, migrations and archiving use it (`clickhouse.cluster`): replicated tables
            behind `Distributed` ones, created `ON CLUSTER`. The name, shards and ZooKeeper
            nodes must be the same on every node; `shard` and `replica` name this one.
          '';
        };
        shards = lib.mkOption {
          type = lib.types.listOf (lib.types.listOf lib.types.str);
          default = [ ];
          example = [
            [
              "ch-1a.internal:9000"
              "ch-1b.internal:9000"
            ]
            [
              "ch-2a.internal:9000"
              "ch-2b.internal:9000"
            ]
          ];
          description = "Every shard as the native-protocol `host:port` of each of its replicas.";
        };
        shard = lib.mkOption {
          type = lib.types.str;
          default = "1";
          description = "This node's shard (the `{shard}` macro in the tables' ZooKeeper paths).";
        };
        replica = lib.mkOption {
          type = lib.types.str;
          default = config.networking.hostName;
          defaultText = lib.literalExpression "config.networking.hostName";
          description = "This node's replica name (the `{replica}` macro), unique within its shard.";
        };
        zookeeper = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          example = [
            "zk-1.internal:2181"
            "zk-2.internal:2181"
            "zk-3.internal:2181"
          ];
          description = ''
            ZooKeeper nodes as `host:port`, or ClickHouse Keeper nodes, which speak the same
            protocol.
          '';
        };
        secretFile = lib.mkOption {
          type = secretFileType;
          default = null;
          example = "/run/secrets/clickhouse-cluster.env";
          description = ''
            Environment file `MARKETPRISM_CLICKHOUSE_CLUSTER_SECRET=<secret>`, the same on
            every node: the cluster's shared secret (`remote_servers.<name>.secret`), with
            which a node runs a query on the others as the user who sent it. Without it the
            nodes log in to one another as `default` without a password, which the generated
            credentials forbid. It stays where it is; only its path enters the Nix store.
          '';
        };
        shardUrls = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          example = [
            "http://ch-1a.internal:8123"
            "http://ch-2a.internal:8123"
          ];
          description = ''
            Servers older than 20.3 only: the HTTP URL of one node of each shard, where
            migrations that extend a table's key run (`clickhouse.shard_urls`).
          '';
        };
      };
      passwordFile = lib.mkOption {
        type = secretFileType;
        default = null;
        example = "/run/secrets/clickhouse-password";
        description = ''
          File holding the ClickHouse password, handed with `LoadCredential` to the units
          that connect to ClickHouse. It stays where it is; only its path enters the Nix store.
        '';
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion =
          !(generatedNats && cfg.nats.credentialsFile != null)
          && !(generatedClickhouse && cfg.clickhouse.passwordFile != null);
        message = "services.marketprism.credentials.enable generates the credentials of the local servers; unset services.marketprism.nats.credentialsFile and services.marketprism.clickhouse.passwordFile, or set credentials.enable = false.";
      }
      {
        assertion =
          cfg.clickhouse.cluster.name == null
          || (cfg.clickhouse.cluster.shards != [ ] && cfg.clickhouse.cluster.zookeeper != [ ]);
        message = "services.marketprism.clickhouse.cluster.name needs clickhouse.cluster.shards and clickhouse.cluster.zookeeper.";
      }
      {
        assertion =
          cfg.clickhouse.cluster.name == null
          || !generatedClickhouse
          || cfg.clickhouse.cluster.secretFile != null;
        message = "services.marketprism.clickhouse.cluster.secretFile is needed with generated credentials: the cluster's nodes can no longer log in to one another as a password-less `default`.";
      }
      {
        assertion = !cfg.nats.cluster.enable || cfg.nats.cluster.routes != [ ];
        message = "services.marketprism.nats.cluster.enable needs nats.cluster.routes to the other nodes.";
      }
      {
        assertion = !cfg.archive.enable || (cfg.archive.settings.cold.database or null) != null;
        message = "services.marketprism.archive.settings.cold.database must name the cold database.";
      }
      {
        assertion =
          !cfg.collector.enable || cfg.sim.enable || (cfg.collector.settings.venues or [ ]) != [ ];
        message = "services.marketprism.collector.settings.venues must list at least one venue (or enable services.marketprism.sim).";
      }
      {
        # Both create the streams when missing (storage through streams-init, the collector
        # when replaying), so different settings would undo each other.
        assertion =
          !(cfg.collector.enable && cfg.storage.enable)
          || (cfg.collector.settings.nats.stream or { }) == (cfg.storage.settings.nats.stream or { });
        message = "services.marketprism.collector.settings.nats.stream and services.marketprism.storage.settings.nats.stream differ; set the streams once, in services.marketprism.nats.settings.stream.";
      }
    ];

    services.nats = lib.mkIf cfg.nats.enable {
      enable = true;
      jetstream = true;
      # A cluster node is named after its host; the names must differ across the cluster.
      serverName = lib.mkIf cfg.nats.cluster.enable (lib.mkDefault config.networking.hostName);
      settings = {
        host = lib.mkDefault "127.0.0.1";
        cluster = lib.mkIf cfg.nats.cluster.enable {
          inherit (cfg.nats.cluster) name routes;
          listen = "0.0.0.0:${toString cfg.nats.cluster.port}";
        };
      };
    };

    services.clickhouse = lib.mkIf cfg.clickhouse.enable {
      enable = true;
      serverConfig = lib.mkIf (cfg.clickhouse.cluster.name != null) {
        remote_servers.${cfg.clickhouse.cluster.name} = {
          shard = map (replicas: {
            # Each replica replicates its tables itself: Distributed writes one copy per shard.
            internal_replication = true;
            replica = map endpoint replicas;
          }) cfg.clickhouse.cluster.shards;
        }
        // lib.optionalAttrs (cfg.clickhouse.cluster.secretFile != null) {
          # Read from the unit's environment when the server starts: never in the store.
          secret."@from_env" = "MARKETPRISM_CLICKHOUSE_CLUSTER_SECRET";
        };
        zookeeper.node = map endpoint cfg.clickhouse.cluster.zookeeper;
        macros = {
          inherit (cfg.clickhouse.cluster) shard replica;
        };
        distributed_ddl.path = "/clickhouse/task_queue/ddl";
      };
    };

    warnings =
      lib.optional (
        cfg.monitoring.prometheus.enable && !config.services.prometheus.enable
      ) "services.marketprism.monitoring.prometheus.enable adds rules and scrape jobs to services.prometheus, which is not enabled."
      ++ lib.optional (
        cfg.monitoring.grafana.enable && !config.services.grafana.enable
      ) "services.marketprism.monitoring.grafana.enable provisions a dashboard in services.grafana, which is not enabled.";

    services.prometheus = lib.mkIf cfg.monitoring.prometheus.enable {
      ruleFiles = [ "${monitoringFiles}/prometheus/marketprism.rules.yml" ];
      scrapeConfigs = map (service: {
        job_name = "marketprism-${service.name}";
        static_configs = [
          {
            targets = [ (scrapeTarget (cfg.${service.name}.settings.listen or service.listen)) ];
          }
        ];
      }) metricsServices;
    };

    services.grafana.provision = lib.mkIf cfg.monitoring.grafana.enable {
      enable = true;
      dashboards.settings.providers = [
        {
          name = "MarketPrism";
          folder = "MarketPrism";
          options.path = "${monitoringFiles}/grafana";
        }
      ];
    };

    # The servers read what marketprism-credentials writes: nats-server its settings plus the
    # users, ClickHouse a users.d file replacing the password-less `default`.
    environment.etc."clickhouse-server/users.d/marketprism.xml" = lib.mkIf generatedClickhouse {
      source = "${serverFilesDir}/clickhouse-users.xml";
    };

    services.marketprism =
      let
        # The shared `[nats]` table, key by key as defaults.
        natsDefaults = lib.mapAttrsRecursive (_: lib.mkDefault) (
          lib.recursiveUpdate (lib.optionalAttrs cfg.nats.cluster.enable {
            stream.replicas = cfg.nats.cluster.replicas;
          }) cfg.nats.settings
        );
      in
      {
        collector.settings = {
          nats = natsDefaults;
          # While JetStream does not acknowledge, events wait on disk here, and a restart
          # republishes what an outage left.
          publish.spool.path = lib.mkDefault "/var/lib/marketprism-collector/spool";
          venues = lib.mkIf cfg.sim.enable (
            lib.mkDefault [
              {
                venue = "binance_spot";
                endpoint = "ws://127.0.0.1:${toString cfg.sim.port}";
                symbols = [
                  "BTC-USDT"
                  "ETH-USDT"
                ];
                channels = [ "trades" ];
              }
            ]
          );
        };
        storage.settings = {
          nats = natsDefaults;
          clickhouse = {
            url = lib.mkDefault cfg.clickhouse.url;
          }
          // lib.optionalAttrs (cfg.clickhouse.cluster.name != null) {
            cluster = lib.mkDefault cfg.clickhouse.cluster.name;
            shard_urls = lib.mkDefault cfg.clickhouse.cluster.shardUrls;
          };
        };
        # The gateway reads what storage writes, and shows the lag of the consumers that
        # storage and the backfill use.
        gateway.settings = {
          nats = natsDefaults;
          clickhouse = lib.mapAttrs (_: lib.mkDefault) cfg.storage.settings.clickhouse;
          status = {
            storage_consumer = lib.mkIf (
              cfg.storage.settings ? consumer.durable_name
            ) (lib.mkDefault cfg.storage.settings.consumer.durable_name);
            backfill_consumer = lib.mkIf (
              cfg.backfill.settings ? consumer.durable_name
            ) (lib.mkDefault cfg.backfill.settings.consumer.durable_name);
          };
        };
        # The venues the collector records, each with the trade channels it subscribes.
        backfill.settings = {
          nats = natsDefaults;
          venues = lib.mkDefault (
            map (
              venue:
              {
                inherit (venue) venue;
                channels = lib.filter (
                  channel: channel == "trades" || channel == "aggregate_trades"
                ) (venue.channels or [ ]);
              }
              // lib.optionalAttrs cfg.sim.enable {
                rest_endpoint = "http://127.0.0.1:${toString cfg.sim.port}";
              }
              // lib.optionalAttrs (!cfg.sim.enable && venue ? rest_endpoint) {
                inherit (venue) rest_endpoint;
              }
            ) (cfg.collector.settings.venues or [ ])
          );
        };
      };

    systemd.services = {
      marketprism-credentials = lib.mkIf generated {
        description = "MarketPrism: an identity for each unit on NATS and ClickHouse";
        wantedBy = [ "multi-user.target" ];
        before = natsUnits ++ clickhouseUnits;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.concatStringsSep " " (
            [
              exe
              "credentials"
              "--dir ${credentialsDir}"
              "--storage-config ${configs.marketprism-storage}"
              "--backfill-config ${configs.marketprism-backfill}"
              "--nats-config ${serverFilesDir}/nats.conf"
              "--clickhouse-users ${serverFilesDir}/clickhouse-users.xml"
            ]
            ++ lib.optional generatedNats "--nats-base ${natsSettingsFile}"
          );
          # Root writes the secrets (read by systemd for `LoadCredential`) and the servers'
          # files, which hold public keys and password hashes only.
          StateDirectory = "marketprism-credentials";
          StateDirectoryMode = "0700";
          RuntimeDirectory = "marketprism-credentials";
          RuntimeDirectoryMode = "0755";
          RuntimeDirectoryPreserve = true;
          UMask = "0077";
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateNetwork = true;
          NoNewPrivileges = true;
        };
      };

      nats = lib.mkIf generatedNats {
        requires = credentialsUnits;
        after = credentialsUnits;
        serviceConfig.ExecStart = lib.mkForce "${lib.getExe' natsPackage "nats-server"} -c ${serverFilesDir}/nats.conf";
      };

      clickhouse = lib.mkMerge [
        (lib.mkIf generatedClickhouse {
          requires = credentialsUnits;
          after = credentialsUnits;
        })
        (lib.mkIf (cfg.clickhouse.enable && cfg.clickhouse.cluster.secretFile != null) {
          serviceConfig.EnvironmentFile = cfg.clickhouse.cluster.secretFile;
        })
      ];

      marketprism-streams-init = lib.mkIf (
        cfg.collector.enable || cfg.storage.enable || cfg.backfill.enable
      ) (oneshot {
        unit = "marketprism-streams-init";
        description = "MarketPrism: create the JetStream streams";
        command = "streams init";
        serverUnits = natsUnits;
        credentials = [ (natsSecret "admin") ];
      });

      marketprism-migrate = lib.mkIf (cfg.storage.enable || cfg.archive.enable) (oneshot {
        unit = "marketprism-migrate";
        description = "MarketPrism: apply the ClickHouse schema";
        command = "migrate";
        serverUnits = clickhouseUnits;
        credentials = [ (clickhouseSecret "storage") ];
      });

      marketprism-collector = lib.mkIf cfg.collector.enable (service {
        description = "MarketPrism collector (venues → JetStream)";
        execStart = "${exe} collect --config ${configs.marketprism-collector}";
        # The streams are created by streams-init, but the collector publishes (and retries
        # until acknowledged) without waiting for it to succeed, and does not need ClickHouse.
        wants =
          natsUnits
          ++ [ "marketprism-streams-init.service" ]
          ++ lib.optional cfg.sim.enable "marketprism-sim.service";
        credentials = [ (natsSecret "collector") ];
        # The spool's directory: kept across restarts, private to the unit's dynamic user.
        extraServiceConfig = {
          StateDirectory = "marketprism-collector";
          StateDirectoryMode = "0700";
        };
      });

      marketprism-storage = lib.mkIf cfg.storage.enable (service {
        description = "MarketPrism storage (JetStream → ClickHouse)";
        execStart = "${exe} store --config ${configs.marketprism-storage}";
        # Its consumer needs the streams and its inserts the tables.
        requires = [
          "marketprism-streams-init.service"
          "marketprism-migrate.service"
        ];
        wants = natsUnits ++ clickhouseUnits;
        credentials = [
          (natsSecret "storage")
          (clickhouseSecret "storage")
        ];
      });

      marketprism-backfill = lib.mkIf cfg.backfill.enable (service {
        description = "MarketPrism backfill (gaps → venues' REST history → JetStream)";
        execStart = "${exe} backfill --config ${configs.marketprism-backfill}";
        # Its consumer reads the stream streams-init creates; ClickHouse is not needed.
        requires = [ "marketprism-streams-init.service" ];
        wants = natsUnits ++ lib.optional cfg.sim.enable "marketprism-sim.service";
        credentials = [ (natsSecret "backfill") ];
      });

      marketprism-gateway = lib.mkIf cfg.gateway.enable (service {
        description = "MarketPrism gateway (ClickHouse and JetStream → HTTP and WebSocket API)";
        execStart = "${exe} gateway --config ${configs.marketprism-gateway}";
        # It answers from whatever is there, so the streams and the schema are awaited (on a
        # host that creates them) but not required.
        wants =
          natsUnits
          ++ clickhouseUnits
          ++ lib.optional (
            cfg.collector.enable || cfg.storage.enable || cfg.backfill.enable
          ) "marketprism-streams-init.service"
          ++ lib.optional (cfg.storage.enable || cfg.archive.enable) "marketprism-migrate.service";
        credentials = [
          (natsSecret "gateway")
          (clickhouseSecret "reader")
          apiKeysSecret
        ];
      });

      marketprism-archive = lib.mkIf cfg.archive.enable (service {
        description = "MarketPrism hot → cold archive";
        execStart = "${exe} archive --watch --config ${configs.marketprism-archive}";
        requires = [ "marketprism-migrate.service" ];
        wants = clickhouseUnits;
        credentials = [
          (clickhouseSecret "storage")
          coldSecret
        ];
      });

      marketprism-sim = lib.mkIf cfg.sim.enable {
        description = "MarketPrism exchange simulator";
        wantedBy = [ "multi-user.target" ];
        serviceConfig = hardening // {
          ExecStart = "${exe} sim --listen 127.0.0.1:${toString cfg.sim.port} --rate ${toString cfg.sim.rate}";
          Restart = "always";
          RestartSec = 5;
        };
      };
    };
  };
}
