# The Rust workspace built with crane: the `marketprism` package, the checks CI runs
# (clippy, fmt, doc, nextest with real NATS and ClickHouse) and the development shell.
# Dependencies are built once (`buildDepsOnly`) and shared by every derivation.
{ pkgs, crane }:
let
  inherit (pkgs) lib;
  craneLib = crane.mkLib pkgs;

  # Cargo sources plus the non-Rust files the build and tests read: rendered SQL, example
  # configurations and insta snapshots.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources ../.)
      ../sql
      ../examples
      (lib.fileset.fileFilter (file: file.hasExt "snap") ../crates)
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
      # The test suite runs in the nextest check, with its servers.
      doCheck = false;
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

    fmt = craneLib.cargoFmt { inherit src; };

    doc = craneLib.cargoDoc (commonArgs // { inherit cargoArtifacts; });

    # The capture-replay test reads the shared fixtures beside the repository, which are not
    # part of the flake source; everything else runs, against real servers.
    nextest = craneLib.cargoNextest (
      commonArgs
      // {
        inherit cargoArtifacts;
        nativeCheckInputs = testServers;
        cargoNextestExtraArgs = "--workspace -E 'not test(parses_every_binance_spot_capture)'";
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
      pkgs.nixfmt-rfc-style
    ];
  };
}
