# A `clawdbot` command bound to one gateway: it runs the package's CLI with that gateway's
# config path and state dir (and Nix mode), so `status`, `devices`, `logs` … talk to it.
{ pkgs, lib }:
{
  name,
  package,
  environment,
}:
pkgs.writeShellScriptBin name ''
  ${
    lib.concatStrings (lib.mapAttrsToList (k: v: "export ${k}=${lib.escapeShellArg v}\n") environment)
  }exec ${lib.getExe package} "$@"
''
