# A pkgs stand-in for module evaluation without nixpkgs: the attributes our modules (and,
# for the Home Manager tests, Home Manager's own modules) use. Every derivation here has
# /bin/bash as builder and the host's tools on PATH, so nix-build realises it offline
# (Debian's Nix runs without a sandbox). With `gatewayBin` (a built `clawdbot`), the
# package is that real binary, so the modules' build-time `check-config` really runs.
{
  lib,
  gatewayBin ? null,
  # The platform the modules are evaluated for (stdenv.hostPlatform); builds always run
  # on this machine.
  hostSystem ? null,
  # Stands in for the nixpkgs tree (pkgs.path): Home Manager imports a few files by path.
  path ? ./nixpkgs-stub,
}:
let
  system = builtins.currentSystem or "x86_64-linux";
  hostPlatform = lib.systems.elaborate (if hostSystem == null then system else hostSystem);
  bash =
    name: script: extra:
    derivation (
      {
        inherit name system;
        builder = "/bin/bash";
        args = [
          "-c"
          # Nix without a sandbox treats EOF on the builder's output as the end of the
          # build and kills the process group (NixOS/nix#2176): a short-lived child that
          # keeps the output open lets the builder exit first.
          "${script}\nsleep 0.2 &"
        ];
        PATH = "/usr/bin:/bin";
      }
      // extra
    );
  writeTextFile =
    {
      name,
      text,
      executable ? false,
      destination ? "",
      meta ? { },
      ...
    }:
    bash name
      ''
        set -eu
        mkdir -p "$(dirname "$out$destination")"
        cat "$textPath" > "$out$destination"
        if [ -n "$executable" ]; then chmod +x "$out$destination"; fi
      ''
      {
        inherit text destination;
        executable = if executable then "1" else "";
        passAsFile = [ "text" ];
      }
    // {
      inherit text meta;
    };
  writeText = name: text: writeTextFile { inherit name text; };
  writeScript =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
    };
  writeScriptBin =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
      destination = "/bin/${name}";
      meta.mainProgram = name;
    };
  shebang = "#!/bin/bash\n";
  runCommand =
    name: env: script:
    # nixpkgs runs build scripts with `set -eu -o pipefail`; so must the stand-in.
    bash name ''
      set -euo pipefail
      export PATH=${lib.concatMapStrings (p: "${p}/bin:") (env.nativeBuildInputs or [ ])}/usr/bin:/bin
      ${script}
    '' (builtins.removeAttrs env [ "nativeBuildInputs" ]);
  # A package whose bin/ links host programs (`tools`), or holds a script printing its name.
  hostTools =
    pname: tools:
    bash pname (
      "mkdir -p $out/bin\n" + lib.concatMapStrings (t: "ln -s \"$(type -P ${t})\" $out/bin/${t}\n") tools
    ) { }
    // {
      inherit pname;
      version = "0";
      meta.mainProgram = pname;
    };
  # nixpkgs' formats.json value type, declared the same way. Home Manager declares options
  # with many formats' types, so every format gets it (exact for json, which we use).
  jsonValue =
    let
      t = lib.types;
      v =
        t.nullOr (
          t.oneOf [
            t.bool
            t.int
            t.float
            t.str
            t.path
            (t.attrsOf v)
            (t.listOf v)
          ]
        )
        // {
          description = "JSON value";
        };
    in
    v;
  format = _: {
    type = jsonValue;
    generate = name: value: writeText name (builtins.toJSON value);
    lib.types.atom = jsonValue;
  };
in
{
  inherit
    lib
    path
    writeTextFile
    writeText
    writeScript
    writeScriptBin
    runCommand
    ;
  inherit (hostPlatform) system;
  runCommandLocal = runCommand;
  writeShellScript = name: text: writeScript name (shebang + text);
  writeShellScriptBin = name: text: writeScriptBin name (shebang + text);
  stdenv = {
    inherit hostPlatform;
    buildPlatform = hostPlatform;
    targetPlatform = hostPlatform;
    inherit (hostPlatform) isLinux isDarwin;
  };
  formats = lib.genAttrs [
    "json"
    "yaml"
    "yaml_1_1"
    "yaml_1_2"
    "toml"
    "ini"
    "iniWithGlobalSection"
    "keyValue"
    "xml"
    "javaProperties"
    "lua"
    "nixConf"
    "elixirConf"
    "hocon"
    "php"
    "pythonVars"
    "plist"
    "libconfig"
    "cdn"
    "systemd"
  ] (_: format);
  coreutils = hostTools "coreutils" [
    "kill"
    "install"
    "rm"
    "mkdir"
    "cat"
    "ln"
    "readlink"
  ];
  diffutils = hostTools "diffutils" [ "cmp" ];
  # Referenced by Home Manager's core modules (activation, i18n, sd-switch); only built if
  # a test builds those scripts.
  bash = hostTools "bash" [ "bash" ];
  systemd = hostTools "systemd" [ ];
  sd-switch = hostTools "sd-switch" [ ];
  man = hostTools "man" [ ];
  shared-mime-info = hostTools "shared-mime-info" [ ];
  glibcLocales = hostTools "glibc-locales" [ ] // {
    version = "2.40";
  };
  emptyDirectory = bash "empty-directory" "mkdir -p $out" { };
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
