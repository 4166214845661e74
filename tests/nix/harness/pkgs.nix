# A pkgs stand-in for module evaluation without nixpkgs: the few attributes our modules
# use. Derivations use /bin/bash as builder, so they even build offline. With
# `gatewayBin` (a built `clawdbot`), the package is that real binary, so the module's
# build-time `check-config` really runs.
{
  lib,
  gatewayBin ? null,
}:
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
    # nixpkgs runs build scripts with `set -eu -o pipefail`; so must the stand-in.
    bash name ''
      set -euo pipefail
      export PATH=${lib.concatMapStrings (p: "${p}/bin:") (env.nativeBuildInputs or [ ])}/usr/bin:/bin
      ${script}
    '' (builtins.removeAttrs env [ "nativeBuildInputs" ]);
  coreutils = bash "coreutils" "mkdir -p $out/bin && ln -s /bin/kill $out/bin/kill" { };
  clawdbot =
    bash "clawdbot-0.1.0" (
      if gatewayBin == null then
        "mkdir -p $out/bin && printf '#!/bin/sh\\n' > $out/bin/clawdbot && chmod +x $out/bin/clawdbot"
      else
        "mkdir -p $out/bin && cp ${gatewayBin} $out/bin/clawdbot"
    ) { }
    // {
      pname = "clawdbot";
      meta.mainProgram = "clawdbot";
    };
}
