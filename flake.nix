{
  description = "MarketPrism: a crypto market-data recorder (exchanges → NATS JetStream → ClickHouse)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    crane.url = "github:ipetkov/crane";
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # The Rust build, its checks and the dev shell, per system. The locked crane supports
      # Nix 2.31.2 and newer only, so an older Nix stops here with that message.
      build =
        pkgs:
        assert lib.assertMsg (lib.versionAtLeast builtins.nixVersion "2.31.2")
          "MarketPrism's flake needs Nix 2.31.2 or newer (for crane); this is Nix ${builtins.nixVersion}.";
        import ./nix/package.nix { inherit pkgs crane; };
    in
    {
      overlays.default = final: _prev: {
        marketprism = (build final).package;
      };

      packages = forAllSystems (
        pkgs:
        let
          inherit (build pkgs) package;
        in
        {
          default = package;
          marketprism = package;
        }
        # Container images of the collector and storage (Linux binaries only).
        // lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux (
          import ./nix/images.nix {
            inherit pkgs;
            marketprism = package;
          }
        )
      );

      apps = forAllSystems (
        pkgs:
        import ./nix/apps.nix {
          inherit pkgs;
          marketprism = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        }
      );

      devShells = forAllSystems (pkgs: {
        default = (build pkgs).devShell;
      });

      nixosModules.default =
        { pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.marketprism.package =
            lib.mkDefault
              self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      checks = forAllSystems (
        pkgs:
        (build pkgs).checks
        // lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
          vm = import ./nix/vm-test.nix {
            inherit pkgs;
            module = self.nixosModules.default;
          };
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);
    };
}
