# Evaluates our NixOS module with the real module system (nixpkgs.lib) and the stand-ins.
{ lib }:
let
  pkgs = import ./pkgs.nix { inherit lib; };
  eval =
    modules:
    lib.evalModules {
      modules = [
        ./nixos-options.nix
        ../../../modules/nixos.nix
        { _module.args.pkgs = pkgs; }
      ]
      ++ modules;
    };
  # Like system.build.toplevel: failed assertions abort with their messages.
  checked =
    modules:
    let
      inherit (eval modules) config;
      failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
    in
    if failed == [ ] then
      config
    else
      throw "Failed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}";
in
{
  inherit pkgs eval checked;
}
