{
  description = "A personal clawdbot assistant on a laptop (Home Manager)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    clawdbot = {
      url = "github:clawdbot/clawdbot-rs";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      nixpkgs,
      home-manager,
      clawdbot,
      ...
    }:
    {
      # Replace "me", its home and the system with yours (on a Mac: aarch64-darwin and
      # /Users/me), create the secret files named in clawdbot.nix, then:
      #   home-manager switch --flake .#me
      # The gateway starts on switch and at login (Linux: systemd --user; macOS: launchd).
      # On a headless Linux host, also run `loginctl enable-linger $USER` once.
      homeConfigurations.me = home-manager.lib.homeManagerConfiguration {
        pkgs = nixpkgs.legacyPackages.x86_64-linux;
        modules = [
          clawdbot.homeManagerModules.default
          ./clawdbot.nix
          {
            home.username = "me";
            home.homeDirectory = "/home/me";
            home.stateVersion = "26.05";
          }
        ];
      };
    };
}
