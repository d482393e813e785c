# The Rust workspace built with crane: the `marketprism` package, the checks CI runs
# (clippy, fmt, doc, the tests without servers, and the tests against real NATS and
# ClickHouse) and the development shell. Dependencies are built once (`buildDepsOnly`) and
# shared by every derivation.
{ pkgs, crane }:
let
  inherit (pkgs) lib;
  craneLib = crane.mkLib pkgs;

  # Non-Rust files the crates read, wherever a crate keeps them: insta snapshots, proptest's
  # recorded failures, and Python and HTML compiled in with `include_str!` (testkit's chdb
  # front end, the gateway's status page).
  crateData = lib.fileset.fileFilter (
    file:
    lib.any file.hasExt [
      "snap"
      "proptest-regressions"
      "py"
      "html"
    ]
  );

  # Cargo sources (every crate's `.rs` and `.toml`, including a crate under `tests/`) plus the
  # non-Rust files the build and tests read: the SQL schema, the example configurations, the
  # Prometheus rules and Grafana dashboard (checked by a test, installed with the package),
  # the README and `docs/` (a test parses the commands they show), the real exchange
  # captures in `tests/fixtures/` and the crate data above.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources ../.)
      ../sql
      ../examples
      ../monitoring
      ../README.md
      ../docs
      ../tests/fixtures
      (crateData ../crates)
      (crateData ../tests)
    ];
  };

  commonArgs = {
    inherit src;
    pname = "marketprism";
    version = "0.1.0";
    strictDeps = true;
    buildInputs = lib.optionals pkgs.stdenv.hostPlatform.isDarwin [ pkgs.libiconv ];
  };

  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # The test binaries that start nats-server or ClickHouse through marketprism-testkit (a
  # dev-dependency of their crates), as nextest binary ids. `nextest` runs every other
  # binary, `integration` runs these, so each test runs in exactly one of them.
  serverTestBinaries = [
    "marketprism-bus"
    "marketprism-collector::it"
    "marketprism-storage::it"
    "marketprism::deploy"
    "marketprism::replay"
  ];
  serverTests = "(${lib.concatMapStringsSep " | " (id: "binary_id(${id})") serverTestBinaries})";

  # Servers the integration tests start as child processes.
  testServers = [
    pkgs.nats-server
    pkgs.clickhouse
  ];

  package = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoExtraArgs = "--locked --package marketprism";
      # The test suite runs in the nextest and integration checks.
      doCheck = false;
      # The Prometheus rules and the Grafana dashboard, for the NixOS module's
      # `monitoring.*` options and anyone else's Prometheus and Grafana.
      postInstall = ''
        mkdir -p $out/share/marketprism
        cp -r monitoring $out/share/marketprism/monitoring
      '';
      meta = {
        description = "Crypto market-data recorder: exchanges → NATS JetStream → ClickHouse";
        homepage = "https://github.com/marketprism/marketprism";
        license = lib.licenses.asl20;
        mainProgram = "marketprism";
        platforms = lib.platforms.unix;
      };
    }
  );

  checks = {
    inherit package;

    clippy = craneLib.cargoClippy (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoClippyExtraArgs = "--workspace --all-targets -- --deny warnings";
      }
    );

    fmt = craneLib.cargoFmt {
      inherit src;
      inherit (commonArgs) pname version;
    };

    doc = craneLib.cargoDoc (commonArgs // { inherit cargoArtifacts; });

    # Every test that needs no server: parsers on the real captures, book sequencing, codecs,
    # configuration checks. No server is on PATH, so a test that needs one fails here
    # instead of being skipped.
    nextest = craneLib.cargoNextest (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoNextestExtraArgs = "--workspace -E 'not ${serverTests}'";
        # The simulator and protocol tests listen on loopback.
        __darwinAllowLocalNetworking = true;
      }
    );
  }
  // lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
    # The tests against real servers, which marketprism-testkit starts from PATH on loopback
    # ports inside the build sandbox. Linux only: ClickHouse comes from the binary cache there.
    # The refused-schema test names the Debian paths /usr/sbin/{nats,clickhouse}-server, which
    # the sandbox does not have.
    integration = craneLib.cargoNextest (
      commonArgs
      // {
        inherit cargoArtifacts;
        pname = "${commonArgs.pname}-integration";
        nativeCheckInputs = testServers;
        cargoNextestExtraArgs = "--workspace -E '${serverTests} - test(=clickhouse_refusing_the_schema_is_reported_and_rolled_back)'";
      }
    );
  };
in
{
  inherit package checks;

  # Inherits every check's inputs, plus the tools `cargo xtask e2e` and operators use.
  devShell = craneLib.devShell {
    inherit checks;
    packages = testServers ++ [
      pkgs.cargo-nextest
      pkgs.natscli
      pkgs.nixfmt
    ];
  };
}
