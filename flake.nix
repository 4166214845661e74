{
  description = "clawdbot: a Nix-first Rust gateway for the Clawdbot personal AI assistant";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    crane.url = "github:ipetkov/crane";
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
      ...
    }@inputs:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "aarch64-darwin"
        "x86_64-darwin"
      ];
      # Per-system attribute names come from builtins only: `nix eval .#X` looks under
      # packages.<system> first, and nothing there may force a nixpkgs fetch.
      forAllSystems =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );
      pkgsFor = system: nixpkgs.legacyPackages.${system};
      craneFor = system: crane.mkLib (pkgsFor system);
      gatewayFor = system: (pkgsFor system).callPackage ./nix/package.nix { craneLib = craneFor system; };
      # The modules default `package` to this flake's build for the host's system.
      withPackage =
        file:
        { lib, pkgs, ... }:
        {
          imports = [ file ];
          services.clawdbot.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.gateway;
        };
    in
    {
      packages = forAllSystems (
        system:
        {
          gateway = gatewayFor system;
          default = self.packages.${system}.gateway;
        }
        # An OCI image for Linux systems (the attribute set's names use builtins only).
        // (
          if builtins.match ".*-linux" system != null then
            {
              dockerImage = (pkgsFor system).callPackage ./nix/docker.nix {
                gateway = self.packages.${system}.gateway;
              };
            }
          else
            { }
        )
      );

      apps = forAllSystems (system: rec {
        gateway = {
          type = "app";
          program = "${import ./nix/app.nix {
            inherit (pkgsFor system) writeShellScript;
            inherit (self.packages.${system}) gateway;
          }}";
          meta.description = "Run the clawdbot gateway (`nix run .#gateway -- --port 3000`)";
        };
        default = gateway;
      });

      checks = forAllSystems (
        system:
        import ./nix/checks.nix {
          pkgs = pkgsFor system;
          craneLib = craneFor system;
          gateway = gatewayFor system;
        }
        // import ./nix/module-checks.nix {
          pkgs = pkgsFor system;
          inherit nixpkgs;
          home-manager = inputs.home-manager;
          nixosModule = self.nixosModules.default;
          homeManagerModule = self.homeManagerModules.default;
          isDarwin = builtins.match ".*-darwin" system != null;
        }
        # The NixOS VM test (needs KVM): boot, health, reload, restart, rollback.
        // (
          if system == "x86_64-linux" then
            {
              vm = import ./nix/vm-test.nix {
                pkgs = pkgsFor system;
                nixosModule = self.nixosModules.default;
              };
            }
          else
            { }
        )
      );

      devShells = forAllSystems (system: {
        default = (craneFor system).devShell {
          checks = self.checks.${system};
          packages = [
            (pkgsFor system).nixfmt
            (pkgsFor system).deadnix
          ];
        };
      });

      formatter = forAllSystems (system: (pkgsFor system).nixfmt);

      overlays.default = final: _prev: {
        clawdbot = final.callPackage ./nix/package.nix { craneLib = crane.mkLib final; };
      };

      nixosModules = rec {
        clawdbot = withPackage ./modules/nixos.nix;
        default = clawdbot;
      };

      homeManagerModules = rec {
        clawdbot = withPackage ./modules/home-manager.nix;
        default = clawdbot;
      };

      # nix-darwin users get the gateway through Home Manager's launchd agent.
      darwinModules = rec {
        clawdbot = {
          home-manager.sharedModules = [ self.homeManagerModules.clawdbot ];
        };
        default = clawdbot;
      };

      templates = rec {
        default = {
          path = ./templates/default;
          description = "A personal assistant on a laptop: Home Manager, secrets as files";
        };
        nixos = {
          path = ./templates/nixos;
          description = "A hardened clawdbot gateway on a NixOS server";
        };
        home-manager = default;
      };

      # Builtins-only helpers the modules use (rendering, environment, secrets).
      lib = import ./nix/lib.nix;
    };
}
