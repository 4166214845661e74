{
  description = "A server running the clawdbot gateway (NixOS)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    clawdbot = {
      url = "github:clawdbot/clawdbot-rs";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { nixpkgs, clawdbot, ... }:
    {
      # nixos-rebuild switch --flake .#server
      nixosConfigurations.server = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          clawdbot.nixosModules.default
          ./hardware-configuration.nix
          ./clawdbot.nix
        ];
      };
    };
}
