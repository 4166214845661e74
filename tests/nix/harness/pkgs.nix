# A pkgs stand-in for module evaluation without nixpkgs: the few attributes our modules
# use. Derivations use /bin/bash as builder, so they even build offline.
{ lib }:
let
  system = builtins.currentSystem or "x86_64-linux";
  bash =
    name: script: extra:
    derivation (
      {
        inherit name system;
        builder = "/bin/bash";
        args = [
          "-c"
          script
        ];
        PATH = "/usr/bin:/bin";
      }
      // extra
    );
  writeText = name: text: bash name ''printf %s "$text" > $out'' { inherit text; };
  # nixpkgs' formats.json value type, declared the same way.
  jsonValue =
    with lib.types;
    let
      v =
        nullOr (oneOf [
          bool
          int
          float
          str
          path
          (attrsOf v)
          (listOf v)
        ])
        // {
          description = "JSON value";
        };
    in
    v;
in
{
  inherit writeText;
  stdenv.hostPlatform = lib.systems.elaborate system;
  formats.json = _: {
    type = jsonValue;
    generate = name: value: writeText name (builtins.toJSON value);
  };
  runCommand =
    name: env: script:
    bash name script (builtins.removeAttrs env [ "nativeBuildInputs" ]);
  coreutils = bash "coreutils" "mkdir -p $out/bin" { };
  clawdbot = bash "clawdbot-0.1.0" "mkdir -p $out/bin" { } // {
    pname = "clawdbot";
    meta.mainProgram = "clawdbot";
  };
}
