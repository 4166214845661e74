# Evaluates configurations with Home Manager's real module set (a checkout of
# nix-community/home-manager), nixpkgs.lib and the pkgs stand-in, for one platform.
# HM's own entry point is used, so failed assertions abort with "Failed assertions:" and
# warnings are traced, as in `home-manager switch`.
{
  lib,
  homeManager,
  system,
  gatewayBin ? null,
}:
let
  pkgs = import ./pkgs.nix {
    inherit lib gatewayBin;
    hostSystem = system;
  };
  home = if pkgs.stdenv.hostPlatform.isDarwin then "/Users/alice" else "/home/alice";
  # A configuration as `home-manager.lib.homeManagerConfiguration` would evaluate it.
  evalConfiguration =
    modules:
    import "${homeManager}/modules" {
      inherit pkgs lib;
      # `minimal = true` is broken in this HM (its autojump module then sets the
      # undeclared programs.fish): all of its modules are loaded.
      minimal = false;
      configuration = {
        imports = modules;
        # HM's misc/nixpkgs.nix would import pkgs.path as a nixpkgs; use the stand-in.
        _module.args.pkgs = lib.mkForce pkgs;
      };
    };
  # The same for user alice.
  eval =
    modules:
    evalConfiguration (
      modules
      ++ [
        {
          home.username = "alice";
          home.homeDirectory = home;
          home.stateVersion = "25.11";
        }
      ]
    );
in
{
  inherit
    pkgs
    home
    eval
    evalConfiguration
    ;
}
