# `nix flake check` evaluations of both modules with the real nixpkgs and Home Manager
# (tests/nix/ evaluates them offline with nixpkgs.lib and a pkgs stand-in; these run
# where the flake's inputs can be fetched). Each check is a derivation that exists only
# if the evaluated configuration has the expected shape: a wrong value fails evaluation
# with the name of the check.
{
  pkgs,
  nixpkgs,
  home-manager,
  nixosModule,
  homeManagerModule,
  # From the system string, so the attribute names need no nixpkgs evaluation.
  isDarwin,
}:
let
  inherit (pkgs) lib;
  expect =
    name: cond:
    if cond then
      pkgs.runCommand "clawdbot-${name}" { } "touch $out"
    else
      throw "clawdbot module check ${name} failed";

  nixos =
    (nixpkgs.lib.nixosSystem {
      inherit (pkgs.stdenv.hostPlatform) system;
      modules = [
        nixosModule
        {
          boot.loader.grub.enable = false;
          fileSystems."/".device = "/dev/null";
          system.stateVersion = "25.05";
          services.clawdbot = {
            enable = true;
            secrets.gateway-token = "/run/keys/clawdbot-token";
            instances.family.settings.gateway.port = 18790;
          };
        }
      ];
    }).config;
  unit = nixos.systemd.services.clawdbot-gateway;

  hm =
    (home-manager.lib.homeManagerConfiguration {
      inherit pkgs;
      modules = [
        homeManagerModule
        {
          home = {
            username = "ada";
            homeDirectory = if isDarwin then "/Users/ada" else "/home/ada";
            stateVersion = "25.05";
          };
          services.clawdbot = {
            enable = true;
            secrets.anthropic-api-key = "/home/ada/.secrets/anthropic";
          };
        }
      ];
    }).config;
in
if !isDarwin then
  {
    module-nixos = expect "module-nixos" (
      unit.serviceConfig.Type == "notify"
      && unit.environment.CLAWDBOT_NIX_MODE == "1"
      && lib.elem "gateway-token:/run/keys/clawdbot-token" unit.serviceConfig.LoadCredential
      && nixos.systemd.services ? clawdbot-gateway-family
    );
    module-home-manager = expect "module-home-manager" (
      let
        s = hm.systemd.user.services.clawdbot-gateway;
      in
      s.Service.Type == "notify"
      && s.Install.WantedBy == [ "default.target" ]
      && lib.any (lib.hasPrefix "ANTHROPIC_API_KEY_FILE=") s.Service.Environment
    );
  }
else
  {
    module-home-manager = expect "module-home-manager" (
      let
        a = hm.launchd.agents.clawdbot-gateway;
      in
      a.enable && a.config.RunAtLoad && a.config.KeepAlive
    );
  }
