# The gateway, built with crane: dependencies once (buildDepsOnly), then the crate.
# The release profile in Cargo.toml (fat LTO, one codegen unit, stripped) applies.
{
  lib,
  craneLib,
}:
let
  src = import ./source.nix { inherit lib craneLib; };
  crate = craneLib.crateNameFromCargoToml { cargoToml = ../Cargo.toml; };
  commonArgs = {
    inherit src;
    inherit (crate) pname version;
    strictDeps = true;
    # Integration tests start real processes on loopback; they run as the nextest check.
    doCheck = false;
  };
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;
in
craneLib.buildPackage (
  commonArgs
  // {
    inherit cargoArtifacts;
    passthru = {
      inherit cargoArtifacts commonArgs src;
    };
    meta = {
      description = "Nix-first Rust gateway for the Clawdbot personal AI assistant (protocol v3)";
      homepage = "https://github.com/clawdbot/clawdbot";
      license = lib.licenses.mit;
      mainProgram = "clawdbot";
      platforms = lib.platforms.linux ++ lib.platforms.darwin;
    };
  }
)
