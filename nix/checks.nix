# `nix flake check`: the package, lints (Rust and Nix), tests, docs, and every example
# config through the gateway's own validator. (The module evaluation tests run in
# tests/nix/run.sh: their stand-in derivations build with /bin/bash, outside a sandbox.)
{
  pkgs,
  craneLib,
  gateway,
}:
let
  inherit (gateway.passthru) commonArgs cargoArtifacts;
  examples = pkgs.lib.fileset.toSource {
    root = ../.;
    fileset = ../examples;
  };
  nixFiles = pkgs.lib.fileset.toSource {
    root = ../.;
    fileset = pkgs.lib.fileset.fileFilter (f: f.hasExt "nix") ../.;
  };
in
{
  package = gateway;
  clippy = craneLib.cargoClippy (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoClippyExtraArgs = "--all-targets -- -D warnings";
    }
  );
  fmt = craneLib.cargoFmt { inherit (commonArgs) src pname version; };
  nextest = craneLib.cargoNextest (
    commonArgs
    // {
      inherit cargoArtifacts;
      doCheck = true;
    }
  );
  doc = craneLib.cargoDoc (commonArgs // { inherit cargoArtifacts; });
  # The same formatter and dead-code lint tests/nix/run.sh runs (tier A).
  nix-fmt =
    pkgs.runCommand "clawdbot-nix-fmt"
      {
        nativeBuildInputs = [
          pkgs.nixfmt
          pkgs.deadnix
        ];
      }
      ''
        cd ${nixFiles}
        find . -name '*.nix' -print0 | xargs -0 nixfmt --check
        find . -name '*.nix' -print0 | xargs -0 deadnix --fail
        touch $out
      '';
  config-check = pkgs.runCommand "clawdbot-config-check" { nativeBuildInputs = [ gateway ]; } ''
    for f in ${examples}/examples/*.json*; do
      clawdbot check-config --no-secrets "$f"
    done
    touch $out
  '';
}
