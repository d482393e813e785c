# NixOS module: `services.marketprism`.
#
# One systemd unit per service (marketprism-collector, marketprism-storage, optionally
# marketprism-archive and marketprism-sim), preceded by the oneshot units marketprism-migrate and
# marketprism-streams-init. Settings are freeform TOML (the same keys as the files in
# `examples/`), checked at build time with `marketprism check-config`. Secrets are files outside
# the Nix store, handed to the units with `LoadCredential`.
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

  # Where systemd places a unit's credentials.
  credential = unit: name: "/run/credentials/${unit}.service/${name}";

  # Storage settings as a given unit sees them: the credential paths are per unit.
  storageSettingsFor =
    unit:
    lib.foldl' lib.recursiveUpdate cfg.storage.settings [
      (lib.optionalAttrs (cfg.clickhouse.passwordFile != null) {
        clickhouse.password_file = credential unit "clickhouse-password";
      })
      (lib.optionalAttrs (cfg.nats.credentialsFile != null) {
        nats.credentials_file = credential unit "nats-creds";
      })
      (lib.optionalAttrs cfg.archive.enable { archive = cfg.archive.settings; })
      (lib.optionalAttrs (cfg.archive.enable && cfg.archive.coldPasswordFile != null) {
        archive.cold.password_file = credential unit "clickhouse-cold-password";
      })
    ];

  collectorSettings = lib.recursiveUpdate cfg.collector.settings (
    lib.optionalAttrs (cfg.nats.credentialsFile != null) {
      nats.credentials_file = credential "marketprism-collector" "nats-creds";
    }
  );

  # Renders a configuration and fails the build if `marketprism check-config` rejects it.
  checkedConfig =
    kind: name: settings:
    pkgs.runCommand "marketprism-${name}.toml"
      {
        nativeBuildInputs = [ cfg.package ];
        config = settingsFormat.generate "marketprism-${name}-unchecked.toml" settings;
      }
      ''
        marketprism check-config --${kind} "$config"
        cp "$config" "$out"
      '';

  storageConfig = unit: checkedConfig "storage" unit (storageSettingsFor unit);
  collectorConfig = checkedConfig "collector" "marketprism-collector" collectorSettings;

  loadCredentials =
    lib.optional (cfg.clickhouse.passwordFile != null) "clickhouse-password:${cfg.clickhouse.passwordFile}"
    ++ lib.optional (cfg.nats.credentialsFile != null) "nats-creds:${cfg.nats.credentialsFile}"
    ++ lib.optional (
      cfg.archive.enable && cfg.archive.coldPasswordFile != null
    ) "clickhouse-cold-password:${cfg.archive.coldPasswordFile}";

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

  # Units that talk to the local servers wait for them.
  serverUnits =
    lib.optional cfg.nats.enable "nats.service" ++ lib.optional cfg.clickhouse.enable "clickhouse.service";

  oneshot = description: command: unit: {
    inherit description;
    wantedBy = [ "multi-user.target" ];
    after = [ "network-online.target" ] ++ serverUnits;
    wants = [ "network-online.target" ];
    requires = serverUnits;
    serviceConfig = hardening // {
      Type = "oneshot";
      RemainAfterExit = true;
      ExecStart = "${exe} ${command} --config ${storageConfig unit}";
      LoadCredential = loadCredentials;
      # The servers may still be starting: retry instead of failing the boot.
      Restart = "on-failure";
      RestartSec = 5;
    };
  };

  # A service that runs after schema and streams exist; `extraDeps` are further units it
  # orders after and pulls in.
  longRunning = description: execStart: extraDeps: {
    inherit description;
    wantedBy = [ "multi-user.target" ];
    after = [
      "network-online.target"
      "marketprism-migrate.service"
      "marketprism-streams-init.service"
    ]
    ++ extraDeps;
    wants = [ "network-online.target" ] ++ extraDeps;
    requires = [
      "marketprism-migrate.service"
      "marketprism-streams-init.service"
    ];
    serviceConfig = hardening // {
      ExecStart = execStart;
      LoadCredential = loadCredentials;
      Restart = "always";
      RestartSec = 5;
      # Collector and storage drain on SIGTERM: publishes acked, batches committed.
      KillSignal = "SIGTERM";
      TimeoutStopSec = 120;
    };
  };
in
{
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
          caught at build time by `marketprism check-config`.
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
          Storage configuration, as in `examples/storage.toml`; also used by the migrate and
          streams-init units.
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
          Password file of the cold ClickHouse, passed with `LoadCredential`. It stays where it
          is; only its path enters the Nix store.
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
      url = lib.mkOption {
        type = lib.types.str;
        default = "nats://127.0.0.1:4222";
        description = "NATS URL used by every MarketPrism unit.";
      };
      credentialsFile = lib.mkOption {
        type = secretFileType;
        default = null;
        example = "/run/secrets/marketprism.creds";
        description = ''
          NATS credentials (`.creds`) file, passed to the units with `LoadCredential`. It stays
          where it is; only its path enters the Nix store.
        '';
      };
    };

    clickhouse = {
      enable = lib.mkEnableOption "a local ClickHouse server (`services.clickhouse`)";
      url = lib.mkOption {
        type = lib.types.str;
        default = "http://127.0.0.1:8123";
        description = "ClickHouse HTTP URL used by storage and migrations.";
      };
      passwordFile = lib.mkOption {
        type = secretFileType;
        default = null;
        example = "/run/secrets/clickhouse-password";
        description = ''
          File holding the ClickHouse password, passed with `LoadCredential`. It stays where it
          is; only its path enters the Nix store.
        '';
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !cfg.archive.enable || (cfg.archive.settings.cold.database or null) != null;
        message = "services.marketprism.archive.settings.cold.database must name the cold database.";
      }
      {
        assertion = !cfg.collector.enable || cfg.sim.enable || (cfg.collector.settings.venues or [ ]) != [ ];
        message = "services.marketprism.collector.settings.venues must list at least one venue (or enable services.marketprism.sim).";
      }
    ];

    services.nats = lib.mkIf cfg.nats.enable {
      enable = true;
      jetstream = true;
      settings.host = lib.mkDefault "127.0.0.1";
    };

    services.clickhouse = lib.mkIf cfg.clickhouse.enable { enable = true; };

    services.marketprism.collector.settings = {
      nats.url = lib.mkDefault cfg.nats.url;
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
    services.marketprism.storage.settings = {
      nats.url = lib.mkDefault cfg.nats.url;
      clickhouse.url = lib.mkDefault cfg.clickhouse.url;
    };

    systemd.services = {
      marketprism-migrate = oneshot "MarketPrism: apply the ClickHouse schema" "migrate" "marketprism-migrate";
      marketprism-streams-init = oneshot "MarketPrism: create the JetStream streams" "streams init" "marketprism-streams-init";

      marketprism-storage = lib.mkIf cfg.storage.enable (
        longRunning "MarketPrism storage (JetStream → ClickHouse)" "${exe} store --config ${storageConfig "marketprism-storage"}" [ ]
      );

      marketprism-collector = lib.mkIf cfg.collector.enable (
        longRunning "MarketPrism collector (venues → JetStream)" "${exe} collect --config ${collectorConfig}" (
          lib.optional cfg.sim.enable "marketprism-sim.service"
        )
      );

      marketprism-archive = lib.mkIf cfg.archive.enable (
        longRunning "MarketPrism hot → cold archive" "${exe} archive --watch --config ${storageConfig "marketprism-archive"}" [ ]
      );

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
