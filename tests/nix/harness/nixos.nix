# Evaluates our NixOS module with the real module system (nixpkgs.lib) and the stand-ins.
{
  lib,
  gatewayBin ? null,
}:
let
  pkgs = import ./pkgs.nix { inherit lib gatewayBin; };
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
  # Renders a systemd.services value as a unit file (lists as repeated keys, as NixOS
  # does), so systemd-analyze can check it.
  render =
    s:
    let
      value = v: if builtins.isBool v then lib.boolToString v else toString v;
      lines = k: v: if builtins.isList v then map (x: "${k}=${value x}") v else [ "${k}=${value v}" ];
      keys = attrs: lib.concatStringsSep "\n" (lib.flatten (lib.mapAttrsToList lines attrs));
    in
    ''
      [Unit]
      Description=${s.description}
      ${keys {
        After = s.after;
        Wants = s.wants;
      }}

      [Service]
      ${lib.concatStringsSep "\n" (lib.mapAttrsToList (k: v: "Environment=\"${k}=${v}\"") s.environment)}
      ${keys s.serviceConfig}

      [Install]
      ${keys { WantedBy = s.wantedBy; }}
    '';
in
{
  inherit
    pkgs
    eval
    checked
    render
    ;
}
