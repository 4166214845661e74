# `nix flake check`: the package, lints, tests, docs, and every example config through
# the gateway's own validator.
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
  config-check = pkgs.runCommand "clawdbot-config-check" { nativeBuildInputs = [ gateway ]; } ''
    for f in ${examples}/examples/*.json*; do
      clawdbot check-config --no-secrets "$f"
    done
    touch $out
  '';
}
